"""Membership use cases: creators' tiers; joining with one click, cancelling, changing tier; renewals.

Every change of one viewer's membership of one creator (join, cancel, change of tier, renewal, end)
runs in one transaction that first takes the lock on that (viewer, creator) and only then reads
(`MembershipRepository.lock`): a join and a cancel at once, or two renewal runs (a cron run twice, two
workers), are decided one after the other, the second seeing what the first committed. Each charge
is also a ledger transfer under a key that names it — the click's key for a join or an upgrade,
(membership, period) for a renewal — so even a repeated decision moves points once.

Charges: viewer wallet → creator earnings (the price), creator earnings → the creator's platform
revenue shard (the fee, `features.unlocks.model.split`), with "membership_changed" on the creator's
topic (their dashboard tile) and "wallet_changed" on the viewer's (the balance pill) in the same
transaction. Mail (features/notifications) follows "membership" events on the viewer's topic.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from core.clock import Clock
from core.events import EventBus
from core.ids import uuid7
from core.uow import UnitOfWork
from features.accounts.service import AccountService
from features.ledger.model import (
    WALLET_CHANGED_EVENT,
    AccountRef,
    IdempotencyConflict,
    InsufficientPoints,
    Leg,
    Transfer,
    wallet_topic,
)
from features.ledger.service import LedgerService
from features.memberships.model import (
    MAX_TIERS,
    AlreadyMember,
    Charge,
    ChargeKind,
    Due,
    InvalidTier,
    KeyReused,
    Membership,
    MembershipPriceChanged,
    MembershipState,
    MonthFigures,
    NotAMember,
    OwnTier,
    SameTier,
    Tier,
    TierClosed,
    TierNotFound,
    VideoNotVisible,
    add_month,
    check_key,
    check_tier,
    closure_key,
    due_action,
    prorata_upgrade,
    renewal_key,
    shows_price,
    unused_refund,
)
from features.memberships.ports import JoinDiscount, MembershipRepository, TierRepository
from features.studio.model import Video, VideoState
from features.studio.service import StudioService
from features.unlocks.model import Discount, split

MEMBERSHIP_EVENT = "membership"  # to the viewer's topic: mail (states RENEWS_SOON, LAPSED, ENDED)
MEMBERS_CHANGED_EVENT = "membership_changed"  # to the creator's topic: their dashboard tile
MAX_VIDEOS_LISTED = 200


@dataclass(frozen=True)
class MembershipPolicy:
    fee_percent: int = 10
    grace: timedelta = timedelta(days=3)
    reminder: timedelta = timedelta(days=3)


def user_topic(user_id: UUID) -> str:
    return f"user:{user_id}"


@dataclass(frozen=True)
class TierStudio:
    """The creator's tiers page: every tier (retired ones too) and the videos a tier may include."""

    tiers: list[Tier]
    videos: list[Video]

    @property
    def on_sale(self) -> list[Tier]:
        return [t for t in self.tiers if t.on_sale]

    @property
    def can_add(self) -> bool:
        return len(self.on_sale) < MAX_TIERS


@dataclass(frozen=True)
class Offer:
    """The membership panel of a creator's page or of a video, for one viewer."""

    creator_id: UUID
    tiers: list[Tier]  # on sale (for a video: those including it)
    membership: Membership | None
    current_tier: Tier | None
    viewer_id: UUID | None
    balance: int | None
    now: datetime
    fee_percent: int

    @property
    def is_owner(self) -> bool:
        return self.viewer_id is not None and self.viewer_id == self.creator_id

    def upgrade_price(self, tier: Tier) -> int | None:
        """What switching to `tier` costs now (None: not an upgrade, it applies at renewal)."""
        m = self.membership
        if m is None or tier.price <= m.price:
            return None
        return prorata_upgrade(m.price, tier.price, m.period_start, m.period_end, self.now)

    def short_of(self, price: int) -> int | None:
        if self.balance is None or self.balance >= price:
            return None
        return price - self.balance


@dataclass(frozen=True)
class MemberOf:
    """One of a viewer's memberships, for their account page."""

    membership: Membership
    creator_name: str
    tier_name: str


@dataclass(frozen=True)
class JoinResult:
    membership: Membership
    replayed: bool


class MembershipService:
    def __init__(
        self,
        tiers: TierRepository,
        memberships: MembershipRepository,
        studio: StudioService,
        accounts: AccountService,
        ledger: LedgerService,
        bus: EventBus,
        uow: UnitOfWork,
        clock: Clock,
        policy: MembershipPolicy,
    ) -> None:
        self.tiers = tiers
        self.memberships = memberships
        self.studio = studio
        self.accounts = accounts
        self.ledger = ledger
        self.bus = bus
        self.uow = uow
        self.clock = clock
        self.policy = policy

    # -- creators: tiers ------------------------------------------------------------------------------

    async def studio_page(self, creator_id: UUID) -> TierStudio:
        tiers = await self.tiers.tiers_of(creator_id, include_retired=True)
        videos = await self.studio.list_for_owner(creator_id, limit=MAX_VIDEOS_LISTED)
        return TierStudio(tiers, videos)

    async def _own_tier(self, creator_id: UUID, tier_id: UUID) -> Tier:
        tier = await self.tiers.get(tier_id)
        if tier is None or tier.creator_id != creator_id:
            raise TierNotFound()
        return tier

    async def create_tier(
        self, creator_id: UUID, *, name: str, price: str, all_videos: bool, video_ids: list[str]
    ) -> Tier:
        """A new tier on sale. Raises InvalidTier (a message per field; "form" when MAX_TIERS are on sale)."""
        own = [v.id for v in await self.studio.list_for_owner(creator_id, limit=MAX_VIDEOS_LISTED)]
        draft = check_tier(name=name, price=price, all_videos=all_videos, video_ids=video_ids, own_video_ids=own)
        now = self.clock.now()
        async with self.uow.atomic():
            await self.tiers.lock_creator(creator_id)
            if len(await self.tiers.tiers_of(creator_id)) >= MAX_TIERS:
                raise InvalidTier({"form": f"You can offer at most {MAX_TIERS} tiers. Retire one to add another."})
            tier = Tier(uuid7(), creator_id, draft.name, draft.price, draft.all_videos, draft.video_ids, None, now, now)
            await self.tiers.save(tier)
        return tier

    async def update_tier(
        self, creator_id: UUID, tier_id: UUID, *, name: str, price: str, all_videos: bool, video_ids: list[str]
    ) -> Tier:
        """Change a tier: a new price applies to new members (members keep theirs). Raises TierNotFound, InvalidTier."""
        tier = await self._own_tier(creator_id, tier_id)
        if not tier.on_sale:
            raise TierClosed("A retired tier cannot be changed.")
        own = [v.id for v in await self.studio.list_for_owner(creator_id, limit=MAX_VIDEOS_LISTED)]
        draft = check_tier(name=name, price=price, all_videos=all_videos, video_ids=video_ids, own_video_ids=own)
        changed = replace(
            tier,
            name=draft.name,
            price=draft.price,
            all_videos=draft.all_videos,
            video_ids=draft.video_ids,
            updated_at=self.clock.now(),
        )
        await self.tiers.save(changed)
        return changed

    async def retire_tier(self, creator_id: UUID, tier_id: UUID) -> Tier:
        """Close the tier to new members; its members keep it (and keep renewing)."""
        tier = await self._own_tier(creator_id, tier_id)
        if not tier.on_sale:
            return tier
        retired = replace(tier, retired_at=self.clock.now(), updated_at=self.clock.now())
        await self.tiers.save(retired)
        return retired

    # -- viewers: reading -----------------------------------------------------------------------------

    async def covers(self, viewer_id: UUID, creator_id: UUID, video_id: UUID) -> bool:
        """Whether the viewer's running membership of the creator includes the video (unlocks' MembershipAccess)."""
        return await self.memberships.covering(viewer_id, creator_id, video_id, self.clock.now())

    async def offer(self, viewer_id: UUID | None, creator_id: UUID, video_id: UUID | None = None) -> Offer:
        """The creator's tiers on sale (for a video: those that include it), with the viewer's membership."""
        tiers = await self.tiers.tiers_of(creator_id)
        if video_id is not None:
            tiers = [t for t in tiers if t.includes(video_id)]
        membership = current = None
        balance = None
        if viewer_id is not None and viewer_id != creator_id:
            membership = await self.memberships.live(viewer_id, creator_id)
            if membership is not None:
                current = await self.tiers.get(membership.tier_id)
            balance = await self.ledger.balance(AccountRef.wallet(viewer_id))
        return Offer(
            creator_id, tiers, membership, current, viewer_id, balance, self.clock.now(), self.policy.fee_percent
        )

    async def video_offer(self, viewer_id: UUID | None, public_id: str) -> Offer:
        """The membership panel of a video: the tiers that include it. Raises VideoNotVisible for a video
        that is not published (or is hidden) to anyone but its owner, who is shown nothing to join."""
        video = await self.studio.video_by_public_id(public_id)
        if video is None:
            raise VideoNotVisible()
        visible = video.state is VideoState.PUBLISHED and not video.hidden
        if not visible and viewer_id != video.owner_id:
            raise VideoNotVisible()
        return await self.offer(viewer_id, video.owner_id, video.id)

    async def tier(self, tier_id: UUID) -> Tier | None:
        return await self.tiers.get(tier_id)

    async def memberships_of(self, viewer_id: UUID) -> list[MemberOf]:
        """The viewer's memberships that have not ended, with their creators' names and tiers."""
        live = [m for m in await self.memberships.of_viewer(viewer_id) if m.state is not MembershipState.ENDED]
        names = await self.accounts.users_by_id([m.creator_id for m in live])
        found = []
        for m in live:
            tier = await self.tiers.get(m.tier_id)
            creator = names.get(m.creator_id)
            found.append(MemberOf(m, creator.display_name if creator else "A creator", tier.name if tier else ""))
        return found

    # -- viewers: joining, cancelling, changing tier -----------------------------------------------------

    async def creators_joined_by(self, viewer_id: UUID) -> set[UUID]:
        """The creators the viewer is or was a paying member of (preferences: picks)."""
        return {m.creator_id for m in await self.memberships.of_viewer(viewer_id)}

    async def _sellable(self, viewer_id: UUID, tier_id: UUID) -> Tier:
        tier = await self.tiers.get(tier_id)
        if tier is None:
            raise TierNotFound()
        if tier.creator_id == viewer_id:
            raise OwnTier()
        if not tier.on_sale:
            raise TierClosed()
        if not await self._creator_open(tier.creator_id):
            raise TierClosed("This creator is not taking members. Nothing was charged.")
        return tier

    async def _creator_open(self, creator_id: UUID) -> bool:
        """Whether the creator's account can take members' money: it exists, is not erased or suspended."""
        creator = await self.accounts.get_user(creator_id)
        return creator is not None and not creator.erased and not creator.suspended

    async def join(
        self,
        viewer_id: UUID,
        tier_id: UUID,
        key: str,
        shown_price: str | int,
        *,
        discount: JoinDiscount | None = None,
    ) -> JoinResult:
        """Join `tier` for a month at `shown_price` (the price the button showed), once per click `key`.

        `discount` (a promo code for the tier's first month: features/offers) lowers the first charge,
        decided under the membership's lock; the membership keeps the tier's price, so renewals charge it
        in full. The charge's ledger metadata then records the list price, the discount and the code.

        Raises InvalidKey, TierNotFound, OwnTier, TierClosed (retired), MembershipPriceChanged, AlreadyMember
        (a membership of this creator runs: change tier instead), KeyReused, InsufficientPoints and what the
        discount refuses with. Nothing is charged when it raises.
        """
        key = check_key(key)
        async with self.uow.atomic():
            tier = await self.tiers.get(tier_id)
            if tier is None:
                raise TierNotFound()
            # Before the membership's lock (the order every join and an account closing take them in):
            # a creator closing their account waits for this join to commit and then refunds it, or
            # comes first and the join finds the creator gone.
            await self.tiers.lock_creator_shared(tier.creator_id)
            await self.memberships.lock(viewer_id, tier.creator_id)
            prior = await self.memberships.by_key(viewer_id, key)
            if prior is not None:
                paid = [c.points for c in await self.memberships.charges_of(prior.id) if c.kind is ChargeKind.JOIN]
                if prior.creator_id != tier.creator_id or not any(shows_price(shown_price, p) for p in paid):
                    raise KeyReused()
                return JoinResult(prior, True)
            tier = await self._sellable(viewer_id, tier_id)
            if await self.memberships.live(viewer_id, tier.creator_id) is not None:
                raise AlreadyMember()
            applied: Discount | None = None
            if discount is not None:
                applied = await discount.reserve(viewer_id, tier)
                if not 0 <= applied.points < tier.price:
                    raise ValueError("a discount leaves at least one point to pay")
            price = tier.price - applied.points if applied else tier.price
            if not shows_price(shown_price, price):
                raise MembershipPriceChanged(price)
            now = self.clock.now()
            membership = Membership(
                id=uuid7(),
                viewer_id=viewer_id,
                creator_id=tier.creator_id,
                tier_id=tier.id,
                price=tier.price,
                state=MembershipState.ACTIVE,
                anchor_day=now.day,
                period_start=now,
                period_end=add_month(now, now.day),
                join_key=key,
                joined_at=now,
                updated_at=now,
            )
            extra = (
                {**applied.metadata, "list_price": str(tier.price), "discount": str(applied.points)} if applied else {}
            )
            # The charge first: when it is refused (too few points) nothing at all was written.
            try:
                charge = await self._charge(
                    membership, tier, ChargeKind.JOIN, price, f"membership-join:{viewer_id}:{key}", now, now, extra
                )
            except IdempotencyConflict as error:  # the key, sent at once to join another creator, committed first
                raise KeyReused() from error
            await self.memberships.add(membership)
            await self.memberships.add_charge(charge)
            if applied is not None and discount is not None:
                await discount.redeemed(membership, charge, applied)
        return JoinResult(membership, False)

    async def cancel(self, viewer_id: UUID, creator_id: UUID) -> Membership:
        """Stop renewing: access lasts to the period's end (a lapsed membership ends now). Idempotent.
        Raises NotAMember."""
        async with self.uow.atomic():
            await self.memberships.lock(viewer_id, creator_id)
            membership = await self.memberships.live(viewer_id, creator_id)
            if membership is None:
                raise NotAMember()
            if membership.state is MembershipState.CANCELLED:
                return membership
            now = self.clock.now()
            if membership.state is MembershipState.LAPSED:
                changed = replace(membership, state=MembershipState.ENDED, ended_at=now, updated_at=now)
            else:
                changed = replace(
                    membership, state=MembershipState.CANCELLED, next_tier_id=None, next_price=None, updated_at=now
                )
            await self.memberships.save(changed)
            await self._tell_creator(changed, "cancelled")
        return changed

    async def change_tier(self, viewer_id: UUID, tier_id: UUID, key: str, shown_price: str | int) -> Membership:
        """Move the viewer's membership of the tier's creator to `tier`.

        Dearer: now, charging `model.prorata_upgrade` (at most `shown_price`, the amount the button showed;
        once per click `key`). Same price or cheaper: at the next renewal, nothing charged now. A cancelled
        membership is renewing again after a change. Raises InvalidKey, TierNotFound, OwnTier, TierClosed,
        NotAMember, SameTier, MembershipPriceChanged, KeyReused (the key, sent at once, paid another upgrade)
        and InsufficientPoints.
        """
        key = check_key(key)
        async with self.uow.atomic():
            tier = await self._sellable(viewer_id, tier_id)
            await self.memberships.lock(viewer_id, tier.creator_id)
            membership = await self.memberships.live(viewer_id, tier.creator_id)
            if membership is None or membership.state is MembershipState.LAPSED:
                raise NotAMember("Only a running membership can change tier: join again once it has ended.")
            upgrade_key = f"membership-upgrade:{viewer_id}:{key}"
            charge: Charge | None = None
            if await self.ledger.transfer_by_key(upgrade_key) is not None:
                return membership  # this click was already charged
            if membership.tier_id == tier.id:
                if membership.next_tier_id is None and membership.state is MembershipState.ACTIVE:
                    raise SameTier()
                changed = replace(membership, state=MembershipState.ACTIVE, next_tier_id=None, next_price=None)
            elif tier.price > membership.price:
                now = self.clock.now()
                cost = prorata_upgrade(
                    membership.price, tier.price, membership.period_start, membership.period_end, now
                )
                if not shows_price(shown_price, cost) and not _at_most(shown_price, cost):
                    raise MembershipPriceChanged(cost)
                changed = replace(
                    membership,
                    tier_id=tier.id,
                    price=tier.price,
                    state=MembershipState.ACTIVE,
                    next_tier_id=None,
                    next_price=None,
                )
                if cost > 0:
                    try:
                        charge = await self._charge(
                            changed, tier, ChargeKind.UPGRADE, cost, upgrade_key, membership.period_start, now
                        )
                    except IdempotencyConflict as error:  # the key, sent at once for another upgrade, came first
                        raise KeyReused() from error
            else:
                changed = replace(membership, state=MembershipState.ACTIVE, next_tier_id=tier.id, next_price=tier.price)
            changed = replace(changed, updated_at=self.clock.now())
            await self.memberships.save(changed)
            if charge is not None:
                await self.memberships.add_charge(charge)
        return changed

    # -- renewals ------------------------------------------------------------------------------------

    async def run_renewals(self, limit: int = 500) -> dict[str, int]:
        """Remind, renew, lapse and end the memberships due now (the cron job). Safe to run twice at once:
        each membership is decided under its lock, and a renewal's ledger key names its period."""
        now = self.clock.now()
        counts = {d.value: 0 for d in Due}
        counts["lapsed"] = 0
        for found in await self.memberships.due(now, now + self.policy.reminder, limit):
            outcome = await self.settle(found.viewer_id, found.creator_id)
            counts[outcome] = counts.get(outcome, 0) + 1
        return counts

    async def settle(self, viewer_id: UUID, creator_id: UUID) -> str:
        """Do what is due for the viewer's membership of the creator now, under its lock; returns what was done."""
        async with self.uow.atomic():
            await self.memberships.lock(viewer_id, creator_id)
            membership = await self.memberships.live(viewer_id, creator_id)
            if membership is None:
                return Due.NOTHING.value
            now = self.clock.now()
            action = due_action(membership, now, self.policy.reminder)
            if action is Due.REMIND:
                await self.memberships.save(replace(membership, reminded_for=membership.period_end, updated_at=now))
                await self._mail(membership, "RENEWS_SOON")
            elif action is Due.END:
                ended = replace(membership, state=MembershipState.ENDED, ended_at=now, updated_at=now)
                await self.memberships.save(ended)
                await self._mail(ended, "ENDED")
                await self._tell_creator(ended, "ended")
            elif action is Due.RENEW:
                return await self._renew(membership, now)
            return action.value

    async def _renew(self, membership: Membership, now: datetime) -> str:
        if not await self._creator_open(membership.creator_id):
            # A closed or suspended creator's members are not charged again: the membership ends at its
            # period's end (a lapsed one at once).
            ended = replace(membership, state=MembershipState.ENDED, ended_at=now, updated_at=now)
            await self.memberships.save(ended)
            await self._mail(ended, "ENDED")
            return Due.END.value
        tier_id = membership.next_tier_id or membership.tier_id
        price = membership.next_price or membership.price
        tier = await self.tiers.get(tier_id)
        assert tier is not None
        start = membership.period_end
        renewed = replace(
            membership,
            tier_id=tier_id,
            price=price,
            state=MembershipState.ACTIVE,
            period_start=start,
            period_end=add_month(start, membership.anchor_day),
            grace_until=None,
            next_tier_id=None,
            next_price=None,
            updated_at=now,
        )
        try:  # the ledger refuses an overdraft before writing anything: the transaction goes on
            charge = await self._charge(
                renewed, tier, ChargeKind.RENEWAL, price, renewal_key(membership.id, start), start, now
            )
        except InsufficientPoints:
            if membership.state is MembershipState.LAPSED:
                return "still_lapsed"
            lapsed = replace(
                membership,
                state=MembershipState.LAPSED,
                grace_until=membership.period_end + self.policy.grace,
                lapsed_at=now,
                updated_at=now,
            )
            await self.memberships.save(lapsed)
            await self._mail(lapsed, "LAPSED", shortfall=price)
            await self._tell_creator(lapsed, "lapsed")
            return "lapsed"
        await self.memberships.save(renewed)
        await self.memberships.add_charge(charge)
        return Due.RENEW.value

    # -- account closure (the privacy feature calls these inside its erasure transaction) ---------------

    async def close_to_new_members(self, creator_id: UUID) -> None:
        """The creator is closing their account (call first in its unit of work, before any other lock):
        joins being charged now commit first, and the ones after wait for the closure and then find the
        creator gone — so `refund_for_closed_creator` sees every member."""
        async with self.uow.atomic():
            await self.tiers.lock_creator(creator_id)

    async def refund_for_closed_creator(self, creator_id: UUID) -> list[Transfer]:
        """The creator is closing their account: end every membership of theirs at once and give each
        member the unused part of the running period back, pro rata (`model.unused_refund`).

        Each refund reverses the period's charges in proportion (the creator's share from their earnings,
        which may go below zero here — the caller settles them in the same unit of work — and the fee from
        the platform's revenue) and is posted once per membership and period, under the membership's lock;
        a retry finds the memberships ended and refunds nothing again. Returns the refund transfers."""
        refunds: list[Transfer] = []
        async with self.uow.atomic():
            for found in await self.memberships.live_of_creator(creator_id):
                await self.memberships.lock(found.viewer_id, creator_id)
                membership = await self.memberships.live(found.viewer_id, creator_id)
                if membership is None:
                    continue
                now = self.clock.now()
                points, fee, paid = await self._unused(membership, now)
                if points > 0:
                    wallet = AccountRef.wallet(membership.viewer_id)
                    legs = []
                    if points > fee:
                        legs.append(Leg(AccountRef.earnings(creator_id), wallet, points - fee))
                    if fee:
                        legs.append(Leg(AccountRef.platform_revenue_for(creator_id), wallet, fee))
                    metadata = {
                        "membership_id": str(membership.id),
                        "tier_id": str(membership.tier_id),
                        "period_start": membership.period_start.isoformat(),
                        "paid": str(paid),
                        "memo": "Refund of the unused membership days: the creator closed their account",
                    }
                    refunds.append(
                        await self.ledger.transfer(
                            closure_key(membership.id, membership.period_start),
                            "membership_refund",
                            legs,
                            metadata,
                            allow_negative=frozenset({AccountRef.earnings(creator_id)}),
                        )
                    )
                    await self.bus.publish(
                        wallet_topic(membership.viewer_id), WALLET_CHANGED_EVENT, {"kind": "membership_refund"}
                    )
                ended = replace(membership, state=MembershipState.ENDED, ended_at=now, updated_at=now)
                await self.memberships.save(ended)
                await self._mail(ended, "ENDED", creator_name="a creator who closed their account")
        return refunds

    async def closure_preview(self, creator_id: UUID) -> tuple[int, int, int]:
        """What `refund_for_closed_creator` would do now: (memberships refunded, points refunded, the part
        of those taken back from the creator's earnings) — for the deletion page."""
        count = points = share = 0
        now = self.clock.now()
        for membership in await self.memberships.live_of_creator(creator_id):
            refund, fee, _paid = await self._unused(membership, now)
            if refund > 0:
                count, points, share = count + 1, points + refund, share + refund - fee
        return count, points, share

    async def _unused(self, membership: Membership, now: datetime) -> tuple[int, int, int]:
        """(refund, fee part, points paid) for the unused part of the membership's running period."""
        paid = [
            c for c in await self.memberships.charges_of(membership.id) if c.period_start == membership.period_start
        ]
        points = sum(c.points for c in paid)
        refund, fee = unused_refund(
            points, sum(c.fee for c in paid), membership.period_start, membership.period_end, now
        )
        return refund, fee, points

    async def end_for_closed_member(self, viewer_id: UUID) -> int:
        """The member is closing their account: end their memberships at once, nothing refunded (their
        unspent points are forfeited too) and nothing charged again. Returns how many ended."""
        ended = 0
        async with self.uow.atomic():
            for found in await self.memberships.of_viewer(viewer_id):
                if found.state is MembershipState.ENDED:
                    continue
                await self.memberships.lock(viewer_id, found.creator_id)
                membership = await self.memberships.live(viewer_id, found.creator_id)
                if membership is None:
                    continue
                now = self.clock.now()
                await self.memberships.save(
                    replace(membership, state=MembershipState.ENDED, ended_at=now, updated_at=now)
                )
                await self._tell_creator(membership, "ended")
                ended += 1
        return ended

    async def charges_of_viewer(self, viewer_id: UUID) -> list[tuple[Membership, list[Charge]]]:
        """Every membership of the viewer, newest first, with its charges (the privacy export)."""
        return [(m, await self.memberships.charges_of(m.id)) for m in await self.memberships.of_viewer(viewer_id)]

    # -- figures ---------------------------------------------------------------------------------------

    async def figures(self, creator_id: UUID, months: int = 6) -> list[MonthFigures]:
        """The creator's members and recurring revenue per calendar month (UTC), the latest `months`, newest first."""
        now = self.clock.now()
        spans: list[tuple[datetime, datetime]] = []
        start = datetime(now.year, now.month, 1, tzinfo=UTC)
        for _ in range(months):
            spans.append((start, add_month(start, 1)))
            start = (
                datetime(start.year - 1, 12, 1, tzinfo=UTC)
                if start.month == 1
                else start.replace(month=start.month - 1)
            )
        return await self.memberships.month_figures(creator_id, spans, now)

    async def this_month(self, creator_id: UUID) -> MonthFigures:
        """The creator's figures for the current calendar month (the dashboard tile)."""
        return (await self.figures(creator_id, months=1))[0]

    # -- helpers ---------------------------------------------------------------------------------------

    async def _charge(
        self,
        membership: Membership,
        tier: Tier,
        kind: ChargeKind,
        points: int,
        key: str,
        period_start: datetime,
        now: datetime,
        extra: Mapping[str, str] | None = None,
    ) -> Charge:
        sale = split(points, self.policy.fee_percent)
        creator = membership.creator_id
        legs = [Leg(AccountRef.wallet(membership.viewer_id), AccountRef.earnings(creator), points)]
        if sale.fee:
            legs.append(Leg(AccountRef.earnings(creator), AccountRef.platform_revenue_for(creator), sale.fee))
        owner = await self.accounts.get_user(creator)
        memo = f"{tier.name} — {owner.display_name if owner else 'a creator'}"
        metadata = {
            "membership_id": str(membership.id),
            "tier_id": str(tier.id),
            "period_start": period_start.isoformat(),
            "memo": memo,
            **(extra or {}),
        }
        transfer = await self.ledger.transfer(key, f"membership_{kind.value}", legs, metadata)
        charge = Charge(
            uuid7(),
            membership.id,
            membership.viewer_id,
            creator,
            tier.id,
            kind,
            period_start,
            points,
            sale.fee,
            transfer.id,
            key,
            now,
        )
        await self.bus.publish_all(
            [
                (
                    user_topic(creator),
                    MEMBERS_CHANGED_EVENT,
                    {"kind": kind.value, "points": points, "net": sale.net, "tier": tier.name},
                ),
                (wallet_topic(membership.viewer_id), WALLET_CHANGED_EVENT, {"kind": f"membership_{kind.value}"}),
            ]
        )
        return charge

    async def _tell_creator(self, membership: Membership, what: str) -> None:
        await self.bus.publish(user_topic(membership.creator_id), MEMBERS_CHANGED_EVENT, {"kind": what})

    async def _mail(
        self, membership: Membership, state: str, shortfall: int = 0, *, creator_name: str | None = None
    ) -> None:
        tier = await self.tiers.get(membership.tier_id)
        if creator_name is None:
            creator = await self.accounts.get_user(membership.creator_id)
            creator_name = creator.display_name if creator else ""
        data: dict[str, object] = {
            "state": state,
            "tier": tier.name if tier else "",
            "creator": creator_name,
            "creator_id": str(membership.creator_id),
            "points": membership.next_price or membership.price,
            "renews_on": membership.period_end.strftime("%-d %b %Y"),
            "grace_until": membership.grace_until.strftime("%-d %b %Y") if membership.grace_until else "",
        }
        await self.bus.publish(user_topic(membership.viewer_id), MEMBERSHIP_EVENT, data)


def _at_most(shown: str | int, price: int) -> bool:
    """Whether a click's shown amount is a whole number at least `price` (the pro-rata cost only falls as
    time passes, so a button showing more than now is still honoured at the lower, current cost)."""
    try:
        value = int(str(shown).strip())
    except ValueError:
        return False
    return str(value) == str(shown).strip() and value >= price
