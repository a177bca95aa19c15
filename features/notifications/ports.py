"""What notifications need from the outside: a way to send mail, the outbox to read it back, and
somewhere to keep what became of each mail. The event log and the read position in it are core's
(`core.eventlog.EventLog`, `CursorStore`)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from features.notifications.model import (
    Delivery,
    EmailMessage,
    MailPage,
)


class EmailService(Protocol):
    """Sends one message. Adapters: SMTP, the PostgreSQL outbox (local use), in memory (tests)."""

    async def send(self, message: EmailMessage) -> None:
        """Hand the message over for delivery.

        Raises EmailDeliveryError: `permanent=True` for a malformed address, a header with a line
        break or a 5xx refusal; `permanent=False` when the server is unreachable or answers 4xx.
        """
        ...


class Outbox(Protocol):
    """The mail kept by the outbox adapter, for the outbox page."""

    async def page(self, recipient: str | None, page: int, per_page: int, since: datetime | None = None) -> MailPage:
        """Newest first. `recipient` filters by address (case-insensitive); None means all mail. With
        `since`, only mail kept at or after it. `page` counts from 1; a page past the end is empty."""
        ...

    async def forget_recipient(self, address: str) -> int:
        """Delete the kept mail to `address` (case-insensitive); return how many were deleted."""
        ...

    async def redact(self, recipients: Sequence[str], text: str, replacement: str) -> int:
        """In the kept mail to `recipients`, replace `text` (and its HTML-escaped form) with
        `replacement` in subjects and bodies; return how many mails changed."""
        ...


class DeliveryLog(Protocol):
    """One record per event that called for mail: the key to sending each mail once."""

    async def known(self, event_ids: Sequence[int]) -> set[int]:
        """The ids among `event_ids` that already have a record, whatever its status."""
        ...

    async def reserve(self, delivery: Delivery) -> bool:
        """Record a new delivery (normally PENDING) unless one exists for its event; True if recorded.

        Inside a transaction a concurrent reserve of the same event waits for it and then returns
        False, so two workers never both send.
        """
        ...

    async def claim_due(self, event_id: int, now: datetime) -> Delivery | None:
        """The FAILED delivery of this event if it is due for another attempt, locked for the current
        transaction (None when it is not due, not failed, or another worker holds it)."""
        ...

    async def due(self, now: datetime, limit: int) -> list[int]:
        """Event ids of FAILED deliveries due for another attempt, earliest due first."""
        ...

    async def save(self, delivery: Delivery) -> None:
        """Store the delivery's new status, attempts, error and message."""
        ...

    async def get(self, event_id: int) -> Delivery | None: ...

    async def forget_user(self, user_id: UUID, reason: str) -> int:
        """Drop the address, subject, bodies and error text (which may quote the address) of every
        delivery to the user; one not yet sent is given up with `reason` as its error (never retried).
        Returns how many records changed."""
        ...

    async def redact(self, user_ids: Collection[UUID], kind: str, text: str, replacement: str) -> int:
        """In the recorded mail of `kind` to `user_ids`, replace `text` (and its HTML-escaped form)
        with `replacement`; return how many records changed."""
        ...
