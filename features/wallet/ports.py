"""What the wallet needs from the outside: the payment vendor, and its own records (purchases, the
webhook inbox, reconciliation runs). Points themselves live in the ledger (features.ledger)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol
from uuid import UUID

from features.wallet.model import (
    CheckoutSession,
    Pack,
    PaymentStatus,
    Purchase,
    ReconciliationRun,
    VendorEvent,
    VendorPayment,
    VendorRefund,
)


class PaymentGateway(Protocol):
    """A card payment vendor with hosted checkout pages and signed webhooks (sandbox, Stripe).

    Every method may raise VendorUnavailable when the vendor cannot be reached."""

    async def create_checkout(self, idempotency_key: str, pack: Pack, user_id: UUID) -> CheckoutSession:
        """Open a hosted checkout for one pack; the vendor remembers the user and pack with the payment.
        The same key returns the same checkout."""
        ...

    async def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> VendorEvent:
        """Verify a webhook's signature (300 s tolerance) and say which event and payment it is about.
        Raises InvalidSignature for a missing, forged, tampered or stale signature."""
        ...

    async def fetch_payment(self, ref: str) -> VendorPayment:
        """The payment as the vendor sees it now, with its refunds and disputes. Raises PaymentNotFound."""
        ...

    async def refund(self, idempotency_key: str, ref: str, amount_minor: int | None = None) -> VendorRefund:
        """Give (part of) a paid payment back; None refunds what is left. The same key refunds once.
        The ledger is corrected when the vendor's refund webhook arrives (or by reconciliation)."""
        ...

    async def list_payments(self, since: datetime, until: datetime) -> list[VendorPayment]:
        """Payments created in [since, until), for reconciliation."""
        ...


class PurchaseRepository(Protocol):
    """Checkouts we started: who buys which pack at which price, and the vendor's last known status."""

    async def add(self, purchase: Purchase) -> Purchase:
        """Store a new purchase; if this user already used the idempotency key (or the payment ref is
        known), return the stored one instead."""
        ...

    async def by_key(self, user_id: UUID, idempotency_key: str) -> Purchase | None: ...

    async def get(self, payment_ref: str) -> Purchase | None: ...

    async def set_status(self, payment_ref: str, status: PaymentStatus, now: datetime) -> None: ...

    async def created_between(self, since: datetime, until: datetime) -> list[Purchase]:
        """Purchases created in [since, until), oldest first."""
        ...

    async def of_user(self, user_id: UUID) -> list[Purchase]:
        """Every purchase the user started, oldest first."""
        ...

    async def lock_payment(self, payment_ref: str) -> None:
        """Serialize work on one payment until the current transaction ends (two webhooks about the
        same payment never apply at the same time)."""
        ...


class WebhookInbox(Protocol):
    """Every vendor event we accepted, keyed by the vendor's event id."""

    async def record(self, vendor: str, event: VendorEvent, received_at: datetime) -> bool:
        """Record the event in the current transaction; False if it was recorded before."""
        ...

    async def seen(self, vendor: str, event_id: str) -> bool: ...

    async def set_outcome(self, vendor: str, event_id: str, outcome: str) -> None: ...

    async def outcome(self, vendor: str, event_id: str) -> str | None: ...


class ReconciliationRepository(Protocol):
    async def save(self, run: ReconciliationRun) -> None:
        """Store a finished run and its findings."""
        ...

    async def recent(self, limit: int = 20) -> list[ReconciliationRun]:
        """The newest runs first, each with its findings."""
        ...

    async def get(self, run_id: UUID) -> ReconciliationRun | None: ...
