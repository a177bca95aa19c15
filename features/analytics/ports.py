"""What analytics needs from the outside: a store for its cursors, sessions and per-day aggregates, and
a reader of the stored event log (sales and tips)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from core.events import Event
from features.analytics.model import (
    Cursor,
    RevenueDay,
    Session,
    SessionKey,
    ViewerCounts,
    WatchDay,
    WatchFold,
)


class AnalyticsStore(Protocol):
    """Cursors, session state and the aggregates the pages read. Writes join the caller's transaction."""

    async def locked_cursor(self, name: str) -> Cursor:
        """The named cursor (position 0 if new), locked until the transaction ends: folds of the same
        source run one at a time."""
        ...

    async def save_cursor(self, name: str, cursor: Cursor) -> None: ...

    async def position(self, name: str) -> int:
        """The named cursor's position, without locking (0 if new)."""
        ...

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


@dataclass(frozen=True)
class JournalPage:
    """One read of the event log: every id read (to see holes), and the wanted events among them."""

    ids: Sequence[int]
    events: Sequence[Event]


class EventJournal(Protocol):
    """Reads core's stored event log."""

    async def read(self, after: int, names: frozenset[str], limit: int) -> JournalPage:
        """Up to `limit` stored events with an id above `after`, in id order; `events` holds those named
        in `names`, with their data."""
        ...

    async def on_topic(self, topic: str, names: frozenset[str], after: int, limit: int) -> list[Event]:
        """Events of one topic named in `names` with an id above `after`, oldest first."""
        ...

    async def latest(self, topic: str, names: frozenset[str], limit: int) -> list[Event]:
        """The newest events of one topic named in `names`, newest first."""
        ...
