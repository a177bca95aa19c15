"""The sandbox vendor: a pretend card processor built into Hypha so the purchase flow runs on a laptop.

It behaves like a hosted-checkout vendor: a checkout session with its own page (pay / decline /
cancel), refunds and disputes (which the merchant may win), and webhooks signed the way Stripe signs
them (`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, 300 s tolerance).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from core.errors import Conflict, DomainError, InvalidInput, NotFound
from core.numbers import whole_or_none

SIGNATURE_HEADER = "hypha-sandbox-signature"
TOLERANCE_SECONDS = 300


class SandboxStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    FAILED = "failed"
    CANCELED = "canceled"


# A checkout ends exactly once: paid, failed (card declined) or canceled by the payer.
TRANSITIONS: Mapping[SandboxStatus, frozenset[SandboxStatus]] = {
    SandboxStatus.OPEN: frozenset({SandboxStatus.PAID, SandboxStatus.FAILED, SandboxStatus.CANCELED}),
}


class EventType(StrEnum):
    PAYMENT_SUCCEEDED = "payment.succeeded"
    PAYMENT_FAILED = "payment.failed"
    CHECKOUT_CANCELED = "checkout.canceled"
    CHARGE_REFUNDED = "charge.refunded"
    DISPUTE_CREATED = "charge.dispute.created"
    DISPUTE_FUNDS_REINSTATED = "charge.dispute.funds_reinstated"  # the merchant won: the money is back


EVENT_OF_STATUS: Mapping[SandboxStatus, EventType] = {
    SandboxStatus.PAID: EventType.PAYMENT_SUCCEEDED,
    SandboxStatus.FAILED: EventType.PAYMENT_FAILED,
    SandboxStatus.CANCELED: EventType.CHECKOUT_CANCELED,
}


class SandboxPaymentNotFound(NotFound):
    message = "No such sandbox payment."


class CheckoutClosed(Conflict):
    message = "This checkout is already closed."


class NotRefundable(InvalidInput):
    message = "This payment cannot be refunded by that amount."


class NoOpenDispute(Conflict):
    message = "This payment has no open dispute to win."


class IdempotencyKeyReused(Conflict):
    message = "This idempotency key was used for a different request."


class BadSignature(DomainError):
    message = "The webhook signature is missing, wrong or too old."


@dataclass(frozen=True)
class SandboxReversal:
    """Money going back to the payer: a refund the merchant made, or a dispute the payer opened. A
    dispute the merchant wins (`won_at`) gives the money back to the merchant."""

    id: str
    payment_id: str
    kind: str  # "refund" | "dispute"
    amount_minor: int
    idempotency_key: str
    created_at: datetime
    won_at: datetime | None = None

    @property
    def open_dispute(self) -> bool:
        return self.kind == "dispute" and self.won_at is None


@dataclass(frozen=True)
class SandboxPayment:
    id: str
    idempotency_key: str
    amount_minor: int
    currency: str
    description: str
    metadata: Mapping[str, str]
    success_url: str
    cancel_url: str
    status: SandboxStatus
    created_at: datetime
    updated_at: datetime
    reversals: tuple[SandboxReversal, ...] = field(default=())

    @property
    def amount_refunded(self) -> int:
        return sum(r.amount_minor for r in self.reversals if r.kind == "refund")

    @property
    def amount_disputed(self) -> int:
        """What open disputes hold back (a won dispute's money is the merchant's again)."""
        return sum(r.amount_minor for r in self.reversals if r.open_dispute)

    @property
    def refundable(self) -> int:
        """What can still go back to the payer."""
        if self.status is not SandboxStatus.PAID:
            return 0
        return self.amount_minor - self.amount_refunded - self.amount_disputed

    @property
    def disputed(self) -> bool:
        return self.amount_disputed > 0

    @property
    def open_disputes(self) -> tuple[SandboxReversal, ...]:
        return tuple(r for r in self.reversals if r.open_dispute)

    def same_request(self, amount_minor: int, currency: str, metadata: Mapping[str, str]) -> bool:
        return (self.amount_minor, self.currency, dict(self.metadata)) == (amount_minor, currency, dict(metadata))

    def redirect_url(self, template: str) -> str:
        """Like Stripe's `{CHECKOUT_SESSION_ID}`: the return URL may carry the payment id."""
        return template.replace("{PAYMENT_ID}", self.id)


@dataclass(frozen=True)
class OutboxMessage:
    """A webhook the vendor owes the merchant, kept until delivered (at least once, retried)."""

    id: int
    event_id: str
    event_type: str
    payment_id: str
    body: str
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None = None
    last_error: str = ""


@dataclass(frozen=True)
class DeliveryReport:
    delivered: int = 0
    failed: int = 0


def next_status(current: SandboxStatus, target: SandboxStatus) -> SandboxStatus:
    """The checkout's state after a payer's action; raises CheckoutClosed if it has already ended."""
    if target not in TRANSITIONS.get(current, frozenset()):
        raise CheckoutClosed(f"This checkout is already {current.value}.")
    return target


def retry_delay_seconds(attempts: int) -> int:
    """Back-off between delivery attempts: 30 s, 1 min, 2 min … capped at 6 h (like real vendors)."""
    return int(min(30 * 2 ** max(attempts - 1, 0), 6 * 3600))


def event_body(event_id: str, event_type: str, created: int, payment: SandboxPayment) -> str:
    """The webhook payload: a snapshot of the payment; receivers should re-read the payment anyway."""
    return json.dumps(
        {
            "id": event_id,
            "type": event_type,
            "created": created,
            "data": {
                "object": {
                    "id": payment.id,
                    "object": "payment",
                    "status": payment.status.value,
                    "amount": payment.amount_minor,
                    "amount_refunded": payment.amount_refunded,
                    "currency": payment.currency,
                    "metadata": dict(payment.metadata),
                }
            },
        },
        separators=(",", ":"),
    )


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp` (Unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str | None, body: bytes, now: int, tolerance: int = TOLERANCE_SECONDS) -> None:
    """Check a signature header; raises BadSignature when it is missing, forged, or older than `tolerance`."""
    if not header or not secret:
        raise BadSignature()
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    timestamp = whole_or_none(parts.get("t", [""])[0])
    if timestamp is None:
        raise BadSignature()
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        raise BadSignature()
    if abs(now - timestamp) > tolerance:
        raise BadSignature("The webhook signature is too old.")
