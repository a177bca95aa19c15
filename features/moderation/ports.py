"""What moderation needs from storage: reports, and the append-only audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from features.moderation.model import AuditEntry, QueueRow, Report, SubjectKind


class ReportRepository(Protocol):
    async def add(self, report: Report) -> None: ...

    async def queue(self, limit: int = 100) -> list[QueueRow]:
        """Reported items that have open reports, the oldest open report first."""
        ...

    async def for_subject(self, kind: SubjectKind, subject_id: UUID) -> list[Report]:
        """Every report on the item, open and closed, newest first."""
        ...

    async def close_open(self, kind: SubjectKind, subject_id: UUID, now: datetime) -> int:
        """Close the item's open reports; how many were open."""
        ...


class AuditLog(Protocol):
    async def append(self, entry: AuditEntry) -> AuditEntry:
        """Write the entry (it gets its id); entries are never changed or removed."""
        ...

    async def page(self, before_id: int | None, limit: int) -> list[AuditEntry]:
        """Entries newest first, those with an id below `before_id` when it is given."""
        ...

    async def for_subject(self, kind: str, subject_id: UUID) -> list[AuditEntry]:
        """The item's history, newest first."""
        ...
