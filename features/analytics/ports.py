"""What analytics needs from the outside: a store for its sessions and per-day aggregates. Its read
positions are core's `CursorStore`, the sales and tips come from core's `EventLog`."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from features.analytics.model import (
    RevenueDay,
    Session,
    SessionKey,
    ViewerCounts,
    WatchDay,
    WatchFold,
)


class AnalyticsStore(Protocol):
    """Session state and the aggregates the pages read. Writes join the caller's transaction."""

    async def sessions(self, keys: Collection[SessionKey]) -> dict[SessionKey, Session]:
        """The stored state of these sessions (those never seen are absent)."""
        ...

    async def apply_watch(self, fold: WatchFold) -> None:
        """Store the fold's sessions, add its day changes to the day totals, record its viewers."""
        ...

    async def forget_sessions(self, before: datetime) -> None:
        """Drop the state of sessions last seen before `before` (their figures stay in the day totals)."""
        ...

    async def apply_revenue(self, days: Mapping[tuple[UUID, date], RevenueDay]) -> None:
        """Add these changes to the revenue day totals."""
        ...

    async def watch_days(self, owner_id: UUID, start: date, end: date, video_id: UUID | None = None) -> list[WatchDay]:
        """The owner's watch day totals in the range (one video's if given), by day then video."""
        ...

    async def viewer_counts(self, owner_id: UUID, start: date, end: date, video_id: UUID | None = None) -> ViewerCounts:
        """Distinct viewers of the owner's videos (or one video) in the range."""
        ...

    async def revenue_days(
        self, owner_id: UUID, start: date, end: date, video_id: UUID | None = None
    ) -> list[RevenueDay]:
        """The owner's revenue day totals in the range (one video's if given), by day then video."""
        ...
