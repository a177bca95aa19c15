"""Offers use cases: bundles (make, fill, show, buy with one click) and promo codes (make, enter, redeem).

Buying a bundle, in one transaction:
  purchase lock     on (viewer, bundle), taken before anything is read: parallel clicks are decided in turn
  bundle lock       the bundle row, shared: a video being added waits for the purchase (or it for the
                    video), so whichever commits second sees the other — a later video reaches every buyer
  price check       the click carries the price its button showed (after any code); any other price refuses
  code              locked, checked (expiry, uses left, target) and its use counted in this transaction
  ledger transfer   viewer wallet → creator earnings (the price), creator earnings → platform revenue (the fee),
                    the metadata naming the bundle, its list price, the discount and the code
  entitlements      lifetime access to every video of the bundle (UnlockService.grant_lifetime)
  events            "bundle_sale" to the creator, "wallet_changed" to the buyer

A code on a single video goes through UnlockService.unlock with a `CodeDiscount` hook: the unlock's own
purchase lock, price check (with the reduced price), ledger transfer (with the discount in its metadata)
and entitlement; the hook locks the code and records the redemption in the same transaction.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple
from uuid import UUID

from core.clock import Clock
from core.events import Event, EventBus, LiveFragment
from core.ids import public_id as new_public_id
from core.ids import uuid7
from core.numbers import whole_or_none
from core.ratelimit import RateLimiter
from core.text import csv_text
from core.uow import UnitOfWork
from features.accounts.service import AccountService
from features.ledger.model import WALLET_CHANGED_EVENT, AccountRef, IdempotencyConflict, Leg, wallet_topic
from features.ledger.service import LedgerService
from features.memberships.model import Charge, Membership, Tier
from features.memberships.service import JoinResult, MembershipService
from features.offers.model import (
    AlreadyBought,
    Bundle,
    BundleChanged,
    BundleItem,
    BundleNotFound,
    BundleNotOnSale,
    BundlePriceChanged,
    BundlePurchase,
    BundleView,
    CodeFields,
    CodeForSomethingElse,
    CodeGuessesThrottled,
    CodeInUse,
    CodeNotFound,
    EmptyBundle,
    InvalidOffer,
    OfferSales,
    OwnBundle,
    PromoCode,
    Redemption,
    SaleLine,
    TargetKind,
    check_bundle,
    check_code,
    check_entered_code,
    normalize_code,
    not_on_sale_reason,
    shows_price,
)
from features.offers.ports import OffersRepository
from features.studio.model import Video, VideoState
from features.studio.service import StudioService
from features.unlocks.model import (
    Discount,
    KeyReused,
    Offer,
    OfferChoice,
    Unlock,
    check_key,
    split,
)
from features.unlocks.service import (
    REFUND_EVENT,
    REFUND_KIND,
    Panel,
    PricingService,
    UnlockOutcome,
    UnlockService,
    topic_for,
)

BUNDLE_SALE_EVENT = "bundle_sale"
SALE_EVENT = "sale"  # the unlock's event (features/unlocks): a code's redemption rides on it
BUNDLE_KIND = "bundle"


@dataclass(frozen=True)
class OffersPolicy:
    fee_percent: int = 10
    code_tries_per_minute: int = 10  # codes one viewer may try per minute (guessing is rate-limited)


@dataclass(frozen=True)
class BundleOutcome:
    purchase: BundlePurchase
    view: BundleView
    granted: int  # entitlements created or made lifetime
    replayed: bool


@dataclass(frozen=True)
class CodeChoice:
    """One offer of a video with a code applied."""

    choice: OfferChoice
    discount: int

    @property
    def price(self) -> int:
        return self.choice.price - self.discount


@dataclass(frozen=True)
class CodeQuote:
    code: PromoCode
    choices: tuple[CodeChoice, ...]


@dataclass(frozen=True)
class VideoOffers:
    """The offers feature's part of a video's panel: the bundles it is in, and whether a code may be entered."""

    panel: Panel
    bundles: tuple[BundleView, ...]

    @property
    def takes_code(self) -> bool:
        return (
            self.panel.viewer_id is not None
            and not self.panel.is_owner
            and any(c.available for c in self.panel.choices)
        )


@dataclass
class CodeDiscount:
    """The unlock's `DiscountHook` for a code a viewer entered on a video page (features/unlocks/ports.py)."""

    repository: OffersRepository
    entered: str
    clock: Clock
    code: PromoCode | None = None

    async def reserve(
        self, viewer_id: UUID, video_id: UUID, creator_id: UUID, offer: Offer, list_price: int
    ) -> Discount:
        now = self.clock.now()
        found = await self.repository.codes_named(normalize_code(self.entered))
        candidate = check_entered_code(found, creator_id, TargetKind.VIDEO, video_id, now)
        locked = await self.repository.lock_code(candidate.id)  # held until the purchase commits
        code = check_entered_code([locked] if locked else [], creator_id, TargetKind.VIDEO, video_id, now)
        self.code = code
        return Discount(code.discount_on(list_price), {"code": code.code, "code_id": str(code.id)})

    async def redeemed(self, unlock: Unlock, discount: Discount) -> None:
        assert self.code is not None
        await self.repository.redeem(
            Redemption(
                id=uuid7(),
                code_id=self.code.id,
                viewer_id=unlock.viewer_id,
                creator_id=unlock.creator_id,
                target_kind=TargetKind.VIDEO,
                target_id=unlock.video_id,
                list_price=unlock.points + discount.points,
                discount=discount.points,
                points=unlock.points,
                fee=unlock.fee,
                transfer_id=unlock.transfer_id,
                created_at=unlock.created_at,
            )
        )


class TierQuote(NamedTuple):
    """A code applied to a membership panel: the code, the tier it is for, the first month's price."""

    code: PromoCode
    tier: Tier
    price: int


@dataclass
class TierCodeDiscount:
    """The membership join's `JoinDiscount` for a code a viewer entered for a tier's first month
    (features/memberships/ports.py): one use counted under the code's row lock, held until the join commits."""

    repository: OffersRepository
    entered: str
    clock: Clock
    code: PromoCode | None = None

    async def reserve(self, viewer_id: UUID, tier: Tier) -> Discount:
        now = self.clock.now()
        found = await self.repository.codes_named(normalize_code(self.entered))
        candidate = check_entered_code(found, tier.creator_id, TargetKind.TIER, tier.id, now)
        locked = await self.repository.lock_code(candidate.id)  # held until the join commits
        code = check_entered_code([locked] if locked else [], tier.creator_id, TargetKind.TIER, tier.id, now)
        self.code = code
        return Discount(code.discount_on(tier.price), {"code": code.code, "code_id": str(code.id)})

    async def redeemed(self, membership: Membership, charge: Charge, discount: Discount) -> None:
        assert self.code is not None
        await self.repository.redeem(
            Redemption(
                id=uuid7(),
                code_id=self.code.id,
                viewer_id=membership.viewer_id,
                creator_id=membership.creator_id,
                target_kind=TargetKind.TIER,
                target_id=membership.tier_id,
                list_price=charge.points + discount.points,
                discount=discount.points,
                points=charge.points,
                fee=charge.fee,
                transfer_id=charge.transfer_id,
                created_at=charge.created_at,
            )
        )


class OffersService:
    def __init__(
        self,
        repository: OffersRepository,
        unlocks: UnlockService,
        pricing: PricingService,
        studio: StudioService,
        accounts: AccountService,
        ledger: LedgerService,
        bus: EventBus,
        uow: UnitOfWork,
        clock: Clock,
        policy: OffersPolicy,
        *,
        memberships: MembershipService,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.memberships = memberships
        self.repository = repository
        self.unlocks = unlocks
        self.pricing = pricing
        self.studio = studio
        self.accounts = accounts
        self.ledger = ledger
        self.bus = bus
        self.uow = uow
        self.clock = clock
        self.policy = policy
        self.limiter = limiter

    # -- creators: bundles ------------------------------------------------------------------------------

    async def create_bundle(self, creator_id: UUID, title: str, description: str, price: str) -> Bundle:
        """A new, empty bundle. Raises InvalidOffer (a message per field; nothing stored)."""
        fields = check_bundle(title, description, price)
        now = self.clock.now()
        bundle = Bundle(uuid7(), new_public_id(), creator_id, fields.title, fields.description, fields.price, now, now)
        await self.repository.add_bundle(bundle)
        return bundle

    async def owned_bundle(self, creator_id: UUID, public_id: str) -> Bundle:
        """The creator's bundle; BundleNotFound for anyone else's."""
        bundle = await self.repository.bundle(public_id)
        if bundle is None or bundle.creator_id != creator_id:
            raise BundleNotFound()
        return bundle

    async def update_bundle(self, creator_id: UUID, public_id: str, title: str, description: str, price: str) -> Bundle:
        """New title, description and price (a click showing the old price is refused: BundlePriceChanged).
        Raises BundleNotFound or InvalidOffer."""
        bundle = await self.owned_bundle(creator_id, public_id)
        fields = check_bundle(title, description, price)
        changed = Bundle(
            bundle.id,
            bundle.public_id,
            creator_id,
            fields.title,
            fields.description,
            fields.price,
            bundle.created_at,
            self.clock.now(),
            bundle.video_ids,
        )
        await self.repository.update_bundle(changed)
        return changed

    async def bundles_of(self, creator_id: UUID) -> list[Bundle]:
        return await self.repository.bundles_of(creator_id)

    async def videos_for_bundles(self, creator_id: UUID) -> list[Video]:
        """The creator's videos a bundle may include (any state but failed; newest first)."""
        return [v for v in await self.studio.list_for_owner(creator_id, limit=500) if v.state is not VideoState.FAILED]

    async def add_video(self, creator_id: UUID, public_id: str, video_public_id: str) -> int:
        """Put one of the creator's videos in their bundle and give it, for life, to everyone who bought
        the bundle before — in one transaction. Returns how many buyers were granted it. Raises
        BundleNotFound, InvalidOffer (not the creator's video)."""
        bundle = await self.owned_bundle(creator_id, public_id)
        video = await self.studio.video_by_public_id(video_public_id.strip())
        if video is None or video.owner_id != creator_id:
            raise InvalidOffer({"video": "Choose one of your videos."})
        async with self.uow.atomic():
            locked = await self.repository.lock_bundle(bundle.id, exclusive=True)  # purchases wait, or we wait
            if locked is None:
                raise BundleNotFound()
            if not await self.repository.add_video(bundle.id, video.id, self.clock.now()):
                raise InvalidOffer({"video": "That video is in the bundle already."})
            buyers = await self.repository.buyers(bundle.id)
            return await self.unlocks.grant_lifetime([(buyer, video.id) for buyer in buyers])

    async def remove_video(self, creator_id: UUID, public_id: str, video_public_id: str) -> None:
        """Take a video out of the bundle (later buyers do not get it; earlier buyers keep it)."""
        bundle = await self.owned_bundle(creator_id, public_id)
        video = await self.studio.video_by_public_id(video_public_id)
        if video is None or video.owner_id != creator_id:
            raise BundleNotFound()
        await self.repository.remove_video(bundle.id, video.id)

    # -- viewers: bundles -------------------------------------------------------------------------------

    async def _videos(self, bundle: Bundle) -> list[Video]:
        """The bundle's videos that still exist, in the bundle's order."""
        return [video for video_id in bundle.video_ids if (video := await self.studio.get_video(video_id)) is not None]

    @staticmethod
    def _not_on_sale(videos: Sequence[Video]) -> str | None:
        """Why the bundle made of `videos` cannot be bought now (`model.not_on_sale_reason`), or None."""
        return not_on_sale_reason(
            taken_down=sum(1 for v in videos if v.hidden and v.taken_down_reason is not None),
            suspended=sum(1 for v in videos if v.hidden and v.taken_down_reason is None),
            published=sum(1 for v in videos if not v.hidden and v.state is VideoState.PUBLISHED),
        )

    async def _view(self, bundle: Bundle, viewer_id: UUID | None) -> BundleView:
        is_owner = viewer_id == bundle.creator_id
        items = []
        videos = await self._videos(bundle)
        for video in videos:
            if video.hidden or (video.state is not VideoState.PUBLISHED and not is_owner):
                continue
            pricing = await self.pricing.pricing_for(video.id)
            owned = is_owner
            if viewer_id is not None and not owned:
                entitlement = await self.unlocks.entitlement(viewer_id, video.id)
                owned = entitlement is not None and entitlement.lifetime
            lifetime = None if pricing.free else pricing.prices.get(Offer.LIFETIME)
            items.append(BundleItem(video.id, video.public_id, video.title, lifetime, owned))
        bought = viewer_id is not None and not is_owner and await self.repository.has_bought(bundle.id, viewer_id)
        return BundleView(bundle, tuple(items), bought, is_owner, self._not_on_sale(videos) if videos else None)

    async def bundle_view(self, viewer_id: UUID | None, public_id: str) -> BundleView:
        """The bundle page for this viewer: its videos (published ones; the creator sees all), each one's
        single lifetime price and whether the viewer owns it already. Raises BundleNotFound."""
        bundle = await self.repository.bundle(public_id)
        if bundle is None:
            raise BundleNotFound()
        view = await self._view(bundle, viewer_id)
        if not view.items and not view.is_owner:
            raise BundleNotFound()  # nothing a viewer could see or buy
        return view

    async def video_offers(self, viewer_id: UUID | None, public_id: str) -> VideoOffers:
        """The bundles a video is in (with their saving, for this viewer) and the panel it belongs to.
        Raises VideoUnavailable / VideoRemoved as the video page does."""
        panel = await self.unlocks.panel(viewer_id, public_id)
        views = []
        for bundle in await self.repository.bundles_with(panel.video.id):
            view = await self._view(bundle, viewer_id)
            if view.items:
                views.append(view)
        return VideoOffers(panel, tuple(views))

    async def buy_bundle(
        self,
        viewer_id: UUID,
        public_id: str,
        key: str,
        shown_price: str | int,
        code: str = "",
        *,
        shown_videos: Sequence[str] | None = None,
    ) -> BundleOutcome:
        """Buy the bundle at `shown_price` — the price its button showed, after the code if one was entered
        — once per idempotency `key`: one ledger transfer (with the platform fee) and lifetime access to
        every video in it, in one transaction. A retry with the same key charges nothing (`replayed`).
        `shown_videos` (the public ids the page listed): a video among them that is no longer in the
        bundle under its lock refuses the click (BundleChanged); videos added meanwhile do not.

        Raises InvalidKey, BundleNotFound, OwnBundle, AlreadyBought, EmptyBundle, BundlePriceChanged,
        BundleChanged, a CodeRefused, KeyReused, PurchasesThrottled and InsufficientPoints (nothing
        debited)."""
        key = check_key(key)
        await self.unlocks.check_request_rate(viewer_id)
        bundle = await self.repository.bundle(public_id)
        if bundle is None:
            raise BundleNotFound()
        if bundle.creator_id == viewer_id:
            raise OwnBundle()
        if code.strip():
            await self._count_code_try(viewer_id)
        async with self.uow.atomic():
            await self.repository.lock_purchases(bundle.id, viewer_id)
            prior = await self.repository.purchase_by_key(viewer_id, key)
            if prior is not None:
                if prior.bundle_id != bundle.id or not shows_price(shown_price, prior.points):
                    raise KeyReused()
                return BundleOutcome(prior, await self._view(bundle, viewer_id), 0, True)
            locked = await self.repository.lock_bundle(bundle.id, exclusive=False)
            if locked is None:
                raise BundleNotFound()
            if await self.repository.has_bought(bundle.id, viewer_id):
                raise AlreadyBought()
            if not locked.video_ids:
                raise EmptyBundle()
            # Read under the bundle's lock: a take-down or a suspension that committed since the page was
            # read is seen here, and charges nothing.
            # Each held as read until this purchase commits: a take-down or a suspension that comes after the
            # read waits for it (and then refunds its share).
            in_bundle = await self.studio.videos_for_purchase(locked.video_ids)
            reason = self._not_on_sale(in_bundle)
            if reason is not None:
                raise BundleNotOnSale(f"{reason} Nothing was charged.")
            if shown_videos is not None:
                missing = set(shown_videos) - {video.public_id for video in in_bundle}
                if missing:
                    raise BundleChanged(len(missing))
            now = self.clock.now()
            promo: PromoCode | None = None
            discount = 0
            if code.strip():
                found = await self.repository.codes_named(normalize_code(code))
                candidate = check_entered_code(found, locked.creator_id, TargetKind.BUNDLE, locked.id, now)
                held = await self.repository.lock_code(candidate.id)
                promo = check_entered_code([held] if held else [], locked.creator_id, TargetKind.BUNDLE, locked.id, now)
                discount = promo.discount_on(locked.price)
            price = locked.price - discount
            if not shows_price(shown_price, price):
                raise BundlePriceChanged(price)
            sale = split(price, self.policy.fee_percent)
            creator = locked.creator_id
            legs = [Leg(AccountRef.wallet(viewer_id), AccountRef.earnings(creator), price)]
            if sale.fee:
                legs.append(Leg(AccountRef.earnings(creator), AccountRef.platform_revenue_for(creator), sale.fee))
            metadata = {
                "bundle_id": str(locked.id),
                "memo": locked.title,  # the wallet statement reads "Bundle: <title>"
                "videos": str(len(locked.video_ids)),
                "list_price": str(locked.price),
                "discount": str(discount),
            }
            if promo is not None:
                metadata |= {"code": promo.code, "code_id": str(promo.id)}
            try:
                transfer = await self.ledger.transfer(f"bundle:{viewer_id}:{key}", BUNDLE_KIND, legs, metadata)
            except IdempotencyConflict as error:  # the key, used at once for another bundle, committed first
                raise KeyReused() from error
            purchase = BundlePurchase(
                uuid7(),
                key,
                locked.id,
                viewer_id,
                creator,
                locked.price,
                discount,
                price,
                sale.fee,
                promo.id if promo else None,
                transfer.id,
                now,
            )
            if not await self.repository.record_purchase(purchase):  # the key, used at once for another bundle
                raise KeyReused()
            if promo is not None:
                await self.repository.redeem(
                    Redemption(
                        uuid7(),
                        promo.id,
                        viewer_id,
                        creator,
                        TargetKind.BUNDLE,
                        locked.id,
                        locked.price,
                        discount,
                        price,
                        sale.fee,
                        transfer.id,
                        now,
                    )
                )
            granted = await self.unlocks.grant_lifetime([(viewer_id, video_id) for video_id in locked.video_ids])
            event = {
                "bundle_id": str(locked.id),
                "title": locked.title,
                "points": price,
                "net": sale.net,
                "discount": discount,
                "video_ids": [str(video_id) for video_id in locked.video_ids],  # analytics shares it among them
            }
            await self.bus.publish_all(
                [
                    (topic_for(creator), BUNDLE_SALE_EVENT, event),
                    (wallet_topic(viewer_id), WALLET_CHANGED_EVENT, {"kind": BUNDLE_KIND}),
                ]
            )
        return BundleOutcome(purchase, await self._view(locked, viewer_id), granted, False)

    # -- creators: codes --------------------------------------------------------------------------------

    async def create_code(
        self, creator_id: UUID, code: str, kind: str, amount: str, target: str, max_uses: str, expires: str
    ) -> PromoCode:
        """A new code for one of the creator's videos or bundles. Raises InvalidOffer (a message per field;
        nothing stored). Membership tiers (target kind "tier") are for the members feature to add."""
        fields = check_code(code, kind, amount, target, max_uses, expires, self.clock.now())
        target_id = await self._target_of(creator_id, fields)
        made = PromoCode(
            uuid7(),
            creator_id,
            fields.code,
            fields.kind,
            fields.amount,
            fields.target_kind,
            target_id,
            fields.max_uses,
            0,
            fields.expires_at,
            self.clock.now(),
        )
        if not await self.repository.add_code(made):
            raise InvalidOffer({"code": "You already have a code spelled like that."})
        return made

    async def _target_of(self, creator_id: UUID, fields: CodeFields) -> UUID:
        if fields.target_kind is TargetKind.TIER:
            try:
                tier = await self.memberships.tier(UUID(fields.target))
            except ValueError:
                tier = None
            if tier is None or tier.creator_id != creator_id or not tier.on_sale:
                raise InvalidOffer({"target": "Choose one of your membership tiers."})
            return tier.id
        if fields.target_kind is TargetKind.BUNDLE:
            bundle = await self.repository.bundle(fields.target)
            if bundle is None or bundle.creator_id != creator_id:
                raise InvalidOffer({"target": "Choose one of your bundles."})
            return bundle.id
        video = await self.studio.video_by_public_id(fields.target)
        if video is None or video.owner_id != creator_id:
            raise InvalidOffer({"target": "Choose one of your videos."})
        return video.id

    async def codes_of(self, creator_id: UUID) -> list[PromoCode]:
        return await self.repository.codes_of(creator_id)

    async def delete_code(self, creator_id: UUID, code_id: UUID) -> None:
        """Delete an unused code of the creator. Raises CodeNotFound (another's code, or none) and
        CodeInUse (a used code stays: its redemptions name it)."""
        code = next((c for c in await self.repository.codes_of(creator_id) if c.id == code_id), None)
        if code is None:
            raise CodeNotFound()
        if code.uses or not await self.repository.delete_code(creator_id, code_id):
            raise CodeInUse()

    # -- viewers: codes ---------------------------------------------------------------------------------

    async def _count_code_try(self, viewer_id: UUID) -> None:
        if self.limiter is None:
            return
        allowance = await self.limiter.hit(f"promo-codes:viewer:{viewer_id}", self.policy.code_tries_per_minute, 60)
        if not allowance.allowed:
            raise CodeGuessesThrottled(
                f"Too many codes tried. Please wait {allowance.retry_after} seconds and try again.",
                retry_after=allowance.retry_after,
            )

    async def quote_video_code(self, viewer_id: UUID, public_id: str, code: str) -> tuple[VideoOffers, CodeQuote]:
        """The video's offers with the code applied, to show before the click (nothing is taken yet).
        Counts one try against guessing; raises CodeGuessesThrottled or a CodeRefused."""
        await self._count_code_try(viewer_id)
        offers = await self.video_offers(viewer_id, public_id)
        video = offers.panel.video
        found = await self.repository.codes_named(normalize_code(code))
        promo = check_entered_code(found, video.owner_id, TargetKind.VIDEO, video.id, self.clock.now())
        choices = tuple(CodeChoice(c, promo.discount_on(c.price)) for c in offers.panel.choices)
        return offers, CodeQuote(promo, choices)

    async def quote_bundle_code(self, viewer_id: UUID, public_id: str, code: str) -> tuple[BundleView, PromoCode, int]:
        """The bundle with the code applied: the view, the code and the price to pay."""
        await self._count_code_try(viewer_id)
        view = await self.bundle_view(viewer_id, public_id)
        found = await self.repository.codes_named(normalize_code(code))
        promo = check_entered_code(found, view.bundle.creator_id, TargetKind.BUNDLE, view.bundle.id, self.clock.now())
        return view, promo, view.bundle.price - promo.discount_on(view.bundle.price)

    async def quote_tier_code(self, viewer_id: UUID, tiers: Sequence[Tier], code: str) -> TierQuote:
        """The first-month price of the one tier among `tiers` (a membership panel's) the code is for, to
        show before the click (nothing is taken yet): (code, tier, price). Counts one try against guessing;
        raises CodeGuessesThrottled or a CodeRefused (CodeForSomethingElse when it is for none of them)."""
        await self._count_code_try(viewer_id)
        if not tiers:
            raise CodeForSomethingElse()
        found = await self.repository.codes_named(normalize_code(code))
        now = self.clock.now()
        mine = next((c for c in found if c.creator_id == tiers[0].creator_id), None)
        tier = next((t for t in tiers if mine is not None and t.id == mine.target_id), tiers[0])
        promo = check_entered_code(found, tier.creator_id, TargetKind.TIER, tier.id, now)
        return TierQuote(promo, tier, tier.price - promo.discount_on(tier.price))

    async def join_with_code(
        self, viewer_id: UUID, tier_id: UUID, key: str, shown_price: str | int, code: str
    ) -> JoinResult:
        """Join the tier (features/memberships) with the code's discount on the first month, taken under the
        membership's lock: the charge is at most `shown_price`, the code's use counted once. Raises what
        MembershipService.join raises, CodeGuessesThrottled, and a CodeRefused when the code can no longer
        be used."""
        await self._count_code_try(viewer_id)
        return await self.memberships.join(
            viewer_id, tier_id, key, shown_price, discount=TierCodeDiscount(self.repository, code, self.clock)
        )

    async def unlock_with_code(
        self, viewer_id: UUID, public_id: str, offer: str, key: str, shown_price: str | int, code: str
    ) -> UnlockOutcome:
        """The unlock (features/unlocks), with the code's discount taken under its purchase lock. Raises
        what UnlockService.unlock raises, CodeGuessesThrottled, and a CodeRefused when the code can no
        longer be used."""
        await self._count_code_try(viewer_id)
        return await self.unlocks.unlock(
            viewer_id, public_id, offer, key, shown_price, discount=CodeDiscount(self.repository, code, self.clock)
        )

    # -- take-downs (the moderation feature calls this inside its take-down transaction) ---------------

    async def refund_bundle_shares(self, video: Video, since: datetime, reason: str) -> tuple[int, int]:
        """Staff took `video` down: every purchase made at or after `since` of a bundle that held it when
        it was bought gets the video's share back, in points: `floor(points paid / videos the bundle held
        when it was bought)`, the fee part in proportion (the creator's share from their earnings, which
        may go below zero, the fee from the platform's revenue). A video added after the purchase (the
        buyer got it free) gives nothing back, videos taken out of the bundle since do not change the
        share, and a purchase never gets back more than was paid for it. Once per purchase and video
        (ledger key `takedown-refund:bundle:<purchase>:<video>`): a repeated take-down refunds nothing
        twice. The bundle's other videos stay the buyer's. Returns (purchases refunded, points refunded)."""
        refunded = points = 0
        until = self.clock.now() + timedelta(seconds=1)
        for bundle in await self.repository.bundles_with(video.id):
            added_at = await self.repository.added_at(bundle.id, video.id)
            if not bundle.video_ids or added_at is None:
                continue
            for purchase in await self.repository.purchases_of_creator(bundle.creator_id, since, until):
                if purchase.bundle_id != bundle.id or added_at > purchase.created_at:
                    continue
                key = f"takedown-refund:bundle:{purchase.id}:{video.id}"
                if await self.ledger.transfer_by_key(key) is not None:
                    continue
                share = await self._bundle_share(purchase, len(bundle.video_ids))
                if share <= 0:
                    continue
                fee = purchase.fee * share // purchase.points
                revenue = AccountRef.platform_revenue_for(purchase.creator_id)
                legs = []
                if share > fee:
                    legs.append(Leg(AccountRef.earnings(purchase.creator_id), revenue, share - fee))
                legs.append(Leg(revenue, AccountRef.wallet(purchase.viewer_id), share))
                metadata = {
                    "video_id": str(video.id),
                    "bundle_id": str(bundle.id),
                    "bundle_purchase_id": str(purchase.id),
                    "memo": f"{video.title} (in the bundle {bundle.title})",
                    "reason": reason,
                }
                async with self.uow.atomic():
                    await self.ledger.transfer(
                        key,
                        REFUND_KIND,  # the take-down's own refund kind (features/unlocks)
                        legs,
                        metadata,
                        allow_negative=frozenset({AccountRef.earnings(purchase.creator_id)}),
                    )
                    await self.bus.publish_all(
                        [
                            (wallet_topic(purchase.viewer_id), WALLET_CHANGED_EVENT, {"kind": REFUND_KIND}),
                            # the creator's analytics and dashboard take it off their earnings
                            (
                                topic_for(purchase.creator_id),
                                REFUND_EVENT,
                                {"video_id": str(video.id), "points": share, "net": max(0, share - fee)},
                            ),
                        ]
                    )
                refunded += 1
                points += share
        return refunded, points

    async def _bundle_share(self, purchase: BundlePurchase, videos_now: int) -> int:
        """One video's share of a bundle purchase: the points paid over the videos the bundle held when it
        was bought (its transfer says; else the videos it holds now), no more than what earlier take-downs
        left of the purchase."""
        sale = await self.ledger.transfer_by_key(f"bundle:{purchase.viewer_id}:{purchase.idempotency_key}")
        held = whole_or_none(sale.metadata.get("videos")) if sale is not None else None
        share = purchase.points // (held or videos_now)
        given_back = sum(
            transfer.net(AccountRef.wallet(purchase.viewer_id))
            for transfer in await self.ledger.transfers_with_metadata("bundle_purchase_id", str(purchase.id))
            if transfer.kind == REFUND_KIND
        )
        return min(share, purchase.points - given_back)

    # -- a viewer's own ---------------------------------------------------------------------------------

    async def purchases_of_viewer(self, viewer_id: UUID) -> list[BundlePurchase]:
        """Every bundle the viewer bought, oldest first (the privacy export)."""
        return await self.repository.purchases_of_viewer(viewer_id)

    async def redemptions_of_viewer(self, viewer_id: UUID) -> list[Redemption]:
        """Every promo code the viewer used, oldest first (the privacy export)."""
        return await self.repository.redemptions_of_viewer(viewer_id)

    async def bundle_titles(self, bundle_ids: set[UUID]) -> dict[UUID, str]:
        """The titles of these bundles (a bundle gone is left out)."""
        found = {}
        for bundle_id in bundle_ids:
            bundle = await self.repository.bundle_by_id(bundle_id)
            if bundle is not None:
                found[bundle_id] = bundle.title
        return found

    async def code_names(self, code_ids: set[UUID]) -> dict[UUID, str]:
        """The codes (as typed, upper-case) of these promo codes (a deleted code is left out)."""
        return {code_id: code.code for code_id, code in (await self.repository.codes_by_id(sorted(code_ids))).items()}

    async def creators_bought_from(self, viewer_id: UUID) -> set[UUID]:
        """The creators whose bundles the viewer bought (preferences: picks)."""
        return {p.creator_id for p in await self.repository.purchases_of_viewer(viewer_id)}

    # -- figures ----------------------------------------------------------------------------------------

    async def sales(self, creator_id: UUID, since: datetime | None = None, until: datetime | None = None) -> OfferSales:
        """Bundle sales and code redemptions of the creator in [since, until) (default: the last 30 days)."""
        now = self.clock.now()
        return await self.repository.sales(
            creator_id, since or now - timedelta(days=30), until or now + timedelta(seconds=1)
        )

    async def statement(self, creator_id: UUID, since: datetime, until: datetime) -> list[SaleLine]:
        """Every bundle sale and every code redemption on a single video or a tier's first month in
        [since, until), oldest first, each with its list price, discount, points paid and fee (net =
        points - fee)."""
        bought = await self.repository.purchases_of_creator(creator_id, since, until)
        used = await self.repository.redemptions_of_creator(creator_id, since, until, TargetKind.VIDEO)
        joined = await self.repository.redemptions_of_creator(creator_id, since, until, TargetKind.TIER)
        code_ids = [p.code_id for p in bought if p.code_id] + [r.code_id for r in used + joined]
        codes = await self.repository.codes_by_id(list(dict.fromkeys(code_ids)))
        titles = {b.id: b.title for b in await self.repository.bundles_of(creator_id)}
        videos = await self.studio.summaries_by_id({r.target_id for r in used})
        lines = [
            SaleLine(
                p.created_at,
                "bundle",
                titles.get(p.bundle_id, "A bundle"),
                codes[p.code_id].code if p.code_id and p.code_id in codes else "",
                p.list_price,
                p.discount,
                p.points,
                p.fee,
            )
            for p in bought
        ]
        lines += [
            SaleLine(
                r.created_at,
                "video",
                videos[r.target_id].title if r.target_id in videos else "A video",
                codes[r.code_id].code if r.code_id in codes else "",
                r.list_price,
                r.discount,
                r.points,
                r.fee,
            )
            for r in used
        ]
        tiers = {r.target_id: await self.memberships.tier(r.target_id) for r in joined}
        lines += [
            SaleLine(
                r.created_at,
                "membership",
                f"{tier.name} (first month)" if (tier := tiers.get(r.target_id)) else "A membership tier",
                codes[r.code_id].code if r.code_id in codes else "",
                r.list_price,
                r.discount,
                r.points,
                r.fee,
            )
            for r in joined
        ]
        return sorted(lines, key=lambda line: line.at)

    async def statement_csv(self, creator_id: UUID, since: datetime, until: datetime) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["time_utc", "kind", "title", "code", "list_price", "discount", "points_paid", "fee", "net"])
        for line in await self.statement(creator_id, since, until):
            title = csv_text(line.title)
            writer.writerow(
                [
                    line.at.strftime("%Y-%m-%d %H:%M:%S"),
                    line.what,
                    title,
                    line.code,
                    line.list_price,
                    line.discount,
                    line.points,
                    line.fee,
                    line.net,
                ]
            )
        return out.getvalue()


TILE_TEMPLATE = "offers/_dash_tile.html"


class OffersLive:
    """The dashboard's offers tile (a LivePart): bundle sales and code redemptions, re-rendered when a
    bundle sells or a sale used a code."""

    def __init__(self, offers: OffersService) -> None:
        self.offers = offers

    async def fragments(self, owner_id: UUID, event: Event) -> Sequence[LiveFragment]:
        if event.name == BUNDLE_SALE_EVENT or (event.name == SALE_EVENT and event.data.get("discount")):
            return [LiveFragment(TILE_TEMPLATE, {"sales": await self.offers.sales(owner_id), "event": event})]
        return []
