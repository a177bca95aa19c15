"""What unlocks need from the outside: storage for prices, purchases with the access they grant, and tips."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from core.ratelimit import Allowance
from features.ledger.model import Transfer
from features.studio.model import Video
from features.unlocks.model import Checkout, Discount, Entitlement, Offer, Pricing, RecordedSale, Tip, Unlock


class PricingRepository(Protocol):
    async def get(self, video_id: UUID) -> Pricing | None:
        """The video's pricing, or None when the creator has not priced it yet."""
        ...

    async def save(self, pricing: Pricing) -> None:
        """Store the pricing, replacing any earlier one of the same video."""
        ...


@dataclass(frozen=True)
class Click:
    """An unlock click prepared for its plain case (`UnlockRepository.click`): the viewer's first
    purchase of the video, with no access running, at `points` — the price the button showed — with
    `fee`, `expires_at`/`waiting` (the access bought from nothing, `model.grant_after`) and the events'
    payloads computed for that case. The repository adds the video's id, owner and title."""

    viewer_id: UUID
    public_id: str
    offer: Offer
    points: int
    fee: int
    key: str
    unlock_id: UUID
    transfer_id: UUID
    transfer_key: str
    now: datetime
    expires_at: datetime | None
    waiting: timedelta | None
    user_topic: str  # the creator's topic is this followed by the owner's id (service.topic_for)
    sale_event: str
    sale_data: Mapping[str, Any]  # without video_id and title, which the repository adds
    wallet_topic: str
    wallet_event: str
    wallet_data: Mapping[str, Any]
    # The viewer's abuse limit (UnlockService.check_request_rate), counted in the same step; None: none.
    rate_key: str | None = None
    rate_limit: int = 0
    rate_window: int = 60


@dataclass(frozen=True)
class Clicked:
    """What `UnlockRepository.click` did: "posted" (everything written: the video, its pricing and the
    entitlement after), "insufficient" (nothing written; who lacks how many points), "throttled" (only
    the hit counted: past the limit, `throttle` says until when) or "general" (only the hit counted: the
    click is not the plain case, the caller decides it on the general path without counting again)."""

    status: str
    throttle: Allowance | None = None
    video: Video | None = None
    pricing: Pricing | None = None
    entitlement: Entitlement | None = None
    short_kind: str | None = None
    short_owner: UUID | None = None
    shortfall: int = 0


class UnlockRepository(Protocol):
    """Purchases (one per viewer and idempotency key) and the entitlements they add up to."""

    async def checkout(self, video_id: UUID, viewer_id: UUID | None, key: str = "") -> Checkout:
        """In one read: the video's pricing, the purchase `viewer_id` already made with `key` (for any
        video; None without a key), and the viewer's entitlement to the video (None for visitors)."""
        ...

    async def begin_purchase(self, video_id: UUID, viewer_id: UUID, key: str) -> Checkout:
        """Call inside the purchase's transaction: wait for, and hold until the transaction ends, the lock
        on this viewer's purchases of this video, then read the checkout as `checkout` does.

        Two purchases of one (viewer, video) are thus decided one after the other, the second seeing
        what the first committed (its purchase and the access it granted), whatever their keys."""
        ...

    async def record(
        self, unlock: Unlock, fresh_expiry: datetime | None, waiting: timedelta | None = None
    ) -> Entitlement | None:
        """Store the purchase and extend the entitlement it grants, atomically; return the entitlement.

        `fresh_expiry` is when the bought access would end on its own (None: lifetime); it merges with
        the current entitlement by `model.merged_expiry` (lifetime wins, else the later end). If the
        viewer already recorded a purchase with this idempotency key, nothing changes and None is
        returned.

        With `waiting` (a first-play rental, `model.grant_after` already merged with the current
        entitlement under the purchase lock), the entitlement becomes that waiting rental with
        `fresh_expiry` as its start deadline, unless it is a lifetime one.
        """
        ...

    async def click(self, click: Click) -> Clicked | None:
        """Call outside any transaction. Under the locks a purchase takes (the video as
        `VideoRepository.by_public_id(share_lock=True)` holds it, then the purchase lock), check that
        the click is the plain case it was prepared for — the video published, not hidden and not the
        viewer's own; the offer sold at exactly `click.points`; the key unused; no access running — and
        then record the sale as `record_sale` does, all in one step (one round trip in PostgreSQL).

        With `click.rate_key`, the click's hit on the abuse limit is counted in the same step, first
        (`RateLimiter.hit`): "throttled" past the limit, "general" when the click is anything else.

        None, having written nothing and counted nothing, when this repository cannot do it in one step:
        the caller then decides the click on the general path."""
        ...

    async def record_sale(
        self,
        transfer: Transfer,
        unlock: Unlock,
        fresh_expiry: datetime | None,
        waiting: timedelta | None,
        events: Sequence[tuple[str, str, Mapping[str, Any]]],
    ) -> RecordedSale | None:
        """Call inside the purchase's transaction, under its purchase lock, with the sale decided: post
        `transfer` (an unlock, no overdraft allowed), then — only if it was posted — `record` the
        purchase and publish `events` on the event bus, all as one step (one round trip in PostgreSQL).

        None when this repository cannot do it in one step: the caller then posts, records and
        publishes one by one. Nothing is written unless the status is "posted" or "conflict"."""
        ...

    async def lock_purchases(self, slots: Sequence[tuple[UUID, UUID]]) -> None:
        """Call inside a transaction: hold the purchase lock of each (viewer, video) — the one a purchase
        of it decides under — until the transaction ends, taken in one order, so that two holders of
        several never wait for each other in a circle (the refunds of a purchase are decided under it)."""
        ...

    async def start(self, viewer_id: UUID, video_id: UUID, now: datetime) -> Entitlement | None:
        """Call inside a transaction: under the purchase lock of (viewer, video), start the viewer's
        waiting rental of the video at `now` (`Entitlement.started`) and return it; None (nothing
        changes) when there is none waiting (already started, by another tab too; expired; none)."""
        ...

    async def entitlement(self, viewer_id: UUID, video_id: UUID) -> Entitlement | None:
        """The viewer's entitlement to the video, expired or not, or None."""
        ...

    async def grant_lifetime(self, grants: Sequence[tuple[UUID, UUID]], now: datetime) -> int:
        """Give each (viewer, video) of `grants` lifetime access (a bundle bought elsewhere paid for it):
        a new entitlement, or an existing one made lifetime; lifetime ones stay as they are. Returns how
        many changed. Call inside the caller's transaction (the purchase that paid for them)."""
        ...

    async def purchases_of_video(self, video_id: UUID, since: datetime) -> list[Unlock]:
        """Every purchase of the video made at or after `since`, oldest first."""
        ...

    async def creators_paid_by(self, viewer_id: UUID) -> set[UUID]:
        """Every creator the viewer bought an offer from."""
        ...

    async def purchases_of(self, viewer_id: UUID) -> list[Unlock]:
        """Every purchase the viewer made, oldest first."""
        ...

    async def entitlements_of(self, viewer_id: UUID) -> list[Entitlement]:
        """Every entitlement of the viewer, expired or not, oldest grant first."""
        ...

    async def creator_sales_since(self, creator_id: UUID, since: datetime) -> list[Unlock]:
        """Purchases of the creator's videos made at or after `since`, oldest first."""
        ...


class TipRepository(Protocol):
    async def add(self, tip: Tip) -> bool:
        """Store the tip; False (nothing stored) if the viewer already tipped with this idempotency key."""
        ...

    async def by_key(self, viewer_id: UUID, key: str) -> Tip | None: ...

    async def creators_tipped_by(self, viewer_id: UUID) -> set[UUID]:
        """Every creator the viewer tipped."""
        ...

    async def sent_by(self, viewer_id: UUID) -> list[Tip]:
        """The tips the viewer gave, oldest first."""
        ...

    async def received_by(self, creator_id: UUID) -> list[Tip]:
        """The tips the creator received, oldest first."""
        ...

    async def erase_messages_of(self, viewer_id: UUID) -> int:
        """Blank the messages of every tip the viewer gave (amounts stay); return how many changed."""
        ...


class DiscountHook(Protocol):
    """A price reduction another feature applies to one unlock (a promo code, features/offers), called
    by `UnlockService.unlock` inside the purchase's transaction, under its purchase lock."""

    async def reserve(
        self, viewer_id: UUID, video_id: UUID, creator_id: UUID, offer: Offer, list_price: int
    ) -> Discount:
        """Check and take the reduction for this purchase (e.g. count one use of a code, under a lock held
        until the transaction ends); raise a DomainError to refuse the click (nothing is charged). The
        discount leaves at least one point to pay."""
        ...

    async def redeemed(self, unlock: Unlock, discount: Discount) -> None:
        """The purchase was recorded at the reduced price: record the redemption in the same transaction."""
        ...


class MembershipAccess(Protocol):
    """Whether a membership lets a viewer watch a video. The memberships feature implements it; without
    it (`adapters.NoMemberships`) nobody is a member."""

    async def covers(self, viewer_id: UUID, creator_id: UUID, video_id: UUID) -> bool:
        """True when the viewer's running membership of the creator includes the video."""
        ...
