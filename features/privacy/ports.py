"""What privacy needs from the outside: records of exports and erasures, and a way to scrub a person's
name from the shared event log."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol
from uuid import UUID

from features.privacy.model import Erasure, Export


class ExportRepository(Protocol):
    async def add(self, export: Export) -> None: ...

    async def get(self, export_id: UUID) -> Export | None: ...

    async def save(self, export: Export) -> None:
        """Store the export's new status, file and dates."""
        ...

    async def for_user(self, user_id: UUID, limit: int = 10) -> list[Export]:
        """The user's latest exports, newest first."""
        ...

    async def expiring(self, now: datetime, limit: int) -> list[Export]:
        """READY exports whose `expires_at` has passed, oldest first."""
        ...

    async def pending_since(self, before: datetime, limit: int) -> list[Export]:
        """PENDING exports last changed before `before`, oldest first."""
        ...

    async def delete_for_user(self, user_id: UUID) -> list[Export]:
        """Delete every export record of the user; return them (their files are the caller's to delete)."""
        ...


class ErasureRepository(Protocol):
    async def add(self, erasure: Erasure) -> bool:
        """Record an erasure; False (nothing stored) if the user was already erased."""
        ...

    async def get(self, user_id: UUID) -> Erasure | None: ...

    async def due(self, now: datetime, limit: int) -> list[Erasure]:
        """Erasures whose content removal is due (`purge_after` passed, not yet purged), oldest first."""
        ...

    async def mark_purged(self, user_id: UUID, now: datetime) -> None: ...


class EventScrubber(Protocol):
    async def scrub_tipper(
        self, tipper_id: UUID, display_name: str, creator_ids: Collection[UUID], replacement: str
    ) -> int:
        """In the stored "tip" events told to `creator_ids`, replace the tipper's name with `replacement`
        and blank their message: events that carry `from_id` = `tipper_id`, and older ones (without
        `from_id`) whose `from_name` is `display_name`. Returns how many events changed."""
        ...
