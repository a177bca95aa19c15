"""The wallet's language: Packs of Points bought with a card, the payment vendor's view of a payment,
and the rules that turn that view into ledger transfers (a credit, and its refunds and chargebacks).

The rules are pure: given what the vendor says about a payment *now*, they say which transfers must
exist (a chargeback the merchant later won calls for its points back, if they were ever taken).
Applying them is idempotent (every transfer has a key derived from the vendor's ids), so duplicate,
late or out-of-order webhooks — and reconciliation — all converge on the same ledger.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from uuid import UUID

from core.amounts import matches_shown
from core.errors import Conflict, DomainError, InvalidInput, NotFound
from core.numbers import whole_or_none

MAX_PACK_POINTS = 10**9
MAX_PACK_PRICE = 10**9


class InvalidPacks(ValueError):
    """The pack configuration cannot be read (raised at start-up)."""


class UnknownPack(InvalidInput):
    message = "That pack is not on sale."


class PackChanged(Conflict):
    """A buy button's price is not the pack's price now (the packs were changed after the page loaded,
    or the number was forged): no checkout is opened, nothing is charged."""

    def __init__(self, pack: Pack) -> None:
        price = f"{pack.price_minor // 100:,}.{pack.price_minor % 100:02d} {pack.currency}"
        super().__init__(
            f"The {pack.points:,}-point pack now costs {price}, not the price on the button you clicked. "
            "Nothing was charged: check the packs below and click again if you still want it."
        )
        self.pack = pack


class PurchaseNotFound(NotFound):
    message = "We could not find that payment."


class InvalidSignature(DomainError):
    """A webhook whose signature is missing, forged, or older than the tolerance."""

    message = "The webhook signature is not valid."


class VendorUnavailable(DomainError):
    """The payment vendor did not answer (network, timeout, 5xx): try again later."""

    message = "The payment vendor is not reachable right now. Please try again in a minute."


class PaymentNotFound(NotFound):
    """The vendor has no payment with that reference."""

    message = "The payment vendor has no such payment."


@dataclass(frozen=True)
class Pack:
    """Points sold together for one price (in the currency's minor units)."""

    id: str
    points: int
    price_minor: int
    currency: str

    @property
    def description(self) -> str:
        return f"{self.points:,} Hypha points"


@dataclass(frozen=True)
class PackCatalog:
    packs: tuple[Pack, ...]

    def get(self, pack_id: str) -> Pack:
        """The pack with this id; raises UnknownPack."""
        for pack in self.packs:
            if pack.id == pack_id:
                return pack
        raise UnknownPack()

    def find(self, pack_id: str) -> Pack | None:
        return next((p for p in self.packs if p.id == pack_id), None)


def shows_pack_price(pack: Pack, shown_price: str | int, shown_currency: str) -> bool:
    """Whether a buy button showed `pack`'s price now: its minor units exactly as the page renders them,
    in its currency."""
    return matches_shown(shown_price, pack.price_minor) and shown_currency == pack.currency


def parse_packs(text: str, currency: str) -> PackCatalog:
    """Read packs from "points:price_minor,…" (e.g. "100:100,550:500"); raise InvalidPacks saying what
    is wrong. A pack's id is "p<points>", so each pack needs a distinct number of points."""
    currency = currency.strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise InvalidPacks(f"the currency must be a three-letter code like USD, not {currency!r}")
    packs: list[Pack] = []
    for raw in text.split(","):
        item = raw.strip()
        if not item:
            continue
        points_text, sep, price_text = item.partition(":")
        points, price = whole_or_none(points_text.strip()), whole_or_none(price_text.strip())
        if not sep or points is None or price is None:
            raise InvalidPacks(f"{item!r} is not points:price_minor with two whole numbers (e.g. 550:500)")
        if not 0 < points <= MAX_PACK_POINTS or not 0 < price <= MAX_PACK_PRICE:
            raise InvalidPacks(f"{item!r}: points and price must be positive (and not absurdly large)")
        if any(p.points == points for p in packs):
            raise InvalidPacks(f"two packs have {points} points")
        packs.append(Pack(f"p{points}", points, price, currency))
    if not packs:
        raise InvalidPacks("at least one pack is needed")
    return PackCatalog(tuple(sorted(packs, key=lambda p: p.points)))


class PaymentStatus(StrEnum):
    """A payment as the vendor sees it."""

    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    CANCELED = "canceled"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"
    DISPUTED = "disputed"

    @property
    def collected(self) -> bool:
        """The money arrived at some point (it may have gone back since): the pack is owed."""
        return self in COLLECTED


COLLECTED = frozenset(
    {PaymentStatus.PAID, PaymentStatus.REFUNDED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.DISPUTED}
)


class ReversalKind(StrEnum):
    REFUND = "refund"  # the merchant gave money back
    CHARGEBACK = "chargeback"  # the payer's bank took it back (a dispute)


DISPUTE_WON = "dispute_won"  # the ledger transfer giving back a chargeback's points


@dataclass(frozen=True)
class Reversal:
    """Money that went back to the payer, as the vendor records it.

    A chargeback the merchant won keeps its place in the payment's history (its money did leave for a
    while) and says when the bank gave the money back: `reinstated_at`."""

    id: str
    kind: ReversalKind
    amount_minor: int
    created_at: datetime
    reinstated_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.reinstated_at is not None and self.kind is not ReversalKind.CHARGEBACK:
            raise ValueError("only a chargeback (a dispute) can be won and its money reinstated")

    @property
    def reinstated(self) -> bool:
        """The dispute was won: the money came back to the merchant."""
        return self.reinstated_at is not None


@dataclass(frozen=True)
class VendorPayment:
    """The vendor's current view of one payment, with what our checkout told it (user, pack)."""

    ref: str
    status: PaymentStatus
    amount_minor: int
    currency: str
    created_at: datetime
    amount_refunded: int = 0
    user_id: UUID | None = None
    pack_id: str | None = None
    points: int | None = None
    reversals: tuple[Reversal, ...] = ()


@dataclass(frozen=True)
class VendorEvent:
    """A verified webhook: only its id (for de-duplication) and which payment it is about matter; the
    payment itself is always re-read from the vendor."""

    id: str
    type: str
    payment_ref: str | None
    created_at: datetime | None = None


@dataclass(frozen=True)
class VendorRefund:
    id: str
    payment_ref: str
    amount_minor: int
    status: str


@dataclass(frozen=True)
class CheckoutSession:
    """Where to send the payer, and the vendor's reference of the payment-to-be."""

    url: str
    payment_ref: str


@dataclass(frozen=True)
class Purchase:
    """Our record of a checkout we started: who buys which pack at which price."""

    payment_ref: str
    user_id: UUID
    pack_id: str
    points: int
    amount_minor: int
    currency: str
    idempotency_key: str
    checkout_url: str
    status: PaymentStatus
    created_at: datetime
    updated_at: datetime

    def matches(self, payment: VendorPayment) -> bool:
        """The vendor collected exactly the price we asked for."""
        return (payment.amount_minor, payment.currency.upper()) == (self.amount_minor, self.currency.upper())


@dataclass(frozen=True)
class PlannedTransfer:
    """A ledger transfer a payment's state calls for: `points` into the wallet (credit) or out of it.

    `restores` names the transfer this one undoes (a won dispute's chargeback): it is made only if that
    transfer exists, and then for exactly the points that transfer took."""

    key: str
    kind: str
    points: int
    credit: bool
    reversal_id: str = ""
    restores: str = ""


def purchase_key(payment_ref: str) -> str:
    return f"purchase:{payment_ref}"


def reversal_key(payment_ref: str, reversal: Reversal) -> str:
    prefix = "refund" if reversal.kind is ReversalKind.REFUND else "chargeback"
    return f"{prefix}:{payment_ref}:{reversal.id}"


def dispute_won_key(payment_ref: str, reversal: Reversal) -> str:
    return f"dispute-won:{payment_ref}:{reversal.id}"


def reversal_points(points: int, amount_minor: int, reversals: Sequence[Reversal]) -> list[tuple[Reversal, int]]:
    """How many points each reversal takes back, in the order they happened (`reversals` oldest first).

    Proportional to the money, rounded up in the platform's favour and computed on running totals,
    so partial refunds never take back more than the pack in total and a full refund takes back
    exactly the pack. A won chargeback gives its money and its points back at `reinstated_at`: from
    then on it no longer counts, so a later refund takes back its own share again. Each reversal's
    share depends only on what happened before it, so it does not change as the payment's history
    grows (unless a win and a reversal carry the same timestamp and only one of them was known)."""
    result: list[tuple[Reversal, int]] = []
    took: dict[str, int] = {}
    gone = taken = 0
    # Won chargebacks, oldest win first. A win counts before a reversal of the same instant (vendors
    # stamp whole seconds): money can only be refunded again once it is back, never the other way round.
    wins = sorted((r for r in reversals if r.reinstated_at is not None), key=lambda r: r.reinstated_at or r.created_at)
    # A stable sort: reversals of the same instant keep the vendor's (chronological) order.
    for reversal in sorted(reversals, key=lambda r: r.created_at):
        for won in [w for w in wins if w.id in took and (w.reinstated_at or w.created_at) <= reversal.created_at]:
            gone -= won.amount_minor
            taken -= took[won.id]
            wins.remove(won)
        gone += reversal.amount_minor
        money = min(amount_minor, gone)
        due = min(points, -(-points * money // amount_minor)) if amount_minor > 0 else points
        share = max(0, due - taken)
        result.append((reversal, share))
        took[reversal.id] = share
        taken += share
    return result


def ledger_plan(payment: VendorPayment, points: int) -> list[PlannedTransfer]:
    """The transfers that must exist for this payment: the pack's credit once the money was collected,
    then one correcting transfer per refund or chargeback. A chargeback the merchant won is no longer
    taken; instead its points come back — if they were ever taken (`restores`). Nothing for pending,
    failed or canceled."""
    if not payment.status.collected:
        return []
    plan = [PlannedTransfer(purchase_key(payment.ref), "purchase", points, credit=True)]
    for reversal, taken in reversal_points(points, payment.amount_minor, payment.reversals):
        if taken <= 0:
            continue
        key = reversal_key(payment.ref, reversal)
        if reversal.reinstated:
            plan.append(
                PlannedTransfer(
                    dispute_won_key(payment.ref, reversal),
                    DISPUTE_WON,
                    taken,
                    credit=True,
                    reversal_id=reversal.id,
                    restores=key,
                )
            )
        else:
            plan.append(PlannedTransfer(key, reversal.kind.value, taken, credit=False, reversal_id=reversal.id))
    return plan


def purchase_metadata(purchase: Purchase) -> dict[str, str]:
    return {
        "payment_ref": purchase.payment_ref,
        "pack": purchase.pack_id,
        "amount_minor": str(purchase.amount_minor),
        "currency": purchase.currency,
    }


class WebhookOutcome(StrEnum):
    APPLIED = "applied"  # the payment's state was applied to the ledger (maybe a no-op)
    DUPLICATE = "duplicate"  # the event id was seen before: nothing changed
    IGNORED = "ignored"  # not about a payment we handle
    UNKNOWN_PAYMENT = "unknown_payment"  # no checkout of ours, and the vendor's metadata names no pack
    AMOUNT_MISMATCH = "amount_mismatch"  # the vendor collected another amount than the pack's price


class FindingKind(StrEnum):
    MISSING_CREDIT = "missing_credit"  # paid at the vendor, no credit in the ledger (healed)
    MISSING_REVERSAL = "missing_reversal"  # refunded/disputed at the vendor, not reversed (healed)
    MISSING_REINSTATEMENT = "missing_reinstatement"  # a dispute won at the vendor, points not restored (healed)
    AMOUNT_MISMATCH = "amount_mismatch"  # the vendor collected another amount than the purchase's price
    ORPHAN_CREDIT = "orphan_credit"  # a ledger credit with no collected vendor payment behind it
    UNKNOWN_PAYMENT = "unknown_payment"  # a vendor payment we cannot attribute to a user and pack


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    payment_ref: str
    detail: str
    healed: bool = False
    points: int = 0
    amount_minor: int = 0


@dataclass(frozen=True)
class ReconciliationRun:
    id: UUID
    since: datetime
    until: datetime
    started_at: datetime
    finished_at: datetime | None
    payments_checked: int
    purchases_checked: int
    findings: tuple[Finding, ...] = field(default=())

    @property
    def healed(self) -> int:
        return sum(1 for f in self.findings if f.healed)

    @property
    def clean(self) -> bool:
        return not self.findings


def statement_description(kind: str, metadata: Mapping[str, str], packs: PackCatalog) -> str:
    """A human line for a wallet statement entry."""
    if kind == "purchase":
        pack = packs.find(metadata.get("pack", ""))
        return f"Bought {pack.description}" if pack else "Bought points"
    if kind == "refund":
        return "Refund of a pack purchase"
    if kind == "chargeback":
        return "Chargeback (card payment disputed)"
    if kind == DISPUTE_WON:
        return "Dispute won — points restored"
    memo = metadata.get("memo") or metadata.get("title") or ""
    label = kind.replace("_", " ").capitalize()
    return f"{label}: {memo}" if memo else label


def parse_day(text: str) -> datetime:
    """A calendar day "YYYY-MM-DD" as midnight UTC; raises InvalidInput."""
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d")  # noqa: DTZ007 — made UTC on the next line
    except ValueError as error:
        raise InvalidInput("Enter a date as YYYY-MM-DD.") from error
    return day.replace(tzinfo=UTC)


def reconciliation_period(since: str, until: str, now: datetime) -> tuple[datetime, datetime]:
    """[since, until) from two optional days: `until` defaults to now, and a given `until` day is
    included whole. Raises InvalidInput when the period is empty."""
    start = parse_day(since)
    end = parse_day(until) + timedelta(days=1) if until.strip() else now
    if end <= start:
        raise InvalidInput("The end of the period must be after its start.")
    return start, end
