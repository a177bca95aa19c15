"""Offers: bundles (a creator's videos sold together for one lifetime price) and promo codes (points or a
percentage off one video, one bundle, or — once memberships exist — a tier's first month).

Rules stated to viewers:
- A bundle grants lifetime access to every video in it, also to videos the creator adds later (granted
  when they are added). Its price is the same for everyone: videos a buyer already owns for life do not
  lower it (the page says which ones they own before the click).
- A code never makes something free: at least one point is paid (a 100 % code charges one point).
- Codes are case-insensitive; each use is counted under a lock, so a code's last use is taken once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID

from core.amounts import matches_shown
from core.errors import Conflict, InvalidInput, NotFound, TooManyRequests
from core.numbers import InvalidNumber, parse_whole
from core.text import one_line

MAX_BUNDLE_PRICE = 100_000
MAX_TITLE = 120
MAX_DESCRIPTION = 2000
MAX_CODE_USES = 1_000_000
CODE_PATTERN = re.compile(r"^[A-Z0-9_-]{3,32}$")


class DiscountKind(StrEnum):
    PERCENT = "percent"
    POINTS = "points"


class TargetKind(StrEnum):
    VIDEO = "video"
    BUNDLE = "bundle"
    TIER = "tier"  # a membership tier's first month (renewals are never reduced)


# -- errors -----------------------------------------------------------------------------------------


class BundleNotFound(NotFound):
    message = "We could not find that bundle."


class InvalidOffer(InvalidInput):
    """A creator's bundle or code form did not validate; `errors` maps field names to messages."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = dict(errors)


class CodeNotFound(NotFound):
    message = "We could not find that code."


class CodeInUse(Conflict):
    message = "A code that was used stays, so its sales keep their record."


class CodeRefused(InvalidInput):
    """A code a viewer entered cannot be used here (unknown, expired, used up, for something else)."""


class UnknownCode(CodeRefused):
    message = "That code does not exist. Check the spelling and try again."


class CodeExpired(CodeRefused):
    message = "That code has expired."


class CodeUsedUp(CodeRefused):
    message = "That code has been used up."


class CodeForAnotherCreator(CodeRefused):
    message = "That code belongs to another creator: it cannot be used here."


class CodeForSomethingElse(CodeRefused):
    message = "That code is for another of this creator's offers, not this one."


class CodeGuessesThrottled(TooManyRequests):
    message = "Too many codes tried. Please wait a moment and try again."


class BundlePriceChanged(Conflict):
    def __init__(self, price: int) -> None:
        super().__init__(
            f"This bundle now costs {price:,} points, not the price on the button you clicked. "
            "Nothing was charged: check the price and click again if you still want it."
        )
        self.price = price


class BundleChanged(Conflict):
    """The bundle lost videos the page showed before the click reached it (the creator took them out)."""

    def __init__(self, missing: int) -> None:
        videos = "1 video" if missing == 1 else f"{missing:,} videos"
        super().__init__(
            f"Since this page was loaded, the creator took {videos} out of this bundle. Nothing was charged: "
            "reload the page to see what it holds now, and click again if you still want it."
        )
        self.missing = missing


class OwnBundle(Conflict):
    message = "This is your own bundle: its videos are always unlocked for you."


class AlreadyBought(Conflict):
    message = "You already bought this bundle: every video in it is yours for life."


class EmptyBundle(Conflict):
    message = "This bundle has no videos yet."


class BundleNotOnSale(Conflict):
    """Moderators hide a video of the bundle (taken down, or its creator suspended), or none of its videos
    is published: the bundle would be paid in full for videos nobody can watch, so it is not sold (the
    click charges nothing) until the creator takes the hidden videos out."""

    message = "This bundle is not on sale right now. Nothing was charged."


# -- bundles ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bundle:
    id: UUID
    public_id: str
    creator_id: UUID
    title: str
    description: str
    price: int
    created_at: datetime
    updated_at: datetime
    video_ids: tuple[UUID, ...] = ()  # in the order they were added


@dataclass(frozen=True)
class BundlePurchase:
    id: UUID
    idempotency_key: str
    bundle_id: UUID
    viewer_id: UUID
    creator_id: UUID
    list_price: int
    discount: int
    points: int
    fee: int
    code_id: UUID | None
    transfer_id: UUID
    created_at: datetime


@dataclass(frozen=True)
class BundleItem:
    """A video of a bundle as a viewer sees it."""

    video_id: UUID
    public_id: str
    title: str
    lifetime_price: int | None  # its single lifetime price (None: not sold for life on its own)
    owned: bool  # the viewer already owns it for life (or is its creator)


@dataclass(frozen=True)
class BundleView:
    bundle: Bundle
    items: tuple[BundleItem, ...]
    bought: bool  # the viewer bought this bundle
    is_owner: bool
    not_on_sale_reason: str | None = None  # why the bundle cannot be bought now (None: it can)

    @property
    def singles_total(self) -> int:
        """The sum of the single lifetime prices of the videos sold for life on their own."""
        return sum(item.lifetime_price or 0 for item in self.items)

    @property
    def saving(self) -> int:
        """Points saved against buying each video for life on its own (0 when the bundle is not cheaper)."""
        return max(0, self.singles_total - self.bundle.price)

    @property
    def saving_percent(self) -> int:
        return self.saving * 100 // self.singles_total if self.singles_total else 0

    @property
    def owned_count(self) -> int:
        return sum(1 for item in self.items if item.owned)


def not_on_sale_reason(taken_down: int, suspended: int, published: int) -> str | None:
    """Why a bundle cannot be bought now, from how many of its videos moderators took down, how many
    are hidden because their creator is suspended, and how many are published and shown (None: it can).
    A hidden video would be paid for in full and never watched, so the bundle waits for its creator to
    take it out; a bundle with nothing published has nothing to give."""
    if suspended:
        return "This bundle is not on sale: its creator's account is suspended."
    if taken_down:
        return (
            "This bundle is not on sale: Hypha's moderators removed a video in it, and it stays off sale "
            "until its creator takes that video out."
        )
    if not published:
        return "This bundle has no published videos right now."
    return None


def _whole(text: str, maximum: int) -> int | None:
    try:
        return parse_whole(text.strip(), maximum=maximum, grouping=True)
    except InvalidNumber:
        return None


@dataclass(frozen=True)
class BundleFields:
    title: str
    description: str
    price: int


def check_bundle(title: str, description: str, price: str) -> BundleFields:
    """The bundle a creator's form describes; raises InvalidOffer with a message per field."""
    errors: dict[str, str] = {}
    title = one_line(title)
    if not title:
        errors["title"] = "Give the bundle a title."
    elif len(title) > MAX_TITLE:
        errors["title"] = f"Keep the title to {MAX_TITLE} characters or fewer."
    if len(description) > MAX_DESCRIPTION:
        errors["description"] = f"Keep the description to {MAX_DESCRIPTION:,} characters or fewer."
    value = _whole(price, MAX_BUNDLE_PRICE)
    if value is None or not 1 <= value <= MAX_BUNDLE_PRICE:
        errors["price"] = f"Enter a whole number of points from 1 to {MAX_BUNDLE_PRICE:,}."
    if errors:
        raise InvalidOffer(errors)
    assert value is not None
    return BundleFields(title, description.strip(), value)


def shows_price(shown: str | int, price: int) -> bool:
    return matches_shown(shown, price)


# -- promo codes --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromoCode:
    id: UUID
    creator_id: UUID
    code: str  # upper-case
    kind: DiscountKind
    amount: int
    target_kind: TargetKind
    target_id: UUID
    max_uses: int
    uses: int
    expires_at: datetime | None
    created_at: datetime

    @property
    def uses_left(self) -> int:
        return max(0, self.max_uses - self.uses)

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def discount_on(self, list_price: int) -> int:
        """Points off `list_price`: a percentage rounds down; at least one point is always left to pay."""
        off = list_price * self.amount // 100 if self.kind is DiscountKind.PERCENT else self.amount
        return max(0, min(off, list_price - 1))

    @property
    def describe(self) -> str:
        return f"{self.amount} % off" if self.kind is DiscountKind.PERCENT else f"{self.amount:,} points off"


@dataclass(frozen=True)
class Redemption:
    id: UUID
    code_id: UUID
    viewer_id: UUID
    creator_id: UUID
    target_kind: TargetKind
    target_id: UUID
    list_price: int
    discount: int
    points: int
    fee: int
    transfer_id: UUID
    created_at: datetime


def normalize_code(text: str) -> str:
    """A code as stored: trimmed and upper-case (codes are case-insensitive)."""
    return text.strip().upper()


@dataclass(frozen=True)
class CodeFields:
    code: str
    kind: DiscountKind
    amount: int
    target_kind: TargetKind
    target: str  # a video's or bundle's public id, or a tier's id
    max_uses: int
    expires_at: datetime | None


def check_code(
    code: str, kind: str, amount: str, target: str, max_uses: str, expires: str, now: datetime
) -> CodeFields:
    """The code a creator's form describes; raises InvalidOffer with a message per field. `target` is
    "video:<public id>", "bundle:<public id>" or "tier:<tier id>" (the tier's first month); `expires`
    a day (YYYY-MM-DD, the code works through it, UTC) or blank for never."""
    errors: dict[str, str] = {}
    normalized = normalize_code(code)
    if not CODE_PATTERN.match(normalized):
        errors["code"] = "Use 3 to 32 letters, digits, - or _."
    try:
        discount_kind = DiscountKind(kind)
    except ValueError:
        discount_kind = DiscountKind.PERCENT
        errors["kind"] = "Choose a percentage or a number of points off."
    value = _whole(amount, MAX_BUNDLE_PRICE)
    if discount_kind is DiscountKind.PERCENT and (value is None or not 1 <= value <= 100):
        errors["amount"] = "Enter a whole percentage from 1 to 100."
    elif discount_kind is DiscountKind.POINTS and (value is None or not 1 <= value <= MAX_BUNDLE_PRICE):
        errors["amount"] = f"Enter a whole number of points from 1 to {MAX_BUNDLE_PRICE:,}."
    target_kind_text, _, target_id = target.partition(":")
    target_kind = TargetKind.VIDEO
    if (
        target_kind_text not in (TargetKind.VIDEO.value, TargetKind.BUNDLE.value, TargetKind.TIER.value)
        or not target_id
    ):
        errors["target"] = "Choose the video, bundle or membership tier the code is for."
    else:
        target_kind = TargetKind(target_kind_text)
        if target_kind is TargetKind.TIER and not _is_uuid(target_id):
            errors["target"] = "Choose one of your membership tiers."
    uses = _whole(max_uses, MAX_CODE_USES)
    if uses is None or not 1 <= uses <= MAX_CODE_USES:
        errors["max_uses"] = f"Enter how many times the code can be used, from 1 to {MAX_CODE_USES:,}."
    expires_at: datetime | None = None
    if expires.strip():
        try:
            day = datetime.strptime(expires.strip(), "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            errors["expires"] = "Enter the last day as YYYY-MM-DD, or leave it blank."
        else:
            expires_at = day.replace(hour=23, minute=59, second=59)
            if expires_at <= now:
                errors["expires"] = "The last day must be today or later."
    if errors:
        raise InvalidOffer(errors)
    assert value is not None
    assert uses is not None
    return CodeFields(normalized, discount_kind, value, target_kind, target_id, uses, expires_at)


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


def check_entered_code(
    found: Sequence[PromoCode], creator_id: UUID, target_kind: TargetKind, target_id: UUID, now: datetime
) -> PromoCode:
    """The code a viewer entered, among the codes of every creator spelled that way, checked for this
    target; raises the CodeRefused that says why it cannot be used (nothing is changed)."""
    if not found:
        raise UnknownCode()
    mine = next((c for c in found if c.creator_id == creator_id), None)
    if mine is None:
        raise CodeForAnotherCreator()
    if mine.target_kind is not target_kind or mine.target_id != target_id:
        raise CodeForSomethingElse()
    if mine.expired(now):
        raise CodeExpired()
    if mine.uses_left <= 0:
        raise CodeUsedUp()
    return mine


# -- sales figures -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OfferSales:
    """A creator's bundle sales and code redemptions, for the dashboard tile and the analytics page."""

    bundles_sold: int
    bundle_points: int
    redemptions: int
    discount_points: int  # points given away by codes
    code_revenue: int  # points paid on purchases that used a code


@dataclass(frozen=True)
class SaleLine:
    """One line of the creator's offers statement: list price, discount and net (after the fee)."""

    at: datetime
    what: str  # "bundle", "video" or "membership" (a tier code's first month)
    title: str
    code: str
    list_price: int
    discount: int
    points: int
    fee: int

    @property
    def net(self) -> int:
        return self.points - self.fee
