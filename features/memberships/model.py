"""Memberships: a creator's monthly tiers, and the viewers who join them with points.

A creator offers up to MAX_TIERS tiers on sale at once. A tier has a name, a monthly price in points
(1 to MAX_PRICE) and the videos it includes: all the creator's videos (those uploaded later too), or
chosen ones. Retiring a tier closes it to new members; its members keep it and keep renewing.

**A month.** A membership's period runs from `period_start` to `period_end`, the same day of the next
month at the same time of day (UTC). When that month is shorter, the last day of the month: a
membership begun on 31 January renews on 28 (or 29) February, then on 31 March — the day it began on
(`anchor_day`) is kept, so a short month never shifts later periods (`add_month`).

**Renewal.** At `period_end` the membership is charged the member's price again from their wallet, for
the period starting at the old end. Without enough points it lapses: access continues for the grace
period (MEMBERSHIP_GRACE_DAYS), during which renewal is tried again on every run; a later success
starts the period at the old end (the grace days were watched). After grace, access ends. The wallet
never goes below zero (the ledger refuses the charge). The viewer is mailed MEMBERSHIP_REMINDER_DAYS
before a renewal, when it lapses, and when it ends.

**Price.** Members keep the price they joined at; a creator's new price applies to new members.

**Cancel.** Any time: access to the period's end, no further renewal.

**Change of tier (pro-rata).** Upgrading (to a dearer tier of the same creator) takes effect now and
charges the difference for the unused part of the period: `floor((new − old) × seconds left / seconds
in the period)` — rounding in the member's favour; the period does not move, and later renewals are at
the new price. Downgrading (to a tier of the same or a lower price) takes effect at the next renewal,
with nothing charged now and nothing refunded.

Every charge is a ledger transfer with the platform fee (the unlocks' split and revenue shard).

**A creator closes their account.** Their members are not charged again, and what they paid for the
running period is refunded for the unused part, pro rata: `floor(paid × seconds left / seconds in the
period)` (`unused_refund`, rounding in the member's favour), where `paid` is every charge of the
running period (the join or renewal, and any upgrade). The refund reverses the charges in the same
proportion: the creator's share from their earnings, the fee from the platform's revenue. A lapsed
membership in its grace days paid nothing for them: it ends with nothing to refund. Each membership is
refunded once (ledger key `creator-closed:membership:<id>:<period start>`) and ends at once.

**A member closes their account.** Their memberships end at once, with nothing refunded (their unspent
points are forfeited too; see the privacy feature).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from core.amounts import matches_shown
from core.errors import Conflict, InvalidInput, NotFound
from core.numbers import InvalidNumber, parse_whole

MAX_TIERS = 3
MAX_PRICE = 100_000
MAX_NAME = 60
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


# -- errors -------------------------------------------------------------------------------------------


class InvalidTier(InvalidInput):
    """The tier form did not validate; `errors` maps field names to messages."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = dict(errors)


class TierNotFound(NotFound):
    message = "We could not find that membership tier."


class VideoNotVisible(NotFound):
    message = "We could not find that video."


class TierClosed(Conflict):
    message = "This membership tier is no longer offered. Nothing was charged."


class OwnTier(Conflict):
    message = "This is your own membership tier: you cannot join it."


class AlreadyMember(Conflict):
    message = "You are already a member of this creator. Nothing was charged."


class NotAMember(Conflict):
    message = "You have no membership of this creator to change."


class MembershipPriceChanged(Conflict):
    def __init__(self, price: int) -> None:
        super().__init__(
            f"The price is now {price:,} points, not the price on the button you clicked. "
            "Nothing was charged: check the price below and click again if you still want it."
        )
        self.price = price


class KeyReused(Conflict):
    message = "This button was already used for something else. Reload the page and try again."


class InvalidKey(InvalidInput):
    message = "This button has expired. Reload the page and try again."


class SameTier(Conflict):
    message = "You are already on this tier."


# -- the month ----------------------------------------------------------------------------------------


def add_month(start: datetime, anchor_day: int) -> datetime:
    """The same time of day on `anchor_day` of the month after `start`'s, clamped to that month's last day."""
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    day = min(anchor_day, calendar.monthrange(year, month)[1])
    return start.replace(year=year, month=month, day=day)


def prorata_upgrade(old_price: int, new_price: int, period_start: datetime, period_end: datetime, now: datetime) -> int:
    """What upgrading from `old_price` to `new_price` at `now` costs: the difference for the unused part
    of the period, rounded down (the member's way). 0 when nothing is left or the new price is not higher."""
    if new_price <= old_price or now >= period_end:
        return 0
    total = (period_end - period_start).total_seconds()
    left = (period_end - max(now, period_start)).total_seconds()
    return int((new_price - old_price) * int(left) // int(total))


def unused_refund(paid: int, fee: int, period_start: datetime, period_end: datetime, now: datetime) -> tuple[int, int]:
    """What goes back to a member for the unused part of a period they paid `paid` points for (of which
    `fee` was the platform's): `(refund, fee part of it)`, both rounded down, the fee part in the same
    proportion as the refund. (0, 0) when nothing of the period is left."""
    total = int((period_end - period_start).total_seconds())
    left = int((period_end - max(now, period_start)).total_seconds())
    if paid <= 0 or total <= 0 or left <= 0:
        return 0, 0
    refund = paid * min(left, total) // total
    return refund, fee * refund // paid


def closure_key(membership_id: UUID, period_start: datetime) -> str:
    """The ledger key of the refund when the creator closes their account: once per membership and period."""
    return f"creator-closed:membership:{membership_id}:{period_start.isoformat()}"


# -- tiers --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tier:
    id: UUID
    creator_id: UUID
    name: str
    price: int
    all_videos: bool
    video_ids: frozenset[UUID] = field(default_factory=frozenset)
    retired_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def on_sale(self) -> bool:
        return self.retired_at is None

    def includes(self, video_id: UUID) -> bool:
        return self.all_videos or video_id in self.video_ids


@dataclass(frozen=True)
class TierDraft:
    """A tier as the creator's form describes it, checked."""

    name: str
    price: int
    all_videos: bool
    video_ids: frozenset[UUID]


def check_tier(
    *, name: str, price: str, all_videos: bool, video_ids: Collection[str], own_video_ids: Collection[UUID]
) -> TierDraft:
    """The tier the form describes; raises InvalidTier with a message per field."""
    errors: dict[str, str] = {}
    cleaned = " ".join(name.split())
    if not cleaned:
        errors["name"] = "Give the tier a name."
    elif len(cleaned) > MAX_NAME:
        errors["name"] = f"Keep the name to {MAX_NAME} characters or fewer."
    value: int | None
    try:
        value = parse_whole(price.strip(), maximum=999_999_999, grouping=True)
    except InvalidNumber:
        value = None
    if value is None or not 1 <= value <= MAX_PRICE:
        errors["price"] = f"Enter a monthly price from 1 to {MAX_PRICE:,} points."
    chosen: set[UUID] = set()
    if not all_videos:
        own = set(own_video_ids)
        for raw in video_ids:
            try:
                video_id = UUID(raw)
            except ValueError:
                video_id = None
            if video_id is None or video_id not in own:
                errors["videos"] = "Choose only your own videos."
                break
            chosen.add(video_id)
        else:
            if not chosen:
                errors["videos"] = "Choose at least one video, or include all your videos."
    if errors:
        raise InvalidTier(errors)
    assert value is not None
    return TierDraft(cleaned, value, all_videos, frozenset(chosen))


# -- memberships ----------------------------------------------------------------------------------------


class MembershipState(StrEnum):
    ACTIVE = "active"  # renews at period_end
    CANCELLED = "cancelled"  # access until period_end, then ends
    LAPSED = "lapsed"  # a renewal found too few points: access until grace_until, renewal retried
    ENDED = "ended"


@dataclass(frozen=True)
class Membership:
    id: UUID
    viewer_id: UUID
    creator_id: UUID
    tier_id: UUID
    price: int
    state: MembershipState
    anchor_day: int
    period_start: datetime
    period_end: datetime
    join_key: str
    joined_at: datetime
    updated_at: datetime
    grace_until: datetime | None = None
    next_tier_id: UUID | None = None
    next_price: int | None = None
    reminded_for: datetime | None = None
    lapsed_at: datetime | None = None  # when it last lapsed (kept: the month's lapsed figure)
    ended_at: datetime | None = None

    @property
    def access_until(self) -> datetime | None:
        """When access ends (None: it has ended)."""
        if self.state is MembershipState.ENDED:
            return None
        if self.state is MembershipState.LAPSED:
            return self.grace_until
        return self.period_end

    def has_access(self, now: datetime) -> bool:
        until = self.access_until
        return until is not None and now < until

    @property
    def renews(self) -> bool:
        return self.state in (MembershipState.ACTIVE, MembershipState.LAPSED)


class ChargeKind(StrEnum):
    JOIN = "join"
    RENEWAL = "renewal"
    UPGRADE = "upgrade"


@dataclass(frozen=True)
class Charge:
    id: UUID
    membership_id: UUID
    viewer_id: UUID
    creator_id: UUID
    tier_id: UUID
    kind: ChargeKind
    period_start: datetime
    points: int
    fee: int
    transfer_id: UUID
    idempotency_key: str
    created_at: datetime


def renewal_key(membership_id: UUID, period_start: datetime) -> str:
    """The ledger key of the renewal that starts the period at `period_start`: once per membership and period."""
    return f"membership-renewal:{membership_id}:{period_start.isoformat()}"


class Due(StrEnum):
    """What the renewal run does with one membership at one moment."""

    NOTHING = "nothing"
    REMIND = "remind"
    RENEW = "renew"
    END = "end"


def due_action(membership: Membership, now: datetime, reminder: timedelta) -> Due:
    if membership.state is MembershipState.ENDED:
        return Due.NOTHING
    if membership.state is MembershipState.CANCELLED:
        return Due.END if now >= membership.period_end else Due.NOTHING
    if membership.state is MembershipState.LAPSED:
        assert membership.grace_until is not None
        return Due.END if now >= membership.grace_until else Due.RENEW
    if now >= membership.period_end:
        return Due.RENEW
    if now >= membership.period_end - reminder and membership.reminded_for != membership.period_end:
        return Due.REMIND
    return Due.NOTHING


def check_key(key: str) -> str:
    if not KEY_PATTERN.fullmatch(key or ""):
        raise InvalidKey()
    return key


def shows_price(shown: str | int, price: int) -> bool:
    return matches_shown(shown, price)


@dataclass(frozen=True)
class MonthFigures:
    """A creator's members in one calendar month (UTC): active at its end (or now), joined and lapsed in
    it, and the points their charges brought (gross, before the platform fee)."""

    month: str  # "2026-12"
    active: int
    joined: int
    lapsed: int
    revenue: int
