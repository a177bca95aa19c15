"""Unlock use cases: price a video, publish it, unlock it with one click, tip its creator.

One click on an offer, in one transaction:
  purchase lock     on (viewer, video), taken before anything is read: parallel clicks from several tabs
                    (distinct keys) are decided one after another, so one rental is charged once
  price check       the click carries the price its button showed; any other current price refuses it
                    (PriceChanged), so nobody is charged more — or anything but — what they saw
  ledger transfer   viewer wallet → creator earnings (the price), creator earnings → platform revenue (the fee)
  purchase record   under the viewer's idempotency key (a retry or a double click finds it and pays nothing)
  entitlement       extended by the offer (lifetime wins, else the later end)
  "sale" event      to the creator's topic, and "wallet_changed" to the viewer's (their balance pill), in
                    one statement, delivered only if all of it commits

Other features read from here: `UnlockService.access` (playback decides what to serve),
`UnlockService.entitlement` and `UnlockService.creators_paid_by` (preferences and picks).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

from core.amounts import parse_shown
from core.clock import Clock
from core.events import EventBus
from core.identity import Principal
from core.ids import uuid7
from core.ratelimit import Allowance, RateLimiter
from core.uow import UnitOfWork
from features.accounts.service import AccountService
from features.ledger.model import (
    MAX_KEY_LENGTH,
    WALLET_CHANGED_EVENT,
    AccountRef,
    IdempotencyConflict,
    InsufficientPoints,
    Leg,
    Transfer,
    wallet_topic,
)
from features.ledger.service import LedgerService
from features.studio.model import Video, VideoState
from features.studio.service import StudioService
from features.unlocks.model import (
    LONGEST_RENTAL,
    MAX_PRICE,
    Access,
    AccessLevel,
    Discount,
    Entitlement,
    KeyReused,
    NotForSale,
    NothingToExtend,
    Offer,
    OfferChoice,
    OwnVideo,
    PriceChanged,
    Pricing,
    PurchasesThrottled,
    RecordedSale,
    RentalRules,
    Tip,
    TipResult,
    TipYourself,
    Unlock,
    UnlockResult,
    VideoRemoved,
    VideoUnavailable,
    check_key,
    check_pricing,
    check_tip,
    decide_access,
    extends,
    fresh_expiry,
    grant_after,
    offer_choices,
    parse_offer,
    period_words,
    rental_running,
    shows_price,
    split,
    time_left_words,
)
from features.unlocks.ports import (
    Click,
    DiscountHook,
    MembershipAccess,
    PricingRepository,
    TipRepository,
    UnlockRepository,
)

SALE_EVENT = "sale"
TIP_EVENT = "tip"
REFUND_EVENT = "refund"  # a take-down's refund of a purchase, to the creator's topic (analytics subtracts it)


@dataclass(frozen=True)
class UnlockPolicy:
    fee_percent: int = 10
    tip_amounts: tuple[int, ...] = (10, 50, 100)
    purchases_per_minute: int = 30  # unlock and tip requests of one viewer per minute (abuse limit)
    # when a rental's clock starts (RENTAL_CLOCK, RENTAL_START_WINDOW_DAYS)
    rentals: RentalRules = field(default_factory=RentalRules)


REFUND_KIND = "moderation_refund"


@dataclass(frozen=True)
class RefundSummary:
    """What a take-down gave back: purchases refunded now, and points returned by them."""

    refunded: int
    points: int


USER_TOPIC = "user:"  # a user's live topic is this followed by their id


def topic_for(user_id: UUID) -> str:
    return f"{USER_TOPIC}{user_id}"


def takedown_refund_key(unlock: Unlock) -> str:
    """The ledger key of the refund a take-down of its video gives a purchase."""
    return f"takedown-refund:{unlock.id}"


def closure_refund_key(unlock: Unlock) -> str:
    """The ledger key of the refund a running rental gets when its creator closes their account."""
    return f"creator-closed:{unlock.id}"


def visible_to(video: Video, viewer_id: UUID | None) -> bool:
    """Published videos are for everyone; any other state only for the owner."""
    return video.state is VideoState.PUBLISHED or (viewer_id is not None and viewer_id == video.owner_id)


@dataclass(frozen=True)
class Panel:
    """The player-or-offers panel of a video page, for one viewer."""

    video: Video
    access: Access
    choices: list[OfferChoice]
    viewer_id: UUID | None
    fee_percent: int
    balance: int | None = None  # the viewer's points when the panel was read (None: not looked up)
    rentals: RentalRules = field(default_factory=RentalRules)
    now: datetime | None = None  # when the panel was read

    @property
    def rental_note(self) -> str | None:
        """What the viewer's first-play rental is doing: waiting for the first play (with its start
        deadline), or started (with the time left); None for any other access."""
        entitlement = self.access.entitlement
        if self.now is None or entitlement is None or self.access.level is not AccessLevel.ENTITLED:
            return None
        if entitlement.expires_at is None:
            return None
        if entitlement.waits(self.now):
            assert entitlement.waiting is not None
            deadline = entitlement.expires_at.strftime("%-d %b %Y, %H:%M")
            return (
                f"Your {period_words(entitlement.waiting)} rental starts when you press play; "
                f"start it by {deadline} UTC."
            )
        if entitlement.started_at is not None and entitlement.active(self.now):
            return f"Your rental has started: {time_left_words(entitlement.expires_at - self.now)}."
        return None

    @property
    def is_owner(self) -> bool:
        return self.viewer_id is not None and self.viewer_id == self.video.owner_id

    @property
    def playable(self) -> bool:
        """Ready or published (perhaps still upgrading: playable from its first rendition)."""
        return self.video.is_playable

    @property
    def shortfall(self) -> int | None:
        """Points the viewer lacks for the cheapest offer they could buy (None: enough, or unknown)."""
        prices = [c.price for c in self.choices if c.available]
        if self.balance is None or not prices or self.is_owner:
            return None
        missing = min(prices) - self.balance
        return missing if missing > 0 else None


@dataclass(frozen=True)
class VideoPage:
    """Everything the video page shows."""

    panel: Panel
    creator_name: str
    tip_amounts: tuple[int, ...]

    @property
    def video(self) -> Video:
        return self.panel.video


@dataclass(frozen=True)
class UnlockOutcome:
    result: UnlockResult
    panel: Panel


class PricingService:
    """What creators do with prices and publishing."""

    def __init__(self, pricing: PricingRepository, studio: StudioService, clock: Clock) -> None:
        self.pricing = pricing
        self.studio = studio
        self.clock = clock

    async def pricing_for(self, video_id: UUID) -> Pricing:
        """The video's pricing; an unpriced video sells nothing (and cannot be published)."""
        return await self.pricing.get(video_id) or Pricing(video_id)

    async def owned(self, owner_id: UUID, public_id: str) -> tuple[Video, Pricing]:
        """The owner's video and its pricing; raises VideoUnavailable for anyone else's."""
        video = await self.studio.video_by_public_id(public_id)
        if video is None or video.owner_id != owner_id:
            raise VideoUnavailable()
        return video, await self.pricing_for(video.id)

    async def set_prices(
        self, owner_id: UUID, public_id: str, *, free: bool, prices: Mapping[Offer, str], preview: str
    ) -> Pricing:
        """Store the prices from the creator's form. Raises VideoUnavailable, or InvalidPricing (with a
        message per field; nothing stored)."""
        video, _ = await self.owned(owner_id, public_id)
        pricing = check_pricing(
            video.id, free=free, prices=prices, preview=preview, duration=video.duration, now=self.clock.now()
        )
        await self.pricing.save(pricing)
        return pricing

    async def publish(self, owner_id: UUID, public_id: str) -> Video:
        """READY → PUBLISHED. Raises VideoUnavailable, NotForSale (not priced yet) or
        IllegalVideoTransition (only a READY video publishes)."""
        video, pricing = await self.owned(owner_id, public_id)
        if not pricing.sellable:
            raise NotForSale()
        return await self.studio.mark_published(video.id)

    async def unpublish(self, owner_id: UUID, public_id: str) -> Video:
        """PUBLISHED → READY: the link stops working for everyone but the owner; entitlements stay."""
        video, _ = await self.owned(owner_id, public_id)
        return await self.studio.mark_unpublished(video.id)


class UnlockService:
    """What viewers do: look at a video, unlock it with one click, and what they may watch."""

    def __init__(
        self,
        unlocks: UnlockRepository,
        tips: TipRepository,
        pricing: PricingService,
        studio: StudioService,
        accounts: AccountService,
        ledger: LedgerService,
        bus: EventBus,
        uow: UnitOfWork,
        clock: Clock,
        policy: UnlockPolicy,
        *,
        limiter: RateLimiter | None = None,
        membership: MembershipAccess | None = None,
    ) -> None:
        self.limiter = limiter
        self.membership = membership
        self.unlocks = unlocks
        self.tips = tips
        self.pricing = pricing
        self.studio = studio
        self.accounts = accounts
        self.ledger = ledger
        self.bus = bus
        self.uow = uow
        self.clock = clock
        self.policy = policy

    # -- reading ---------------------------------------------------------------------------------------

    async def visible_video(self, viewer_id: UUID | None, public_id: str, *, for_purchase: bool = False) -> Video:
        """The video behind a shared link; raises VideoUnavailable when it does not exist or is not
        published (its owner sees it in every state), and VideoRemoved (410) when moderators took it
        down or suspended its creator — for everyone but its owner and staff (and for staff too when
        buying).

        `for_purchase` (inside the purchase's transaction): the video stays as read until the purchase
        commits, so a take-down or a suspension either came first (and refuses the click here) or waits
        for the purchase (and refunds it) — a click never pays for a video hidden meanwhile."""
        video = await self.studio.video_by_public_id(public_id, share_lock=for_purchase)
        if video is None or not visible_to(video, viewer_id):
            raise VideoUnavailable()
        # Staff may look at a hidden video (to review it) but not buy it: nobody pays for a video the
        # platform removed.
        if video.hidden and viewer_id != video.owner_id and (for_purchase or not await self._is_staff(viewer_id)):
            if video.taken_down_reason is None:
                raise VideoRemoved("This video is not available: its creator's account is suspended.")
            raise VideoRemoved()
        return video

    async def _is_staff(self, viewer_id: UUID | None) -> bool:
        if viewer_id is None:
            return False
        user = await self.accounts.get_user(viewer_id)
        return user is not None and user.is_staff

    async def check_request_rate(self, viewer_id: UUID) -> None:
        """Count one unlock or tip request of the viewer; PurchasesThrottled (429, nothing charged) past
        `purchases_per_minute` in the current minute window, shared by every web process."""
        if self.limiter is None:
            return
        allowance = await self.limiter.hit(_rate_key(viewer_id), self.policy.purchases_per_minute, RATE_WINDOW)
        if not allowance.allowed:
            raise _throttled(allowance)

    async def refund_purchases(self, video: Video, since: datetime, reason: str) -> RefundSummary:
        """Give back, in points, every purchase of `video` made at or after `since` (a take-down's
        refund window): the creator's share from their earnings (which may go below zero if already
        paid out) and the fee from platform revenue, to the buyer's wallet. Exactly once per purchase
        (the ledger key names it), so a repeated or retried take-down refunds nothing twice. Access
        already granted is kept (the video is hidden anyway; a restore does not claw refunds back)."""
        refunded = points = 0
        now = self.clock.now()
        window = self.policy.rentals.start_window
        for unlock in await self.unlocks.purchases_of_video(video.id, min(since, now - window)):
            if unlock.created_at < since and not await self._waits_for_first_play(unlock, now):
                continue
            key = takedown_refund_key(unlock)
            # The creator's share goes back through platform revenue, which then pays the whole price
            # into the wallet: the buyer's statement shows one line for the whole refund.
            creator_share = unlock.points - unlock.fee
            legs = []
            revenue = AccountRef.platform_revenue_for(unlock.creator_id)  # the shard the sale's fee went to
            if creator_share:
                legs.append(Leg(AccountRef.earnings(unlock.creator_id), revenue, creator_share))
            legs.append(Leg(revenue, AccountRef.wallet(unlock.viewer_id), unlock.points))
            metadata = {"video_id": str(video.id), "unlock_id": str(unlock.id), "memo": video.title, "reason": reason}
            async with self.uow.atomic():
                # Decided under the purchase's lock: an earlier take-down or the creator's account closure
                # refunded it, or is refunding it at this moment (refund_running_rentals takes the lock).
                await self.unlocks.lock_purchases([(unlock.viewer_id, unlock.video_id)])
                if await self._refunded(unlock):
                    continue
                await self.ledger.transfer(
                    key, REFUND_KIND, legs, metadata, allow_negative=frozenset({AccountRef.earnings(unlock.creator_id)})
                )
                await self.bus.publish_all(
                    [
                        (wallet_topic(unlock.viewer_id), WALLET_CHANGED_EVENT, {"kind": REFUND_KIND}),
                        # the creator's analytics and dashboard take it off their earnings
                        (
                            topic_for(unlock.creator_id),
                            REFUND_EVENT,
                            {"video_id": str(video.id), "points": unlock.points, "net": creator_share},
                        ),
                    ]
                )
            refunded += 1
            points += unlock.points
        return RefundSummary(refunded, points)

    async def _refunded(self, unlock: Unlock) -> bool:
        """Whether the purchase's price already went back to its buyer: by a take-down of its video, or
        when its creator closed their account. Each refunds a purchase the other did not, never twice."""
        for key in (takedown_refund_key(unlock), closure_refund_key(unlock)):
            if await self.ledger.transfer_by_key(key) is not None:
                return True
        return False

    async def _waits_for_first_play(self, unlock: Unlock, now: datetime) -> bool:
        """Whether `unlock` is a rental whose access still waits for its first play."""
        if unlock.offer.duration is None or unlock.created_at + self.policy.rentals.start_window <= now:
            return False
        entitlement = await self.unlocks.entitlement(unlock.viewer_id, unlock.video_id)
        return entitlement is not None and entitlement.waits(now)

    async def start_rental(self, viewer_id: UUID, video_id: UUID) -> Entitlement | None:
        """The viewer plays the video: start their rental if it waits for its first play (once, even
        from several tabs at once). Returns the started entitlement, or None when nothing waited."""
        async with self.uow.atomic():
            return await self.unlocks.start(viewer_id, video_id, self.clock.now())

    async def cover(self, viewer_id: UUID | None, public_id: str) -> tuple[bytes, str] | None:
        """The cover image (the creator's, else the frame the pipeline took) and its content type."""
        return await self.studio.cover(await self.visible_video(viewer_id, public_id))

    async def access(self, viewer_id: UUID | None, video: Video) -> Access:
        """What `viewer_id` (None: a visitor) may watch of `video` right now."""
        found = await self.unlocks.checkout(video.id, viewer_id)
        pricing = found.pricing or Pricing(video.id)
        now = self.clock.now()
        access = decide_access(viewer_id, video.owner_id, pricing, found.entitlement, now)
        if access.full or viewer_id is None or self.membership is None:
            return access
        member = await self.membership.covers(viewer_id, video.owner_id, video.id)
        return decide_access(viewer_id, video.owner_id, pricing, found.entitlement, now, member)

    async def entitlement(self, viewer_id: UUID, video_id: UUID) -> Entitlement | None:
        """The viewer's entitlement to the video (it may have expired: check `.active(now)`), or None."""
        return await self.unlocks.entitlement(viewer_id, video_id)

    async def grant_lifetime(self, grants: Sequence[tuple[UUID, UUID]]) -> int:
        """Lifetime access for each (viewer, video) of `grants`, paid for by a purchase another feature
        charged (a bundle: features/offers) in the caller's transaction. Returns how many changed."""
        return await self.unlocks.grant_lifetime(grants, self.clock.now()) if grants else 0

    async def creators_paid_by(self, viewer_id: UUID) -> set[UUID]:
        """Every creator the viewer has paid: bought an offer from, or tipped."""
        return await self.unlocks.creators_paid_by(viewer_id) | await self.tips.creators_tipped_by(viewer_id)

    async def purchases_of(self, viewer_id: UUID) -> list[Unlock]:
        """Every purchase the viewer made, oldest first (their data export)."""
        return await self.unlocks.purchases_of(viewer_id)

    async def entitlements_of(self, viewer_id: UUID) -> list[Entitlement]:
        """Every entitlement of the viewer, expired or not (their data export)."""
        return await self.unlocks.entitlements_of(viewer_id)

    async def running_rentals_of_creator(self, creator_id: UUID) -> list[Unlock]:
        """Rentals of the creator's videos whose rental period has not ended yet (a first-play rental not
        started yet counts as running) and that no take-down refunded (it leaves the rental running),
        oldest first."""
        now = self.clock.now()
        rules = self.policy.rentals
        recent = await self.unlocks.creator_sales_since(creator_id, now - LONGEST_RENTAL - rules.start_window)
        running = []
        for unlock in recent:
            if unlock.offer.duration is None:
                continue
            entitlement = await self.unlocks.entitlement(unlock.viewer_id, unlock.video_id)
            refunded = await self.ledger.transfer_by_key(takedown_refund_key(unlock)) is not None
            if rental_running(unlock, now, entitlement, rules) and not refunded:
                running.append(unlock)
        return running

    async def refund_running_rentals(self, creator_id: UUID) -> list[Transfer]:
        """Give every viewer whose rental of the creator's videos is still running the full price back,
        in points, to their wallet — the creator is closing their account and the videos go away.

        Each refund reverses its purchase (the creator's share from their earnings, the fee from the
        platform's revenue) and is posted once per purchase (idempotency key `creator-closed:<unlock>`),
        so a retry refunds nothing twice. The creator's earnings may go below zero here; the caller
        settles them in the same unit of work (see the privacy feature). Returns the refund transfers.
        """
        refunds: list[Transfer] = []
        async with self.uow.atomic():
            running = await self.running_rentals_of_creator(creator_id)
            # Every purchase's lock first (one order), then each decided again under it: a take-down may
            # be refunding one of them at this moment (refund_purchases takes the same lock).
            await self.unlocks.lock_purchases([(unlock.viewer_id, unlock.video_id) for unlock in running])
            for unlock in running:
                if await self.ledger.transfer_by_key(takedown_refund_key(unlock)) is not None:
                    continue  # (a refund of this closure again is the same transfer, handed back below)
                viewer_wallet = AccountRef.wallet(unlock.viewer_id)
                legs = []
                if unlock.points > unlock.fee:
                    legs.append(Leg(AccountRef.earnings(creator_id), viewer_wallet, unlock.points - unlock.fee))
                if unlock.fee:
                    legs.append(Leg(AccountRef.platform_revenue_for(creator_id), viewer_wallet, unlock.fee))
                metadata = {
                    "video_id": str(unlock.video_id),
                    "unlock_id": str(unlock.id),
                    "memo": "Refund: the creator closed their account",
                }
                refunds.append(
                    await self.ledger.transfer(
                        closure_refund_key(unlock),
                        "rental_refund",
                        legs,
                        metadata,
                        allow_negative=frozenset({AccountRef.earnings(creator_id)}),
                    )
                )
                await self.bus.publish(wallet_topic(unlock.viewer_id), WALLET_CHANGED_EVENT, {"kind": "rental_refund"})
        return refunds

    async def panel(self, viewer_id: UUID | None, public_id: str) -> Panel:
        """The panel as the viewer reads it, with their balance (so it can offer points before a click
        that could not be paid)."""
        video = await self.visible_video(viewer_id, public_id)
        panel = self._panel(video, await self.access(viewer_id, video), viewer_id)
        if viewer_id is None or panel.is_owner or not panel.choices:
            return panel
        return replace(panel, balance=await self.ledger.balance(AccountRef.wallet(viewer_id)))

    async def page(self, viewer_id: UUID | None, public_id: str) -> VideoPage:
        """The video page for this viewer. Raises VideoUnavailable."""
        panel = await self.panel(viewer_id, public_id)
        creator = await self.accounts.get_user(panel.video.owner_id)
        return VideoPage(panel, creator.display_name if creator else "A creator", self.policy.tip_amounts)

    def _panel(self, video: Video, access: Access, viewer_id: UUID | None) -> Panel:
        now = self.clock.now()
        member = access.level is AccessLevel.MEMBER  # "Included in your membership" instead of prices
        choices = [] if member else offer_choices(access.pricing, access.entitlement, now, self.policy.rentals)
        return Panel(video, access, choices, viewer_id, self.policy.fee_percent, rentals=self.policy.rentals, now=now)

    # -- buying ----------------------------------------------------------------------------------------

    async def unlock(
        self,
        viewer_id: UUID,
        public_id: str,
        offer_name: str,
        key: str,
        shown_price: str | int,
        *,
        discount: DiscountHook | None = None,
    ) -> UnlockOutcome:
        """Buy `offer_name` of the video for the viewer at `shown_price` — the price its button showed —
        exactly once per idempotency `key`, and only if it gives the viewer more access.

        The purchases of one viewer and video are decided one at a time, each seeing what the ones
        before it committed: of several clicks at once (several tabs, distinct keys) only the first
        buys; the others find the access it granted and raise NothingToExtend, charging nothing.
        The price charged is the offer's current price, and only when `shown_price` is exactly that
        (`model.shows_price`); otherwise PriceChanged (naming the current price) and nothing is charged.
        A retry with the same key (even concurrent) charges nothing and returns the first purchase
        (`replayed`), even if the price changed since.

        `discount` (a promo code: features/offers) reduces the price under the purchase lock: it is
        reserved before the price check, which then compares the click with the reduced price; the
        transfer's metadata records the list price, the discount and the hook's own fields, and the hook
        records its redemption in the same transaction. Whatever the hook raises refuses the click.

        Raises InvalidKey, VideoUnavailable, OwnVideo, OfferNotAvailable, PriceChanged, NothingToExtend
        (the viewer already has this much access or more), KeyReused (the key bought something else)
        and InsufficientPoints (PaymentRequired: nothing debited).
        """
        key = check_key(key)
        offer = parse_offer(offer_name)
        counted = False
        if discount is None:
            clicked, counted = await self._click(viewer_id, public_id, offer, key, shown_price)
            if clicked is not None:
                return clicked
        if not counted:
            await self.check_request_rate(viewer_id)
        # Reads and writes share one transaction: one pooled connection for the whole click.
        async with self.uow.atomic():
            video = await self.visible_video(viewer_id, public_id, for_purchase=True)
            if video.owner_id == viewer_id:
                raise OwnVideo()
            # Waits for any other purchase of this (viewer, video) to commit, then reads: everything
            # decided below stays true until this transaction ends.
            found = await self.unlocks.begin_purchase(video.id, viewer_id, key)
            pricing, prior, current = found.pricing or Pricing(video.id), found.prior, found.entitlement
            if prior is not None:
                return self._replay(prior, current, video, offer, shown_price, viewer_id, pricing)
            now = self.clock.now()
            list_price = pricing.price_of(offer)
            applied: Discount | None = None
            if discount is not None:
                applied = await discount.reserve(viewer_id, video.id, video.owner_id, offer, list_price)
                if not 0 <= applied.points < list_price:
                    raise ValueError("a discount leaves at least one point to pay")
            price = list_price - applied.points if applied else list_price
            if not shows_price(shown_price, price):
                raise PriceChanged(offer, price)
            if not extends(current, offer, now, self.policy.rentals):
                raise NothingToExtend()
            grant = grant_after(current, offer, now, self.policy.rentals)
            sale = split(price, self.policy.fee_percent)
            legs = [Leg(AccountRef.wallet(viewer_id), AccountRef.earnings(video.owner_id), price)]
            if sale.fee:
                # The creator's shard of platform revenue: fee-paying sales of different creators do not
                # queue for one account (ledger.model.PLATFORM_REVENUE_SHARDS).
                revenue = AccountRef.platform_revenue_for(video.owner_id)
                legs.append(Leg(AccountRef.earnings(video.owner_id), revenue, sale.fee))
            metadata = {"video_id": str(video.id), "offer": offer.value, "memo": video.title}
            if applied is not None:
                metadata |= {**applied.metadata, "list_price": str(list_price), "discount": str(applied.points)}
            expires_at = fresh_expiry(offer, now) if grant.waiting is None else grant.expires_at
            # The creator's sale and the buyer's balance pill (their other tabs).
            events: list[tuple[str, str, Mapping[str, object]]] = [
                (
                    topic_for(video.owner_id),
                    SALE_EVENT,
                    {
                        "video_id": str(video.id),
                        "title": video.title,
                        "offer": offer.value,
                        "points": price,
                        "net": sale.net,
                        **({"discount": applied.points} if applied else {}),
                    },
                ),
                (wallet_topic(viewer_id), WALLET_CHANGED_EVENT, {"kind": "unlock"}),
            ]
            ledger_key = _ledger_key(viewer_id, key)
            recorded: RecordedSale | None = None
            if applied is None:
                # Fast path (no discount hook to run between the writes): transfer, purchase, entitlement
                # and events in one step of the repository (one database call in PostgreSQL).
                requested = self.ledger.prepare(ledger_key, "unlock", legs, metadata)
                unlock = Unlock(
                    uuid7(), key, viewer_id, video.id, video.owner_id, offer, price, sale.fee, requested.id, now
                )
                recorded = await self.unlocks.record_sale(requested, unlock, expires_at, grant.waiting, events)
                if recorded is not None and recorded.status == "insufficient":
                    assert recorded.short_kind is not None
                    assert recorded.short_owner is not None
                    short = AccountRef.stored(recorded.short_kind, recorded.short_owner)
                    raise InsufficientPoints(short, recorded.shortfall)
                if recorded is not None and recorded.status == "exists":
                    recorded = None  # nothing written: the general path below finds the transfer and decides
            if recorded is not None:
                entitlement = recorded.entitlement
            else:
                try:
                    transfer = await self.ledger.transfer(ledger_key, "unlock", legs, metadata)
                except IdempotencyConflict as error:  # the key, sent at once for another purchase, committed first
                    raise KeyReused() from error
                unlock = Unlock(
                    uuid7(), key, viewer_id, video.id, video.owner_id, offer, price, sale.fee, transfer.id, now
                )
                entitlement = await self.unlocks.record(unlock, expires_at, grant.waiting)
            if entitlement is None:  # this key, sent at once for another video (another lock), committed first
                found = await self.unlocks.checkout(video.id, viewer_id, key)
                assert found.prior is not None
                return self._replay(found.prior, found.entitlement, video, offer, shown_price, viewer_id, pricing)
            if recorded is None:
                if applied is not None and discount is not None:
                    await discount.redeemed(unlock, applied)
                await self.bus.publish_all(events)  # one round trip for both
        access = decide_access(viewer_id, video.owner_id, pricing, entitlement, now)
        return UnlockOutcome(UnlockResult(unlock, entitlement, False), self._panel(video, access, viewer_id))

    async def _click(
        self, viewer_id: UUID, public_id: str, offer: Offer, key: str, shown_price: str | int
    ) -> tuple[UnlockOutcome | None, bool]:
        """The plain click — the viewer's first purchase of the video, no access running, at the price the
        button showed — prepared here for that case and checked and written by the repository in one step
        (`UnlockRepository.click`: one round trip in PostgreSQL). The sale is what the general path below
        would decide for that case: the shown price, its fee, the access bought from nothing
        (`grant_after(None, …)`), the same ledger key, legs, metadata and events. None when the click is
        anything else (the repository then wrote nothing): the general path decides it. The abuse limit's
        hit is counted in the same step where the repository can; the flag says whether it was."""
        if isinstance(shown_price, bool):
            return None, False
        points = shown_price if isinstance(shown_price, int) else parse_shown(shown_price)
        ledger_key = _ledger_key(viewer_id, key)
        if points is None or not 0 < points <= MAX_PRICE or len(ledger_key) > MAX_KEY_LENGTH:
            return None, False
        now = self.clock.now()
        grant = grant_after(None, offer, now, self.policy.rentals)
        sale = split(points, self.policy.fee_percent)
        click = Click(
            viewer_id=viewer_id,
            public_id=public_id,
            offer=offer,
            points=points,
            fee=sale.fee,
            key=key,
            unlock_id=uuid7(),
            transfer_id=uuid7(),
            transfer_key=ledger_key,
            now=now,
            expires_at=fresh_expiry(offer, now) if grant.waiting is None else grant.expires_at,
            waiting=grant.waiting,
            user_topic=USER_TOPIC,
            sale_event=SALE_EVENT,
            sale_data={"offer": offer.value, "points": points, "net": sale.net},
            wallet_topic=wallet_topic(viewer_id),
            wallet_event=WALLET_CHANGED_EVENT,
            wallet_data={"kind": "unlock"},
            rate_key=None if self.limiter is None else _rate_key(viewer_id),
            rate_limit=self.policy.purchases_per_minute,
            rate_window=RATE_WINDOW,
        )
        clicked = await self.unlocks.click(click)
        if clicked is None:
            return None, False
        if clicked.status == "throttled":
            assert clicked.throttle is not None
            raise _throttled(clicked.throttle)
        if clicked.status == "general":
            return None, True
        if clicked.status == "insufficient":
            assert clicked.short_kind is not None
            assert clicked.short_owner is not None
            raise InsufficientPoints(AccountRef.stored(clicked.short_kind, clicked.short_owner), clicked.shortfall)
        video, pricing, entitlement = clicked.video, clicked.pricing, clicked.entitlement
        assert video is not None
        assert pricing is not None
        assert entitlement is not None
        unlock = Unlock(
            click.unlock_id, key, viewer_id, video.id, video.owner_id, offer, points, sale.fee, click.transfer_id, now
        )
        access = decide_access(viewer_id, video.owner_id, pricing, entitlement, now)
        return UnlockOutcome(UnlockResult(unlock, entitlement, False), self._panel(video, access, viewer_id)), True

    def _replay(
        self,
        prior: Unlock,
        current: Entitlement | None,
        video: Video,
        offer: Offer,
        shown_price: str | int,
        viewer_id: UUID,
        pricing: Pricing,
    ) -> UnlockOutcome:
        """The first purchase made with this key, if this is the same click again (same video, offer
        and price); KeyReused otherwise."""
        same_click = prior.video_id == video.id and prior.offer is offer and shows_price(shown_price, prior.points)
        if not same_click or current is None:
            raise KeyReused()
        access = decide_access(viewer_id, video.owner_id, pricing, current, self.clock.now())
        return UnlockOutcome(UnlockResult(prior, current, True), self._panel(video, access, viewer_id))


RATE_WINDOW = 60  # seconds: the abuse limit counts a viewer's unlock and tip requests per minute


def _rate_key(viewer_id: UUID) -> str:
    return f"purchases:viewer:{viewer_id}"


def _throttled(allowance: Allowance) -> PurchasesThrottled:
    return PurchasesThrottled(
        f"Too many unlock and tip requests. Please wait {allowance.retry_after} seconds and try again.",
        retry_after=allowance.retry_after,
    )


TIP_KEY_REUSED = "This button was already used for another tip. Reload the page and try again."


def _ledger_key(viewer_id: UUID, key: str) -> str:
    """The ledger key of the viewer's purchase with this idempotency key."""
    return f"unlock:{viewer_id}:{key}"


class TipService:
    """Tips: a few points to a creator, with a short message, told to the creator live. No fee."""

    def __init__(
        self,
        tips: TipRepository,
        unlocks: UnlockService,
        ledger: LedgerService,
        bus: EventBus,
        uow: UnitOfWork,
        clock: Clock,
        policy: UnlockPolicy,
    ) -> None:
        self.tips = tips
        self.unlocks = unlocks
        self.ledger = ledger
        self.bus = bus
        self.uow = uow
        self.clock = clock
        self.policy = policy

    async def tip(self, viewer: Principal, public_id: str, amount: str | int, message: str, key: str) -> TipResult:
        """Give `amount` points (one of the configured amounts) to the video's creator, once per `key`.

        Raises InvalidKey, InvalidTip, VideoUnavailable, TipYourself, KeyReused and InsufficientPoints
        (nothing debited).
        """
        key = check_key(key)
        points, text = check_tip(amount, self.policy.tip_amounts, message)
        await self.unlocks.check_request_rate(viewer.id)
        async with self.uow.atomic():  # reads and writes on one pooled connection
            video = await self.unlocks.visible_video(viewer.id, public_id, for_purchase=True)
            if video.owner_id == viewer.id:
                raise TipYourself()
            prior = await self.tips.by_key(viewer.id, key)
            if prior is not None:
                return self._replay(prior, video, points)
            legs = [Leg(AccountRef.wallet(viewer.id), AccountRef.earnings(video.owner_id), points)]
            metadata = {"video_id": str(video.id), "memo": video.title}
            now = self.clock.now()
            try:
                transfer = await self.ledger.transfer(f"tip:{viewer.id}:{key}", "tip", legs, metadata)
            except IdempotencyConflict as error:  # the key, sent at once for another tip, committed first
                raise KeyReused(TIP_KEY_REUSED) from error
            tip = Tip(uuid7(), key, viewer.id, video.owner_id, video.id, points, text, transfer.id, now)
            if not await self.tips.add(tip):  # the same click, retried concurrently, committed first
                prior = await self.tips.by_key(viewer.id, key)
                assert prior is not None
                return self._replay(prior, video, points)
            await self.bus.publish_all(  # the creator's tip and the tipper's balance pill, in one round trip
                [
                    (
                        topic_for(video.owner_id),
                        TIP_EVENT,
                        {
                            "amount": points,
                            "from_name": viewer.display_name,
                            "from_id": str(viewer.id),  # lets an erasure find the tipper's name here (features/privacy)
                            "message": text,
                            "video_title": video.title,
                            "video_id": str(video.id),
                        },
                    ),
                    (wallet_topic(viewer.id), WALLET_CHANGED_EVENT, {"kind": "tip"}),
                ]
            )
        return TipResult(tip, False)

    async def sent_by(self, viewer_id: UUID) -> list[Tip]:
        """The tips the viewer gave, oldest first (their data export)."""
        return await self.tips.sent_by(viewer_id)

    async def received_by(self, creator_id: UUID) -> list[Tip]:
        """The tips the creator received, oldest first (their data export)."""
        return await self.tips.received_by(creator_id)

    async def erase_messages_of(self, viewer_id: UUID) -> int:
        """Blank the messages the viewer wrote with their tips (the amounts stay: they are records)."""
        return await self.tips.erase_messages_of(viewer_id)

    @staticmethod
    def _replay(prior: Tip, video: Video, points: int) -> TipResult:
        if prior.video_id != video.id or prior.amount != points:
            raise KeyReused(TIP_KEY_REUSED)
        return TipResult(prior, True)
