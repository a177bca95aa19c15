"""The stored event log as its consumers read it: named cursors, batches, and retention.

Every event the `EventBus` publishes is also a row of `event_log` (core/postgres.py). Features that
turn events into lasting effects — analytics folds sales and tips, notifications mails — read it
through the `EventLog` port, each as a named *consumer* with its own cursor. All cursors live in one
`CursorStore` (one table, `log_cursors`), keyed by the log they read and the consumer's name, so the
same store also keeps the read positions in other id sequences (playback heartbeats).

A consumer reads in batches: `EventLog.batch` opens a transaction, locks the consumer's cursor (two
runs of one consumer take turns), reads the ids after it and hands over the selected events; what the
consumer writes in the block commits together with the cursor's new position, or neither does. Ids
commit out of order, so the cursor moves over an unbroken run of ids only (`LogCursor`).

Retention (`prune_event_log`, a cron job of core.live): a row is deleted once every registered
consumer's cursor has passed it **and** it is older than `RESUME_WINDOW` (a browser reconnecting with
`Last-Event-ID` within that window is replayed what it missed), unless its name is one a feature
still reads back by topic (`Feature.event_history`, e.g. the dashboard's latest tips). A consumer
that is registered but has never run holds everything (its cursor is 0).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from core.clock import Clock
from core.events import Event, LogCursor, MemoryEventBus
from core.uow import UnitOfWork

EVENT_LOG = "event_log"  # the log name of event-log consumers' cursors
RESUME_WINDOW = timedelta(hours=24)  # rows younger than this are kept for SSE resume, whatever the cursors
PRUNE_BATCH = 10_000  # rows deleted per statement, so retention never holds long locks


@dataclass(frozen=True)
class EventSelection:
    """Which stored events a consumer wants: one of `names` on a topic starting with `topic_prefix`;
    for names in `states`, only when `data["state"]` is one of the listed states."""

    names: frozenset[str]
    states: Mapping[str, frozenset[str]] = field(default_factory=dict)
    topic_prefix: str = ""

    def wants(self, topic: str, name: str, data: Mapping[str, Any]) -> bool:
        if not topic.startswith(self.topic_prefix) or name not in self.names:
            return False
        allowed = self.states.get(name)
        return allowed is None or data.get("state") in allowed


@dataclass(frozen=True)
class LogPage:
    """One read of the log: every id read (to see holes), and the selected events among them."""

    ids: Sequence[int]
    events: Sequence[Event]


@dataclass
class Batch:
    """A consumer's batch, inside its transaction: `events` are the selected events the cursor will
    move over when the block ends without an error — the consumer's work."""

    cursor: LogCursor
    page: LogPage
    moved: LogCursor
    events: list[Event]
    limit: int

    def stop_before(self, event_id: int) -> None:
        """The consumer handles nothing from `event_id` on (a time budget ran out): the cursor stops
        just before it, and the next batch starts there."""
        if event_id <= self.moved.position:
            self.moved = LogCursor(max(self.cursor.position, event_id - 1))
            self.events = [e for e in self.events if e.id < event_id]

    @property
    def exhausted(self) -> bool:
        """Another batch now would find nothing more: the log ended, or the cursor waits at a hole."""
        return len(self.page.ids) < self.limit or self.moved.position == self.cursor.position


class CursorStore(Protocol):
    """Named read positions in id sequences (the event log, heartbeats): one per (log, consumer).
    Reads and writes join the caller's transaction."""

    async def locked(self, log: str, consumer: str) -> LogCursor:
        """The consumer's cursor (position 0 if new), locked until the transaction ends."""
        ...

    async def get(self, log: str, consumer: str) -> LogCursor:
        """The consumer's cursor without locking (position 0 if new)."""
        ...

    async def save(self, log: str, consumer: str, cursor: LogCursor) -> None:
        """Store the cursor. One behind the stored position is ignored: positions never go back."""
        ...

    async def lowest(self, log: str, consumers: Collection[str]) -> int:
        """The lowest position among these consumers of the log (0 for one never saved, or for none)."""
        ...


class EventLog(Protocol):
    """The stored event log, oldest first, as consumers and live readers read it."""

    def batch(
        self, consumer: str, selection: EventSelection, limit: int, grace: timedelta, now: datetime
    ) -> AbstractAsyncContextManager[Batch]:
        """A transaction holding the consumer's locked cursor and up to `limit` ids after it. A hole
        in the ids is waited for up to `grace` from when it is first seen (`now` is the consumer's
        clock), then stepped over.
        When the block ends normally the cursor is saved at `Batch.moved` in the same transaction as
        the block's writes; when it raises, nothing is saved."""
        ...

    async def read(self, after: int, selection: EventSelection, limit: int) -> LogPage:
        """Up to `limit` stored events with an id above `after`, in id order; `events` holds those the
        selection wants, with their data."""
        ...

    async def on_topic(self, topic: str, names: frozenset[str], after: int, limit: int) -> list[Event]:
        """Events of one topic named in `names` with an id above `after`, oldest first."""
        ...

    async def latest(self, topic: str, names: frozenset[str], limit: int) -> list[Event]:
        """The newest events of one topic named in `names`, newest first."""
        ...

    async def prune(self, through: int, before: datetime, keep_names: Collection[str]) -> int:
        """Delete the events with an id up to `through` created before `before`, except those named
        in `keep_names`; returns how many were deleted."""
        ...


@asynccontextmanager
async def consume_batch(
    log: EventLog,
    cursors: CursorStore,
    uow: UnitOfWork,
    consumer: str,
    selection: EventSelection,
    limit: int,
    grace: timedelta,
    now: datetime,
) -> AsyncIterator[Batch]:
    """`EventLog.batch` for any adapter that can `read` and has a CursorStore and a unit of work."""
    async with uow.atomic():
        cursor = await cursors.locked(EVENT_LOG, consumer)
        page = await log.read(cursor.position, selection, limit)
        moved = cursor.advanced_over(page.ids, now, grace)
        batch = Batch(cursor, page, moved, [e for e in page.events if e.id <= moved.position], limit)
        yield batch
        if batch.moved != cursor:
            await cursors.save(EVENT_LOG, consumer, batch.moved)


@dataclass(frozen=True)
class Retention:
    """What holds `event_log` rows back, as the features declare it: the registered consumers
    (`Feature.event_consumers`) and the names read back by topic (`Feature.event_history`)."""

    consumers: frozenset[str] = frozenset()
    keep_names: frozenset[str] = frozenset()
    window: timedelta = RESUME_WINDOW


async def prune_event_log(
    log: EventLog,
    cursors: CursorStore,
    clock: Clock,
    consumers: Collection[str],
    keep_names: Collection[str] = (),
    window: timedelta = RESUME_WINDOW,
) -> int:
    """Delete the events every registered consumer has read that are older than the resume window
    (and not named in `keep_names`); returns how many. Cursors only move forward, so the lowest one
    read here can only be behind the truth: nothing unread is ever deleted."""
    through = await cursors.lowest(EVENT_LOG, consumers) if consumers else None
    if through is None:
        # No consumer reads the log: only the resume window keeps events.
        through = 2**63 - 1
    return await log.prune(through, clock.now() - window, keep_names)


# -- in memory ----------------------------------------------------------------------------------------


class MemoryCursorStore:
    def __init__(self) -> None:
        self.cursors: dict[tuple[str, str], LogCursor] = {}

    async def locked(self, log: str, consumer: str) -> LogCursor:
        return self.cursors.get((log, consumer), LogCursor())

    async def get(self, log: str, consumer: str) -> LogCursor:
        return self.cursors.get((log, consumer), LogCursor())

    async def save(self, log: str, consumer: str, cursor: LogCursor) -> None:
        if cursor.position >= self.cursors.get((log, consumer), LogCursor()).position:
            self.cursors[(log, consumer)] = cursor

    async def lowest(self, log: str, consumers: Collection[str]) -> int:
        return min((self.cursors.get((log, c), LogCursor()).position for c in consumers), default=0)


class MemoryEventLog:
    """The events a MemoryEventBus has stored, read as the PostgreSQL log is."""

    def __init__(self, bus: MemoryEventBus, cursors: MemoryCursorStore, uow: UnitOfWork) -> None:
        self.bus = bus
        self.cursors = cursors
        self.uow = uow

    def batch(
        self, consumer: str, selection: EventSelection, limit: int, grace: timedelta, now: datetime
    ) -> AbstractAsyncContextManager[Batch]:
        return consume_batch(self, self.cursors, self.uow, consumer, selection, limit, grace, now)

    def _sorted(self) -> list[Event]:
        return sorted(self.bus.events, key=lambda e: e.id)

    async def read(self, after: int, selection: EventSelection, limit: int) -> LogPage:
        stored = [e for e in self._sorted() if e.id > after][:limit]
        return LogPage([e.id for e in stored], [e for e in stored if selection.wants(e.topic, e.name, e.data)])

    async def on_topic(self, topic: str, names: frozenset[str], after: int, limit: int) -> list[Event]:
        return [e for e in self._sorted() if e.topic == topic and e.id > after and e.name in names][:limit]

    async def latest(self, topic: str, names: frozenset[str], limit: int) -> list[Event]:
        return [e for e in reversed(self._sorted()) if e.topic == topic and e.name in names][:limit]

    async def prune(self, through: int, before: datetime, keep_names: Collection[str]) -> int:
        kept = set(keep_names)
        gone = [e for e in self.bus.events if e.id <= through and e.created_at < before and e.name not in kept]
        for event in gone:
            self.bus.events.remove(event)
        return len(gone)
