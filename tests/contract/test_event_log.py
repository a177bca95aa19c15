"""Core's event log as consumers read it — the `EventLog` and its `CursorStore` — run against the
in-memory and the PostgreSQL adapters: named cursors, batches that commit the cursor with the
consumer's work, and retention that never deletes what a consumer has not read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from injector import Injector

from core.clock import FrozenClock
from core.db import Database
from core.eventlog import (
    EVENT_LOG,
    RESUME_WINDOW,
    CursorStore,
    EventLog,
    EventSelection,
    MemoryCursorStore,
    MemoryEventLog,
    prune_event_log,
)
from core.events import EventBus, LogCursor, MemoryEventBus
from core.postgres import PostgresCursorStore, PostgresEventBus, PostgresEventLog
from core.uow import MemoryUnitOfWork, UnitOfWork

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
GRACE = timedelta(minutes=2)
MAIL = EventSelection(
    names=frozenset({"video", "tip", "payout"}),
    states={"video": frozenset({"READY", "FAILED"}), "payout": frozenset({"PAID"})},
    topic_prefix="user:",
)
TIPS = EventSelection(frozenset({"tip"}))


@dataclass
class Log:
    events: EventLog
    cursors: CursorStore
    bus: EventBus
    uow: UnitOfWork
    db: Database | None

    async def age_everything(self, by: timedelta) -> None:
        """Make every stored event older (retention works on their age)."""
        if self.db is not None:
            await self.db.execute("UPDATE event_log SET created_at = created_at - $1::interval", by)
            return
        assert isinstance(self.bus, MemoryEventBus)
        self.bus.events[:] = [replace(e, created_at=e.created_at - by) for e in self.bus.events]

    async def stored_ids(self) -> list[int]:
        page = await self.events.read(0, TIPS, 10_000)
        return list(page.ids)


@pytest.fixture(params=["memory", "postgres"])
def log_db(request: pytest.FixtureRequest) -> Database | None:
    """The emptied test database for the PostgreSQL params only (the TRUNCATE costs)."""
    if request.param == "memory":
        return None
    pg: Injector = request.getfixturevalue("pg")
    return pg.get(Database)


@pytest.fixture
async def log(log_db: Database | None) -> AsyncIterator[Log]:
    if log_db is None:
        bus = MemoryEventBus()
        cursors = MemoryCursorStore()
        uow = MemoryUnitOfWork()
        yield Log(MemoryEventLog(bus, cursors, uow), cursors, bus, uow, None)
        return
    db = log_db
    real_bus = PostgresEventBus(db)
    real_cursors = PostgresCursorStore(db)
    yield Log(PostgresEventLog(db, real_cursors), real_cursors, real_bus, db, db)
    await real_bus.close()


class Boom(Exception):
    pass


async def failing_batch(log: Log, work: LogCursor | None = None) -> None:
    """A batch of consumer "fold" whose work (saving `work` as a cursor of its own) ends in an error."""
    async with log.events.batch("fold", TIPS, 10, GRACE, NOW) as batch:
        assert batch.events
        if work is not None:
            await log.cursors.save("work", "fold", work)
        raise Boom


# -- cursors ---------------------------------------------------------------------------------------


async def test_a_new_cursor_starts_at_zero_and_a_saved_one_reads_back(log: Log) -> None:
    cursors = log.cursors
    assert await cursors.get(EVENT_LOG, "mail") == LogCursor(0, None)
    assert await cursors.locked("heartbeats", "mail") == LogCursor(0, None)
    await cursors.save(EVENT_LOG, "mail", LogCursor(41, NOW))
    assert await cursors.get(EVENT_LOG, "mail") == LogCursor(41, NOW)
    assert await cursors.locked(EVENT_LOG, "mail") == LogCursor(41, NOW)
    await cursors.save(EVENT_LOG, "mail", LogCursor(41, None))
    assert await cursors.get(EVENT_LOG, "mail") == LogCursor(41, None)
    assert await cursors.get(EVENT_LOG, "other") == LogCursor(0, None)
    assert await cursors.get("heartbeats", "mail") == LogCursor(0, None)  # each log has its own cursors


async def test_a_cursor_never_moves_back(log: Log) -> None:
    await log.cursors.save(EVENT_LOG, "mail", LogCursor(100))
    await log.cursors.save(EVENT_LOG, "mail", LogCursor(90))
    assert (await log.cursors.get(EVENT_LOG, "mail")).position == 100


async def test_the_lowest_cursor_counts_a_consumer_that_never_ran_as_zero(log: Log) -> None:
    await log.cursors.save(EVENT_LOG, "a", LogCursor(30))
    await log.cursors.save(EVENT_LOG, "b", LogCursor(12))
    await log.cursors.save("heartbeats", "c", LogCursor(1))
    assert await log.cursors.lowest(EVENT_LOG, ["a", "b"]) == 12
    assert await log.cursors.lowest(EVENT_LOG, ["a"]) == 30
    assert await log.cursors.lowest(EVENT_LOG, ["a", "new"]) == 0


# -- reading ---------------------------------------------------------------------------------------


async def test_a_read_returns_every_id_in_order_but_data_only_for_selected_events(log: Log) -> None:
    user = f"user:{uuid4()}"
    bus = log.bus
    await bus.publish(user, "video", {"video_id": "v", "state": "TRANSCODING", "progress": 40})
    await bus.publish(user, "video", {"video_id": "v", "state": "READY", "title": "Trip"})
    await bus.publish("video:abc", "tip", {"amount": 5, "from_name": "x"})
    await bus.publish(user, "unlock", {"video_id": "v"})
    await bus.publish(user, "tip", {"amount": 5, "from_name": "Grace"})
    await bus.publish(user, "payout", {"state": "PROCESSING"})
    await bus.publish(user, "payout", {"state": "PAID", "points": 1})
    page = await log.events.read(0, MAIL, 100)
    assert len(page.ids) == 7
    assert list(page.ids) == sorted(page.ids)
    selected = [(e.name, e.data.get("state")) for e in page.events]
    assert selected == [("video", "READY"), ("tip", None), ("payout", "PAID")]
    assert all(e.topic == user for e in page.events)
    assert page.events[0].data == {"video_id": "v", "state": "READY", "title": "Trip"}
    assert page.events[0].created_at.tzinfo is not None


async def test_a_read_starts_after_a_position_and_stops_at_a_limit(log: Log) -> None:
    user = f"user:{uuid4()}"
    for n in range(5):
        await log.bus.publish(user, "tip", {"amount": n})
    everything = await log.events.read(0, MAIL, 100)
    page = await log.events.read(everything.ids[1], MAIL, 2)
    assert list(page.ids) == list(everything.ids[2:4])
    assert [e.data["amount"] for e in page.events] == [2, 3]
    assert (await log.events.read(everything.ids[-1], MAIL, 100)).ids == []


async def test_events_are_read_by_topic_oldest_first_and_the_latest_newest_first(log: Log) -> None:
    mine, theirs = f"user:{uuid4()}", f"user:{uuid4()}"
    await log.bus.publish(mine, "video", {"video_id": "v", "state": "READY"})
    await log.bus.publish(mine, "sale", {"video_id": "v", "points": 50, "net": 45})
    await log.bus.publish(theirs, "tip", {"video_id": "w", "amount": 10})
    await log.bus.publish(mine, "tip", {"video_id": "v", "amount": 50, "message": "Bravo"})
    wanted = frozenset({"sale", "tip"})
    on_mine = await log.events.on_topic(mine, wanted, 0, 100)
    assert [e.name for e in on_mine] == ["sale", "tip"]
    assert await log.events.on_topic(mine, wanted, on_mine[0].id, 100) == [on_mine[1]]
    latest = await log.events.latest(mine, frozenset({"tip", "sale"}), 1)
    assert [(e.name, e.data["message"]) for e in latest] == [("tip", "Bravo")]
    assert [e.name for e in await log.events.latest(mine, wanted, 5)] == ["tip", "sale"]
    assert await log.events.latest(f"user:{uuid4()}", frozenset({"tip"}), 5) == []


# -- consuming in batches ----------------------------------------------------------------------------


async def test_a_batch_hands_over_the_selected_events_after_the_cursor_and_moves_it(log: Log) -> None:
    for n in range(5):
        await log.bus.publish("user:a", "tip" if n % 2 == 0 else "video", {"n": n})
    async with log.events.batch("fold", TIPS, 3, GRACE, NOW) as first:
        assert [e.data["n"] for e in first.events] == [0, 2]
    assert not first.exhausted  # three ids read of three asked: there may be more
    ids = await log.stored_ids()
    assert (await log.cursors.get(EVENT_LOG, "fold")).position == ids[2]
    async with log.events.batch("fold", TIPS, 3, GRACE, NOW) as second:
        assert [e.data["n"] for e in second.events] == [4]
    assert second.exhausted
    assert (await log.cursors.get(EVENT_LOG, "fold")).position == ids[4]
    async with log.events.batch("fold", TIPS, 3, GRACE, NOW) as third:
        assert third.events == []
    assert third.exhausted
    assert (await log.cursors.get(EVENT_LOG, "other")).position == 0  # consumers do not share cursors


async def test_a_batch_whose_work_fails_leaves_the_cursor_where_it_was(log: Log) -> None:
    await log.bus.publish("user:a", "tip", {"n": 1})
    with pytest.raises(Boom):
        await failing_batch(log)
    assert (await log.cursors.get(EVENT_LOG, "fold")).position == 0
    async with log.events.batch("fold", TIPS, 10, GRACE, NOW) as again:
        assert [e.data["n"] for e in again.events] == [1]  # handed over again


async def test_the_cursor_commits_with_the_consumers_writes_or_not_at_all(log: Log) -> None:
    """The consumer's own writes (here: another cursor, standing for its aggregates) and the cursor's
    move are one transaction."""
    if log.db is None:
        pytest.skip("the memory unit of work has nothing to roll back")
    await log.bus.publish("user:a", "tip", {"n": 1})
    with pytest.raises(Boom):
        await failing_batch(log, LogCursor(7))
    assert (await log.cursors.get("work", "fold")).position == 0
    async with log.events.batch("fold", TIPS, 10, GRACE, NOW):
        await log.cursors.save("work", "fold", LogCursor(7))
    assert (await log.cursors.get("work", "fold")).position == 7
    assert (await log.cursors.get(EVENT_LOG, "fold")).position == (await log.stored_ids())[-1]


async def test_a_consumer_that_stops_early_resumes_at_the_first_event_it_left(log: Log) -> None:
    for n in range(4):
        await log.bus.publish("user:a", "tip", {"n": n})
    async with log.events.batch("mail", TIPS, 10, GRACE, NOW) as batch:
        batch.stop_before(batch.events[2].id)
        assert [e.data["n"] for e in batch.events] == [0, 1]
    async with log.events.batch("mail", TIPS, 10, GRACE, NOW) as rest:
        assert [e.data["n"] for e in rest.events] == [2, 3]


async def test_two_runs_of_one_consumer_take_turns(pg: Injector) -> None:
    """The cursor is locked for the batch: a second run waits, then starts after the first's events."""
    db = pg.get(Database)
    cursors = PostgresCursorStore(db)
    events, bus = PostgresEventLog(db, cursors), PostgresEventBus(db)
    for n in range(3):
        await bus.publish("user:a", "tip", {"n": n})
    handed: list[list[int]] = []
    inside = asyncio.Event()

    async def run(first: bool) -> None:
        async with events.batch("fold", TIPS, 100, GRACE, NOW) as batch:
            handed.append([e.data["n"] for e in batch.events])
            if first:
                inside.set()
                await asyncio.sleep(0.2)

    one = asyncio.create_task(run(True))
    await inside.wait()
    await run(False)
    await one
    assert handed == [[0, 1, 2], []]
    await bus.close()


async def test_a_batch_waits_at_a_hole_until_the_grace_period_passes(pg: Injector) -> None:
    """An id still being committed is waited for; one rolled back is stepped over after the grace."""
    db = pg.get(Database)
    cursors = PostgresCursorStore(db)
    events, bus = PostgresEventLog(db, cursors), PostgresEventBus(db)
    await bus.publish("user:a", "tip", {"n": 1})

    async def rolled_back() -> None:
        async with db.atomic():
            await bus.publish("user:a", "tip", {"n": "rolled back"})
            raise Boom

    with pytest.raises(Boom):
        await rolled_back()
    await bus.publish("user:a", "tip", {"n": 3})
    async with events.batch("fold", TIPS, 100, GRACE, NOW) as first:
        assert [e.data["n"] for e in first.events] == [1]
    async with events.batch("fold", TIPS, 100, GRACE, NOW + GRACE) as later:
        assert [e.data["n"] for e in later.events] == [3]
    await bus.close()


# -- retention ---------------------------------------------------------------------------------------


async def test_retention_never_deletes_an_event_a_registered_consumer_has_not_read(log: Log) -> None:
    clock = FrozenClock(datetime.now(UTC))
    for n in range(6):
        await log.bus.publish("user:a", "video", {"n": n})
    await log.age_everything(RESUME_WINDOW + timedelta(hours=1))
    ids = await log.stored_ids()
    await log.cursors.save(EVENT_LOG, "fast", LogCursor(ids[4]))
    await log.cursors.save(EVENT_LOG, "slow", LogCursor(ids[1]))

    assert await prune_event_log(log.events, log.cursors, clock, ["fast", "slow", "never-ran"]) == 0
    assert await prune_event_log(log.events, log.cursors, clock, ["fast", "slow"]) == 2
    assert await log.stored_ids() == ids[2:]
    async with log.events.batch("slow", EventSelection(frozenset({"video"})), 100, GRACE, NOW) as batch:
        assert [e.data["n"] for e in batch.events] == [2, 3, 4, 5]  # everything it had not read
    assert await prune_event_log(log.events, log.cursors, clock, ["fast", "slow"]) == 3
    assert await log.stored_ids() == ids[5:]


async def test_retention_keeps_the_resume_window_and_the_history_features_read_back(log: Log) -> None:
    clock = FrozenClock(datetime.now(UTC))
    await log.bus.publish("user:a", "video", {"n": "old"})
    await log.bus.publish("user:a", "tip", {"n": "old tip"})
    await log.age_everything(RESUME_WINDOW + timedelta(minutes=1))
    await log.bus.publish("user:a", "video", {"n": "recent"})
    ids = await log.stored_ids()
    await log.cursors.save(EVENT_LOG, "all", LogCursor(ids[-1]))

    assert await prune_event_log(log.events, log.cursors, clock, ["all"], keep_names=["tip"]) == 1
    assert await log.stored_ids() == ids[1:]
    # A browser that saw the first event resumes with everything after it that is still stored.
    async with log.bus.subscribe(["user:a"], after_id=ids[0]) as resumed:
        replayed = resumed.take()
    assert [e.data["n"] for e in replayed] == ["old tip", "recent"]
