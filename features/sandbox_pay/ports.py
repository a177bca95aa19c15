"""What the sandbox vendor needs: somewhere to keep its payments and outbox, and a way to post webhooks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from features.sandbox_pay.model import OutboxMessage, SandboxPayment, SandboxReversal, SandboxStatus


class SandboxStore(Protocol):
    """The vendor's own records (its own tables: any process can answer for any payment)."""

    async def add(self, payment: SandboxPayment) -> SandboxPayment:
        """Store a new checkout; if one with the same idempotency key exists, return that one instead."""
        ...

    async def get(self, payment_id: str, *, lock: bool = False) -> SandboxPayment | None:
        """A payment with its reversals; `lock` holds it for the current transaction."""
        ...

    async def set_status(self, payment_id: str, status: SandboxStatus, now: datetime) -> None: ...

    async def add_reversal(self, reversal: SandboxReversal) -> SandboxReversal:
        """Store a refund or dispute; with a known idempotency key, return the stored one instead."""
        ...

    async def set_dispute_won(self, reversal_id: str, won_at: datetime) -> None:
        """Mark an open dispute won (a dispute already won keeps its first `won_at`)."""
        ...

    async def created_between(self, since: datetime, until: datetime) -> list[SandboxPayment]:
        """Payments created in [since, until), oldest first."""
        ...

    async def recent(self, limit: int = 50) -> list[SandboxPayment]:
        """The newest payments first."""
        ...

    async def enqueue_webhook(self, message: OutboxMessage) -> int:
        """Add a webhook to the outbox (in the caller's transaction); returns its id."""
        ...

    async def claim_webhooks(
        self, now: datetime, lease_until: datetime, *, ids: Sequence[int] = (), limit: int = 50, max_attempts: int = 12
    ) -> list[OutboxMessage]:
        """Lease undelivered webhooks for one delivery attempt (so two deliverers do not send the same
        one at once): the given `ids`, or else those due at `now`. Counts the attempt."""
        ...

    async def mark_delivered(self, message_id: int, now: datetime) -> None: ...

    async def mark_failed(self, message_id: int, error: str, retry_at: datetime) -> None: ...

    async def outbox(self, payment_id: str | None = None, limit: int = 50) -> list[OutboxMessage]:
        """The newest outbox messages first (optionally of one payment)."""
        ...

    async def shared_secret(self, name: str, candidate: str) -> str:
        """The secret stored under `name`, storing `candidate` first if there is none yet."""
        ...


class WebhookSender(Protocol):
    """Posts one signed webhook to the merchant's endpoint."""

    async def post(self, body: bytes, headers: Mapping[str, str]) -> int:
        """Send it; return the HTTP status. Raises OSError (or a subclass) when nobody answers."""
        ...
