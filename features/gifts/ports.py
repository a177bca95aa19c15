"""What gifts need from the outside: somewhere to keep the gifts, with row locks for settling them."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from features.gifts.model import Gift


class GiftRepository(Protocol):
    async def add(self, gift: Gift) -> bool:
        """Store a new gift; False (nothing stored) if the sender already used its idempotency key."""
        ...

    async def by_key(self, sender_id: UUID, key: str) -> Gift | None: ...

    async def sent_by(self, sender_id: UUID, limit: int = 50) -> list[Gift]:
        """The sender's gifts, newest first."""
        ...

    async def lock_claimable(self, email: str, now: datetime) -> list[Gift]:
        """Call inside a transaction: lock and return the pending, unexpired gifts to `email` (normalized),
        oldest first. A concurrent caller waits and then finds only what is still pending."""
        ...

    async def lock_expired(self, now: datetime, limit: int) -> list[Gift]:
        """Call inside a transaction: lock up to `limit` pending gifts expired at `now`, skipping any
        another worker holds; oldest expiry first."""
        ...

    async def settle(self, gift: Gift) -> None:
        """Store the settled gift (state, settled_at, settle_transfer_id, claimed_by)."""
        ...

    async def unmailed(self, before: datetime, limit: int) -> list[Gift]:
        """Pending gifts created before `before` whose mail was never handed over."""
        ...

    async def mark_mailed(self, gift_id: UUID, at: datetime) -> None: ...

    async def received_by(self, user_id: UUID) -> list[Gift]:
        """The gifts the user claimed, newest first."""
        ...

    async def lock_pending_to(self, email: str) -> list[Gift]:
        """Call inside a transaction: lock and return every pending gift to `email` (normalized), expired
        or not, oldest first."""
        ...

    async def erase_recipient(self, email: str, placeholder: str) -> int:
        """Replace the address `email` (normalized) by `placeholder` on every gift; returns how many."""
        ...

    async def erase_messages_of(self, sender_id: UUID) -> int:
        """Empty the messages of the sender's gifts; returns how many had one."""
        ...
