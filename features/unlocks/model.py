"""Unlocks: what a video costs, who may watch it, and the rules of buying and tipping.

A creator prices each video: free, or any of three offers — a rental for 24 hours, a rental for
30 days, or lifetime access — each a whole number of points, plus an optional free preview.

Buying an offer grants an Entitlement. Buying while a rental is still running is charged in full
and extends access to the later of the current end and `now + the new offer's duration`; lifetime
access wins over any rental. An offer that would add less than an hour (MIN_EXTENSION) of access is
not for sale to that viewer, so nobody pays a full price for minutes or nothing.

A click is charged the price its button showed, or nothing: the button carries the price, and a click
whose price is not exactly the offer's current one (changed since the page loaded, or forged) is
refused with the current offer. Of several clicks at once for one viewer and video (several tabs),
the first buys and the others find the access it granted; see UnlockService.unlock.

The platform keeps a fee of every sale: `fee = floor(price × percent / 100)` — rounding always goes
the creator's way, so a 5-point sale at 10 % leaves no fee. Tips carry no fee: creators receive
every point of a tip.

When a rental's clock starts (RENTAL_CLOCK, `RentalRules`): at the unlock (the default), or at the first
play. With `first_play`, a rental bought without access running is *waiting*: its entitlement holds the
rental's length (`Entitlement.waiting`) and ends, unstarted, `start_window` after the purchase; the first
key request for the video starts it (`Entitlement.started`), and it then lasts the rental's length. Buying
again while a rental waits keeps it waiting with the longer length and the later start deadline; buying
while a rental runs (started, or bought under `unlock`) extends it from now, as under `unlock` (`grant_after`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from core.amounts import matches_shown
from core.errors import Conflict, Gone, InvalidInput, NotFound, TooManyRequests
from core.numbers import InvalidNumber, parse_whole

MAX_PRICE = 100_000  # points; at 100 points per currency unit, 1,000.00 for one video
MAX_TIP_MESSAGE = 280
# Buying again must add at least this much access; less would charge a full price for minutes.
MIN_EXTENSION = timedelta(hours=1)
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class Offer(StrEnum):
    RENT_DAY = "rent_day"
    RENT_MONTH = "rent_month"
    LIFETIME = "lifetime"

    @property
    def label(self) -> str:
        """The words on the button."""
        return _LABELS[self]

    @property
    def duration(self) -> timedelta | None:
        """How long the access lasts; None for lifetime."""
        return _DURATIONS[self]

    @property
    def access_words(self) -> str:
        return _ACCESS_WORDS[self]


OFFERS: tuple[Offer, ...] = (Offer.RENT_DAY, Offer.RENT_MONTH, Offer.LIFETIME)
_LABELS = {Offer.RENT_DAY: "Rent 24 h", Offer.RENT_MONTH: "Rent 30 days", Offer.LIFETIME: "Buy for life"}
_DURATIONS: dict[Offer, timedelta | None] = {
    Offer.RENT_DAY: timedelta(hours=24),
    Offer.RENT_MONTH: timedelta(days=30),
    Offer.LIFETIME: None,
}
_ACCESS_WORDS = {Offer.RENT_DAY: "24 hours", Offer.RENT_MONTH: "30 days", Offer.LIFETIME: "lifetime access"}


# -- errors -----------------------------------------------------------------------------------------


class RentalClock(StrEnum):
    """When a rental's time starts running (the RENTAL_CLOCK setting)."""

    UNLOCK = "unlock"
    FIRST_PLAY = "first_play"


@dataclass(frozen=True)
class RentalRules:
    """RENTAL_CLOCK and RENTAL_START_WINDOW_DAYS: when a rental starts, and how long a rental bought under
    `first_play` may wait for its first play."""

    clock: RentalClock = RentalClock.UNLOCK
    start_window: timedelta = timedelta(days=30)

    @property
    def first_play(self) -> bool:
        return self.clock is RentalClock.FIRST_PLAY


def period_words(period: timedelta) -> str:
    """ "24-hour", "30-day": a rental's length as an adjective."""
    hours = int(period.total_seconds() // 3600)
    if hours % 24 or hours < 48:
        return f"{hours}-hour"
    return f"{hours // 24}-day"


def time_left_words(left: timedelta) -> str:
    """ "5 hours left", "12 days left" (hours below two days, rounded up; at least one)."""
    hours = max(1, -(-int(left.total_seconds()) // 3600))
    if hours < 48:
        return f"{hours} hour{'s' if hours != 1 else ''} left"
    days = hours // 24
    return f"{days} days left"


class VideoUnavailable(NotFound):
    message = "We could not find that video."


class VideoRemoved(Gone):
    """The video was taken down by moderators, or its creator's account is suspended (410)."""

    message = "This video was removed by Hypha's moderators."


class PurchasesThrottled(TooManyRequests):
    message = "Too many unlock and tip requests. Please wait a moment and try again."


class InvalidPricing(InvalidInput):
    """The pricing form did not validate; `errors` maps field names to messages."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = dict(errors)


class NotForSale(Conflict):
    message = "Set a price or make the video free before publishing it."


class OfferNotAvailable(Conflict):
    message = "That offer is not available for this video."


class NothingToExtend(Conflict):
    """The viewer's current access already lasts at least as long as the offer would give (e.g. a second
    tab clicked the offer the first one just bought). Nothing is charged."""

    message = "You already have access for longer than this offer would give. Nothing was charged."


class PriceChanged(Conflict):
    """The click's price is not exactly the offer's current price: the creator changed it after the page
    loaded, the page is stale, or the number was forged. Nothing is charged; the viewer sees the current
    offer and may click again."""

    def __init__(self, offer: Offer, price: int) -> None:
        super().__init__(
            f"{offer.label} is now {price:,} points, not the price on the button you clicked. "
            "Nothing was charged: check the offer below and click again if you still want it."
        )
        self.offer = offer
        self.price = price


class OwnVideo(Conflict):
    message = "This is your own video: it is always unlocked for you."


class KeyReused(Conflict):
    message = "This button was already used for another purchase. Reload the page and try again."


class InvalidKey(InvalidInput):
    message = "This button has expired. Reload the page and try again."


class TipYourself(Conflict):
    message = "You cannot tip yourself."


class InvalidTip(InvalidInput):
    message = "Choose one of the tip amounts."


# -- prices -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pricing:
    """What a video costs. `prices` holds only the offers the creator sells."""

    video_id: UUID
    free: bool = False
    prices: Mapping[Offer, int] = field(default_factory=dict)
    preview_seconds: int = 0
    updated_at: datetime | None = None

    @property
    def offers(self) -> list[tuple[Offer, int]]:
        """The offers on sale with their prices, shortest access first."""
        return [(offer, self.prices[offer]) for offer in OFFERS if offer in self.prices]

    @property
    def sellable(self) -> bool:
        """Free, or at least one offer: a published video must be watchable by someone."""
        return self.free or bool(self.prices)

    @property
    def has_preview(self) -> bool:
        return not self.free and self.preview_seconds > 0

    def price_of(self, offer: Offer) -> int:
        """The offer's price; raises OfferNotAvailable when the video is free or the offer is not sold."""
        if self.free or offer not in self.prices:
            raise OfferNotAvailable()
        return self.prices[offer]


def _whole_number(text: str) -> int | None:
    """A whole number as a creator types it ("1200" or "1,200"); None for anything else."""
    try:
        return parse_whole(text.strip(), maximum=999_999_999, grouping=True)
    except InvalidNumber:
        return None


def check_pricing(
    video_id: UUID,
    *,
    free: bool,
    prices: Mapping[Offer, str],
    preview: str,
    duration: float | None,
    now: datetime,
) -> Pricing:
    """The Pricing a creator's form describes; raises InvalidPricing with a message per field.

    A blank price means the offer is not sold. A free video sells nothing and needs no preview, so
    its prices and preview are ignored. The preview lasts from 0 up to the video's length.
    """
    errors: dict[str, str] = {}
    parsed: dict[Offer, int] = {}
    if not free:
        for offer in OFFERS:
            raw = prices.get(offer, "").strip()
            if not raw:
                continue
            value = _whole_number(raw)
            if value is None or not 1 <= value <= MAX_PRICE:
                errors[offer.value] = f"Enter a whole number of points from 1 to {MAX_PRICE:,}, or leave it blank."
            else:
                parsed[offer] = value
        if not parsed and not errors:
            errors["form"] = "Choose at least one offer, or make the video free."
    preview_seconds = 0
    raw_preview = preview.strip()
    if raw_preview and not free:
        value = _whole_number(raw_preview)
        limit = int(duration) if duration else None
        if value is None:
            errors["preview_seconds"] = "Enter the preview length as a whole number of seconds."
        elif limit is not None and value > limit:
            errors["preview_seconds"] = f"The preview cannot be longer than the video ({limit} seconds)."
        elif limit is None and value > 0:
            errors["preview_seconds"] = "A preview can be set once the video has been processed."
        else:
            preview_seconds = value
    if errors:
        raise InvalidPricing(errors)
    return Pricing(video_id, free, parsed, preview_seconds, now)


@dataclass(frozen=True)
class Split:
    """Where the points of one sale go."""

    price: int
    fee: int

    @property
    def net(self) -> int:
        """What the creator keeps."""
        return self.price - self.fee


def split(price: int, fee_percent: int) -> Split:
    """The platform's fee of a sale: `floor(price × fee_percent / 100)` — rounding favours the creator."""
    if price <= 0 or not 0 <= fee_percent <= 100:
        raise ValueError("a sale has a positive price and a fee between 0 and 100 percent")
    return Split(price, price * fee_percent // 100)


# -- access ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entitlement:
    """A viewer's right to watch a video fully: until `expires_at`, or for life when it is None."""

    viewer_id: UUID
    video_id: UUID
    offer: Offer
    expires_at: datetime | None
    granted_at: datetime
    updated_at: datetime
    # A rental bought under RENTAL_CLOCK=first_play that has not been played yet: how long it will run once
    # started (its `expires_at` is meanwhile the deadline to start it). None once started, or otherwise.
    waiting: timedelta | None = None
    started_at: datetime | None = None  # when a first-play rental was first played

    @property
    def lifetime(self) -> bool:
        return self.expires_at is None

    def active(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now

    def waits(self, now: datetime) -> bool:
        """A first-play rental not started yet, whose start deadline has not passed."""
        return self.waiting is not None and self.active(now)

    def started(self, now: datetime) -> Entitlement:
        """The entitlement once played at `now`: a waiting rental then runs its length from now."""
        if self.waiting is None or not self.active(now):
            return self
        return replace(self, expires_at=now + self.waiting, waiting=None, started_at=now, updated_at=now)


def fresh_expiry(offer: Offer, now: datetime) -> datetime | None:
    """When access bought now ends, on its own (None: never)."""
    duration = offer.duration
    return None if duration is None else now + duration


def rental_running(
    unlock: Unlock, now: datetime, entitlement: Entitlement | None = None, rules: RentalRules | None = None
) -> bool:
    """True for a rental whose own period has not ended at `now`: from its purchase, or — for a rental
    of the first-play clock (`entitlement` waiting or started at a first play) — while the access it
    belongs to lasts, a rental not started yet counting as running."""
    duration = unlock.offer.duration
    if duration is None:
        return False
    if entitlement is not None and (entitlement.waiting is not None or entitlement.started_at is not None):
        window = (rules or RentalRules()).start_window
        return entitlement.active(now) and not entitlement.lifetime and unlock.created_at + window + duration > now
    return unlock.created_at + duration > now


LONGEST_RENTAL = max(d for d in _DURATIONS.values() if d is not None)


@dataclass(frozen=True)
class Grant:
    """The access a purchase leaves: until `expires_at` (None: for life); when `waiting` is set, a rental
    that runs that long from its first play, to be started before `expires_at`."""

    expires_at: datetime | None
    waiting: timedelta | None = None


def grant_after(current: Entitlement | None, offer: Offer, now: datetime, rules: RentalRules) -> Grant:
    """The access after buying `offer` now on top of `current`: lifetime wins; a running rental extends
    to the later of its end and now + the offer (both clocks); a waiting one keeps waiting, with the
    longer length and the later start deadline; no access running: from now (`unlock`), or waiting
    for the first play within the start window (`first_play`)."""
    duration = offer.duration
    active = current is not None and current.active(now)
    if duration is None or (current is not None and active and current.expires_at is None):
        return Grant(None)
    if current is not None and active and current.waiting is not None:
        assert current.expires_at is not None
        return Grant(max(current.expires_at, now + rules.start_window), max(current.waiting, duration))
    if current is not None and active:
        return Grant(merged_expiry(current.expires_at, True, now + duration))
    if rules.first_play:
        return Grant(now + rules.start_window, duration)
    return Grant(now + duration)


def merged_expiry(current: datetime | None, current_active: bool, fresh: datetime | None) -> datetime | None:
    """The end of access after a purchase: lifetime wins, otherwise the later of the two ends.

    The repositories apply this same rule atomically when they record a purchase.
    """
    if fresh is None or (current_active and current is None):
        return None
    if not current_active or current is None:
        return fresh
    return max(current, fresh)


def expiry_after(current: Entitlement | None, offer: Offer, now: datetime) -> datetime | None:
    """When access would end if `offer` were bought now on top of `current`."""
    active = current is not None and current.active(now)
    return merged_expiry(current.expires_at if current else None, active, fresh_expiry(offer, now))


def extends(current: Entitlement | None, offer: Offer, now: datetime, rules: RentalRules | None = None) -> bool:
    """Whether buying `offer` now gives the viewer at least MIN_EXTENSION more than they already have
    (of a waiting rental: MIN_EXTENSION more length; a later start deadline alone is not worth a price)."""
    if current is None or not current.active(now):
        return True
    if current.expires_at is None:
        return False
    after = grant_after(current, offer, now, rules or RentalRules())
    if after.expires_at is None:
        return True
    if current.waiting is not None:
        return after.waiting is not None and after.waiting >= current.waiting + MIN_EXTENSION
    return after.expires_at >= current.expires_at + MIN_EXTENSION


class AccessLevel(StrEnum):
    OWNER = "owner"  # the creator, always
    FREE = "free"  # a free video, everyone
    ENTITLED = "entitled"  # an unexpired entitlement
    MEMBER = "member"  # a running membership of the creator whose tier includes the video (features/memberships)
    PREVIEW = "preview"  # the first seconds only
    LOCKED = "locked"  # nothing until an offer is bought


@dataclass(frozen=True)
class Access:
    """What one viewer may watch of one video, right now."""

    level: AccessLevel
    pricing: Pricing
    entitlement: Entitlement | None = None

    @property
    def full(self) -> bool:
        return self.level in (AccessLevel.OWNER, AccessLevel.FREE, AccessLevel.ENTITLED, AccessLevel.MEMBER)

    @property
    def preview(self) -> bool:
        return self.level is AccessLevel.PREVIEW

    @property
    def preview_seconds(self) -> int:
        return self.pricing.preview_seconds if self.preview else 0


def decide_access(
    viewer_id: UUID | None,
    owner_id: UUID,
    pricing: Pricing,
    entitlement: Entitlement | None,
    now: datetime,
    member: bool = False,
) -> Access:
    """The owner always watches; everyone watches a free video; an unexpired entitlement watches; a
    member whose membership includes the video watches; others get the free preview if there is one,
    else nothing."""
    if viewer_id is not None and viewer_id == owner_id:
        return Access(AccessLevel.OWNER, pricing, entitlement)
    if pricing.free:
        return Access(AccessLevel.FREE, pricing, entitlement)
    if entitlement is not None and entitlement.active(now):
        return Access(AccessLevel.ENTITLED, pricing, entitlement)
    if member:
        return Access(AccessLevel.MEMBER, pricing, entitlement)
    if pricing.has_preview:
        return Access(AccessLevel.PREVIEW, pricing, entitlement)
    return Access(AccessLevel.LOCKED, pricing, entitlement)


@dataclass(frozen=True)
class OfferChoice:
    """One offer as a viewer sees it: its price, and whether and until when it would give access."""

    offer: Offer
    price: int
    available: bool
    access_until: datetime | None  # None: for life; of a rental that waits for its first play: the start deadline
    starts_on_play: bool = False  # the rental's time starts at the first play, not at the click

    @property
    def label(self) -> str:
        return self.offer.label


def offer_choices(
    pricing: Pricing, current: Entitlement | None, now: datetime, rules: RentalRules | None = None
) -> list[OfferChoice]:
    rules = rules or RentalRules()
    choices = []
    for offer, price in pricing.offers:
        grant = grant_after(current, offer, now, rules)
        choices.append(
            OfferChoice(offer, price, extends(current, offer, now, rules), grant.expires_at, grant.waiting is not None)
        )
    return choices


# -- purchases and tips ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unlock:
    """One purchase of an offer, recorded once per (viewer, idempotency key)."""

    id: UUID
    idempotency_key: str
    viewer_id: UUID
    video_id: UUID
    creator_id: UUID
    offer: Offer
    points: int
    fee: int
    transfer_id: UUID
    created_at: datetime


@dataclass(frozen=True)
class Discount:
    """Points off an offer's list price for one purchase, granted by another feature (a promo code:
    features/offers) through the `DiscountHook` the unlock is given. `metadata` goes on the ledger
    transfer beside the list price and the discount, so the creator's statement can show list price,
    discount and net."""

    points: int
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedSale:
    """What `UnlockRepository.record_sale` did with a decided sale, in one step.

    status: "posted" (transfer, purchase, entitlement and events written; `entitlement` is the access
    after it), "insufficient" (nothing written; `short_kind`/`short_owner` lack `shortfall` points),
    "exists" (nothing written: the transfer's key is used already) or "conflict" (the purchase key was
    recorded first by a concurrent click of another video: no entitlement, no events)."""

    status: str
    entitlement: Entitlement | None = None
    short_kind: str | None = None
    short_owner: UUID | None = None
    shortfall: int = 0


@dataclass(frozen=True)
class Checkout:
    """What deciding about one viewer and one video needs, read together: the video's pricing (None:
    never priced), the purchase the viewer already made with the click's idempotency key, and the
    viewer's entitlement."""

    pricing: Pricing | None
    prior: Unlock | None
    entitlement: Entitlement | None


@dataclass(frozen=True)
class UnlockResult:
    unlock: Unlock
    entitlement: Entitlement
    replayed: bool  # True when the key had been used already: nothing was charged this time


@dataclass(frozen=True)
class Tip:
    id: UUID
    idempotency_key: str
    viewer_id: UUID
    creator_id: UUID
    video_id: UUID
    amount: int
    message: str
    transfer_id: UUID
    created_at: datetime


@dataclass(frozen=True)
class TipResult:
    tip: Tip
    replayed: bool


def check_key(key: str) -> str:
    """An idempotency key as the page renders it; raises InvalidKey otherwise."""
    if not KEY_PATTERN.fullmatch(key or ""):
        raise InvalidKey()
    return key


def shows_price(shown: str | int, price: int) -> bool:
    """Whether a click's price is the offer's price exactly as the page renders it (core.amounts)."""
    return matches_shown(shown, price)


def parse_offer(value: str) -> Offer:
    try:
        return Offer(value)
    except ValueError as error:
        raise OfferNotAvailable() from error


def parse_tip_amounts(text: str) -> tuple[int, ...]:
    """ "10,50,100" → (10, 50, 100); raises ValueError for anything else."""
    try:
        amounts = tuple(sorted({parse_whole(part, name="A tip amount") for part in text.split(",") if part.strip()}))
    except InvalidNumber as error:
        raise ValueError(f"tip amounts: {error.message}") from error
    if not amounts or any(a <= 0 or a > MAX_PRICE for a in amounts):
        raise ValueError("tip amounts are positive whole numbers of points, e.g. 10,50,100")
    return amounts


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def check_tip(amount: str | int, allowed: tuple[int, ...], message: str) -> tuple[int, str]:
    """The amount — exactly one of `allowed` as its button renders it (core.amounts.matches_shown: no
    "٥٠", "5_0" or "+50" that `int()` would read) — and the cleaned message; raises InvalidTip."""
    value = next((a for a in allowed if matches_shown(amount, a)), None)
    if value is None:
        raise InvalidTip()
    cleaned = _CONTROL.sub("", message).strip()
    if len(cleaned) > MAX_TIP_MESSAGE:
        raise InvalidTip(f"Keep the message to {MAX_TIP_MESSAGE} characters or fewer.")
    return value, cleaned
