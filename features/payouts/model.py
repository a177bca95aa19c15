"""The language of payouts, and the rules that need no I/O.

**Availability.** Points reach a creator's earnings account through unlocks (net of the platform fee,
which the same transfer takes) and tips. They can be paid out only after a hold of `hold_days`:

    recent    = the sum of the earnings account's entries created after `now - hold`, leaving out
                entries of payout transfers (a payout request takes available points; a failed
                payout gives them back — neither is new money)
    on_hold   = min(max(recent, 0), balance)
    available = balance - on_hold

`balance` is the account's balance now, so points already requested or paid are gone from it, and a
refund that takes points back lowers it. An entry exactly `hold` old is available.

**Conversion.** `points_per_unit` points buy one whole unit of the currency (1.00), which has
`minor_per_unit` minor units (100 for USD, EUR, GBP; 1 for JPY). A payout moves whole steps of
`step_points` points for `step_minor` minor units (the ratio reduced by its greatest common divisor),
so points and minor units always convert exactly, with integer arithmetic only. What does not fill
a step stays in earnings for the next payout: at 150 points per 1.00, 2,000 points pay 1,998 points
for $13.32 and leave 2.

**Minimum.** A payout is made only when the points asked for (before conversion) reach the minimum;
conversion then pays whole steps of them.

**States.** REQUESTED → PROCESSING → PAID, or → FAILED (from either). Every step is a ledger transfer:
request: earnings → payouts in transit; paid: payouts in transit → vendor clearing (the cash left the
platform); failed: payouts in transit → earnings (the points are available again at once). A bank may
still return a PAID payout days later (the vendor then reports it failed): PAID → FAILED, and the step
returned: vendor clearing → earnings (the money is back, so are the points).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from core.fsm import FSM
from core.numbers import InvalidNumber, parse_optional_whole

LEDGER_KIND = "payout"
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG", "RWF"})
CONNECTED_ACCOUNT = re.compile(r"^acct_[A-Za-z0-9]{6,64}$")
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_:.\-]{1,100}$")


# --- Errors ---------------------------------------------------------------------------------------


class PayoutsHeld(Forbidden):
    message = "Payouts are held while this account is suspended."


class BelowMinimum(InvalidInput):
    """Not enough available points for a payout; nothing was moved."""


class InvalidPayoutKey(InvalidInput):
    message = "That request was not valid. Reload the page and try again."


MAX_POINTS_FIELD = 10**15 - 1  # what the payout form takes (15 digits); the balance bounds it further


class InvalidPoints(InvalidInput):
    message = "Enter a whole number of points, or leave it empty to pay out everything available."


class AvailableChanged(Conflict):
    """A payout of "everything available" whose figures (points, and the money they convert to) are not
    the ones the page showed — a refund or another tab changed what is available, or the numbers were
    forged. Nothing is moved; the page shows the current figures."""

    def __init__(self, available: int) -> None:
        super().__init__(
            f"What you can pay out changed since the page loaded: {available:,} points now. "
            "Nothing was paid out: check the amount below and request again."
        )
        self.available = available


class InvalidConnectedAccount(InvalidInput):
    message = "A Stripe account id looks like acct_1A2b3C4d5E6f7G8h."


class PayeeNotReady(InvalidInput):
    message = "Add your Stripe account id below before requesting a payout."


class PayoutNotFound(NotFound):
    message = "We could not find that payout."


class PayoutPending(Conflict):
    message = (
        "A payout is on its way to you. You can delete your account once it has been paid (or has failed): "
        "nothing was changed."
    )


class KeyReused(Conflict):
    message = "That request was already used for another payout. Reload the page and try again."


class VendorUnavailable(DomainError):
    """The payout vendor could not be reached; try again later (nothing was lost)."""

    message = "The payout service is not reachable right now. Your payout will be sent as soon as it is."


class PayoutRejected(DomainError):
    """The vendor refused the payout for good (e.g. an unknown or closed destination account)."""

    message = "The payout service refused this payout."


class InvalidSignature(InvalidInput):
    message = "That webhook's signature is missing, forged or stale."


# --- Vendor side ----------------------------------------------------------------------------------


class VendorStatus(StrEnum):
    PENDING = "pending"  # accepted, money on its way
    PAID = "paid"
    FAILED = "failed"


@dataclass(frozen=True)
class VendorPayout:
    """A payout as the vendor sees it."""

    ref: str
    status: VendorStatus
    failure_reason: str = ""


@dataclass(frozen=True)
class PayoutNotice:
    """A verified webhook: which vendor payout it is about (None: not about a payout)."""

    event_id: str
    ref: str | None


# --- Rules ----------------------------------------------------------------------------------------


def minor_per_unit(currency: str) -> int:
    return 1 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 100


@dataclass(frozen=True)
class Conversion:
    points: int  # points paid out (whole steps)
    amount_minor: int
    leftover: int  # points that stay in earnings


@dataclass(frozen=True)
class PayoutPolicy:
    hold_days: int = 7
    minimum_points: int = 2000
    points_per_unit: int = 100
    currency: str = "USD"
    needs_connected_account: bool = False  # Stripe Connect pays to the creator's acct_… only

    def __post_init__(self) -> None:
        if self.hold_days < 0 or self.minimum_points < 1 or self.points_per_unit < 1:
            raise ValueError("hold_days >= 0, minimum_points >= 1 and points_per_unit >= 1")

    @property
    def hold(self) -> timedelta:
        return timedelta(days=self.hold_days)

    @property
    def step(self) -> tuple[int, int]:
        """(points, minor units) of the smallest exact exchange."""
        minor = minor_per_unit(self.currency)
        divisor = math.gcd(self.points_per_unit, minor)
        return self.points_per_unit // divisor, minor // divisor

    def convert(self, points: int) -> Conversion:
        """Whole steps only: never a fraction of a minor unit, never a float."""
        step_points, step_minor = self.step
        steps = max(points, 0) // step_points
        return Conversion(steps * step_points, steps * step_minor, max(points, 0) - steps * step_points)

    def check_amount(self, points: int, available: int) -> Conversion:
        """The conversion of a payout of `points`; raises BelowMinimum or InvalidPoints."""
        if points > available:
            raise InvalidPoints(f"You can pay out at most {available:,} points now.")
        conversion = self.convert(points)
        if points < self.minimum_points or conversion.amount_minor <= 0:
            raise BelowMinimum(f"The minimum payout is {self.minimum_points:,} points; this one would be {points:,}.")
        return conversion

    def below_minimum_reason(self, points: int) -> str:
        return f"The minimum payout is {self.minimum_points:,} points; {points:,} {_points(points)} available."


def _points(n: int) -> str:
    return "point is" if n == 1 else "points are"


@dataclass(frozen=True)
class EarningsEntry:
    """What availability needs of one ledger entry of the earnings account (or of a day of them)."""

    amount: int
    created_at: datetime
    kind: str
    entry_id: int = 0


@dataclass(frozen=True)
class Release:
    """Points on hold that become available at `at` (the latest release of that day)."""

    at: datetime
    points: int


@dataclass(frozen=True)
class Availability:
    balance: int
    on_hold: int
    available: int
    releases: tuple[Release, ...]
    conversion: Conversion  # of everything available
    minimum: int
    reason: str  # why no payout can be requested now ("" when one can)

    @property
    def can_request(self) -> bool:
        return not self.reason


def availability(
    balance: int, recent: list[EarningsEntry], now: datetime, policy: PayoutPolicy, *, ready: bool = True
) -> Availability:
    """Apply the hold to the balance (see the module docstring). `recent` may hold older entries too;
    only those newer than `now - hold` and not of payouts count."""
    cutoff = now - policy.hold
    held = [e for e in recent if e.created_at > cutoff and e.kind != LEDGER_KIND]
    on_hold = min(max(sum(e.amount for e in held), 0), max(balance, 0))
    available = max(balance, 0) - on_hold
    conversion = policy.convert(available)
    if available < policy.minimum_points or conversion.amount_minor <= 0:
        reason = policy.below_minimum_reason(available)
    elif not ready:
        reason = PayeeNotReady.message
    else:
        reason = ""
    return Availability(
        balance=balance,
        on_hold=on_hold,
        available=available,
        releases=release_schedule(held, on_hold, policy.hold),
        conversion=conversion,
        minimum=policy.minimum_points,
        reason=reason,
    )


def release_schedule(held: list[EarningsEntry], on_hold: int, hold: timedelta) -> tuple[Release, ...]:
    """When the points on hold become available, by day, oldest first, summing to `on_hold`.

    Days whose entries net to nothing or less are left out; when the balance is smaller than what
    came in (points taken back), the latest days are trimmed first, since they are held longest."""
    by_day: dict[object, Release] = {}
    for entry in sorted(held, key=lambda e: e.created_at):
        at = entry.created_at + hold
        day = at.date()
        prior = by_day.get(day)
        by_day[day] = Release(at, (prior.points if prior else 0) + entry.amount)
    releases = [r for r in by_day.values() if r.points > 0]
    excess = sum(r.points for r in releases) - on_hold
    trimmed: list[Release] = []
    for release in reversed(releases):
        cut = min(excess, release.points)
        excess -= cut
        if release.points - cut > 0:
            trimmed.append(replace(release, points=release.points - cut))
    return tuple(reversed(trimmed))


def check_key(key: str) -> str:
    if not KEY_PATTERN.fullmatch(key or ""):
        raise InvalidPayoutKey()
    return key


def parse_points(raw: str) -> int | None:
    """The optional amount from the form: empty means everything available."""
    try:
        return parse_optional_whole(raw.strip(), minimum=1, maximum=MAX_POINTS_FIELD, grouping=True)
    except InvalidNumber as error:
        raise InvalidPoints() from error


def check_connected_account(value: str) -> str:
    """A Stripe connected account id (`acct_` and letters/digits), or "" to remove it."""
    value = value.strip()
    if value and not CONNECTED_ACCOUNT.fullmatch(value):
        raise InvalidConnectedAccount()
    return value


# --- The payout -----------------------------------------------------------------------------------


class PayoutState(StrEnum):
    REQUESTED = "REQUESTED"
    PROCESSING = "PROCESSING"
    PAID = "PAID"
    FAILED = "FAILED"

    @property
    def final(self) -> bool:
        """No longer on its way (a PAID payout may still be returned by the bank, and then fail)."""
        return self in (PayoutState.PAID, PayoutState.FAILED)


TRANSITIONS: dict[PayoutState, set[PayoutState]] = {
    PayoutState.REQUESTED: {PayoutState.PROCESSING, PayoutState.FAILED},
    PayoutState.PROCESSING: {PayoutState.PAID, PayoutState.FAILED},
    PayoutState.PAID: {PayoutState.FAILED},  # the bank returned it after the vendor reported it paid
    PayoutState.FAILED: set(),
}


class Trigger(StrEnum):
    REQUEST = "request"  # the creator pressed the button
    MONTHLY = "monthly"  # the monthly run


@dataclass(frozen=True)
class Payout:
    id: UUID
    creator_id: UUID
    idempotency_key: str
    points: int
    amount_minor: int
    currency: str
    state: PayoutState
    trigger: Trigger
    gateway: str
    requested_at: datetime
    updated_at: datetime
    vendor_ref: str | None = None
    failure_reason: str = ""
    paid_at: datetime | None = None
    failed_at: datetime | None = None

    def moved_to(self, target: PayoutState, now: datetime, **changes: object) -> Payout:
        """The payout in `target`; raises core.fsm.IllegalTransition for a move the map forbids."""
        FSM(TRANSITIONS, self.state).transition(target)
        stamps: dict[str, object] = {"updated_at": now}
        if target is PayoutState.PAID:
            stamps["paid_at"] = now
        if target is PayoutState.FAILED:
            stamps["failed_at"] = now
        return replace(self, state=target, **stamps, **changes)  # type: ignore[arg-type]

    @property
    def reference(self) -> str:
        """A short reference people can quote."""
        return "PO-" + self.id.hex[-10:].upper()

    def ledger_key(self, step: str) -> str:
        return f"payout:{self.id}:{step}"

    def event(self) -> dict[str, object]:
        """The EventBus payload (name "payout" on the creator's topic) of the current state."""
        return {
            "state": self.state.value,
            "points": self.points,
            "amount_minor": self.amount_minor,
            "currency": self.currency,
            "payout_id": str(self.id),
        }


@dataclass(frozen=True)
class Payee:
    """Where a creator's payouts go: nothing for the sandbox, a connected account for Stripe."""

    creator_id: UUID
    stripe_account_id: str = ""
    created_at: datetime | None = field(default=None, compare=False)
