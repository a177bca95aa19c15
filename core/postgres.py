"""PostgreSQL adapters of core's ports: the event bus, the event log's consumers and their cursors,
rate limits and pipeline checkpoints."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from core.clock import Clock
from core.db import Database
from core.eventlog import PRUNE_BATCH, Batch, EventSelection, LogPage, consume_batch
from core.events import REPLAY_LIMIT, Event, LogCursor, Subscribers, Subscription
from core.pipeline import Output
from core.ratelimit import Allowance, allowance
from core.tables import CheckpointTable, RateLimitTable

log = logging.getLogger(__name__)

CHANNEL = "hypha_events"
# The start of a notification's payload, `{"id" : 12, "topic" : "user:…", …}` as json_build_object writes it:
# the id and a topic without quotes or escapes (anything else is parsed in full).
_NOTIFY_HEAD = re.compile(r'\{"id" ?: ?(\d+), ?"topic" ?: ?"([^"\\]*)"')


class PostgresEventBus:
    """Events stored in `event_log` and announced with NOTIFY; one LISTEN connection per process."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._subscribers = Subscribers()
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()
        self._last_seen = 0
        self._watchdog: asyncio.Task[None] | None = None

    async def publish(self, topic: str, name: str, data: Mapping[str, Any]) -> None:
        payload = json.dumps(data, separators=(",", ":"), default=str)
        await self.db.execute(
            "WITH e AS (INSERT INTO event_log (topic, name, data) VALUES ($1, $2, $3::jsonb)"
            " RETURNING id, topic, name, data)"
            " SELECT pg_notify($4, json_build_object('id', e.id, 'topic', e.topic, 'name', e.name,"
            " 'data', CASE WHEN octet_length(e.data::text) < 7000 THEN e.data END)::text) FROM e",
            topic,
            name,
            payload,
            CHANNEL,
        )

    async def publish_all(self, events: Sequence[tuple[str, str, Mapping[str, Any]]]) -> None:
        # One statement for all (the unlock's hot path): ids and notifications follow the given order.
        if not events:
            return
        await self.db.execute(
            "WITH e AS (INSERT INTO event_log (topic, name, data)"
            " SELECT t, n, d::jsonb FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS x(t, n, d, i)"
            " ORDER BY i RETURNING id, topic, name, data)"
            " SELECT pg_notify($4, json_build_object('id', e.id, 'topic', e.topic, 'name', e.name,"
            " 'data', CASE WHEN octet_length(e.data::text) < 7000 THEN e.data END)::text) FROM e ORDER BY e.id",
            [topic for topic, _, _ in events],
            [name for _, name, _ in events],
            [json.dumps(data, separators=(",", ":"), default=str) for _, _, data in events],
            CHANNEL,
        )

    @asynccontextmanager
    async def subscribe(self, topics: Sequence[str], after_id: int | None = None) -> AsyncIterator[Subscription]:
        await self._ensure_listening()
        sub = Subscription(topics)
        self._subscribers.add(sub)
        try:
            if after_id is not None:
                for event in await self._stored(list(sub.topics), after_id):
                    sub.offer(event)
            yield sub
        finally:
            self._subscribers.discard(sub)

    async def close(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._conn is not None and not self._conn.is_closed():
            await self._conn.close()
        self._conn = None

    async def _stored(self, topics: list[str], after_id: int, limit: int = REPLAY_LIMIT) -> list[Event]:
        rows = await self.db.fetch(
            "SELECT id, topic, name, data, created_at FROM event_log"
            " WHERE id > $1 AND topic = ANY($2::text[]) ORDER BY id LIMIT $3",
            after_id,
            topics,
            limit,
        )
        return [Event(r["id"], r["topic"], r["name"], json.loads(r["data"]), r["created_at"]) for r in rows]

    async def _ensure_listening(self) -> None:
        async with self._lock:
            if self._conn is not None and not self._conn.is_closed():
                return
            self._conn = await asyncpg.connect(self.db.url)
            await self._conn.add_listener(CHANNEL, self._on_notify)
            if self._last_seen == 0:
                self._last_seen = int(await self._conn.fetchval("SELECT coalesce(max(id), 0) FROM event_log"))
            else:
                await self._catch_up()
            if self._watchdog is None:
                self._watchdog = asyncio.create_task(self._watch())

    async def _watch(self) -> None:
        """Reconnect the LISTEN connection if PostgreSQL drops it, then replay what was missed."""
        while True:
            await asyncio.sleep(1.0)
            if self._conn is None or self._conn.is_closed():
                try:
                    await self._ensure_listening()
                except (OSError, asyncpg.PostgresError) as error:
                    log.warning("event bus reconnect failed: %s", error)

    async def _catch_up(self) -> None:
        topics = self._subscribers.topics()
        if topics:
            for event in await self._stored(topics, self._last_seen, limit=5000):
                self._dispatch(event)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        # Every web process hears every notification; most are for topics nobody here listens to (a sale
        # on another creator's topic). Those are told apart by the payload's head — json_build_object
        # writes the id and the topic first — and cost no parse and no task (issue 16: ≈ a tenth of a
        # click's CPU went to notifications for nobody).
        head = _NOTIFY_HEAD.match(payload)
        if head is not None and not self._subscribers.listens_to(head[2]):
            self._last_seen = max(self._last_seen, int(head[1]))
            return
        message = json.loads(payload)
        if message.get("data") is None:
            asyncio.get_running_loop().create_task(self._fetch_and_dispatch(int(message["id"])))
            return
        # In a task, not right here: asyncpg calls listeners outside any task, and a subscriber's render
        # that opens a pool connection (asyncio.timeout inside) fails there ("Timeout should be used
        # inside a task"), ending the stream. One task per notification, however many subscribers.
        event = Event(int(message["id"]), message["topic"], message["name"], message["data"])
        asyncio.get_running_loop().create_task(self._dispatch_in_task(event))

    async def _dispatch_in_task(self, event: Event) -> None:
        self._dispatch(event)

    async def _fetch_and_dispatch(self, event_id: int) -> None:
        row = await self.db.fetchrow("SELECT id, topic, name, data, created_at FROM event_log WHERE id = $1", event_id)
        if row is not None:
            self._dispatch(Event(row["id"], row["topic"], row["name"], json.loads(row["data"]), row["created_at"]))

    def _dispatch(self, event: Event) -> None:
        self._last_seen = max(self._last_seen, event.id)
        self._subscribers.offer(event)


def _stored_event(row: Any) -> Event:
    return Event(row["id"], row["topic"], row["name"], json.loads(row["data"]), row["created_at"])


def _selection_sql(selection: EventSelection, first_param: int) -> tuple[str, list[Any]]:
    """A SQL condition equal to `selection.wants(topic, name, data)`, with its parameters."""
    params: list[Any] = [selection.topic_prefix]
    n = first_param
    alternatives: list[str] = []
    plain = sorted(name for name in selection.names if name not in selection.states)
    if plain:
        alternatives.append(f"name = ANY(${n + 1}::text[])")
        params.append(plain)
        n += 1
    for name in sorted(selection.names & selection.states.keys()):
        alternatives.append(f"(name = ${n + 1} AND data->>'state' = ANY(${n + 2}::text[]))")
        params.extend([name, sorted(selection.states[name])])
        n += 2
    condition = " OR ".join(alternatives) or "false"
    return f"starts_with(topic, ${first_param}) AND ({condition})", params


class PostgresCursorStore:
    """`log_cursors`: one row per (log, consumer)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def locked(self, log: str, consumer: str) -> LogCursor:
        await self.db.execute(
            "INSERT INTO log_cursors (log, consumer) VALUES ($1, $2) ON CONFLICT (log, consumer) DO NOTHING",
            log,
            consumer,
        )
        row = await self.db.fetchrow(
            "SELECT position, gap_seen_at FROM log_cursors WHERE log = $1 AND consumer = $2 FOR UPDATE", log, consumer
        )
        assert row is not None
        return LogCursor(row["position"], row["gap_seen_at"])

    async def get(self, log: str, consumer: str) -> LogCursor:
        row = await self.db.fetchrow(
            "SELECT position, gap_seen_at FROM log_cursors WHERE log = $1 AND consumer = $2", log, consumer
        )
        return LogCursor(row["position"], row["gap_seen_at"]) if row else LogCursor()

    async def save(self, log: str, consumer: str, cursor: LogCursor) -> None:
        await self.db.execute(
            "INSERT INTO log_cursors AS c (log, consumer, position, gap_seen_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (log, consumer) DO UPDATE SET position = EXCLUDED.position,"
            " gap_seen_at = EXCLUDED.gap_seen_at, updated_at = now() WHERE c.position <= EXCLUDED.position",
            log,
            consumer,
            cursor.position,
            cursor.gap_seen_at,
        )

    async def lowest(self, log: str, consumers: Collection[str]) -> int:
        found = await self.db.fetchval(
            "SELECT min(coalesce(c.position, 0)) FROM unnest($2::text[]) AS r(consumer)"
            " LEFT JOIN log_cursors c ON c.log = $1 AND c.consumer = r.consumer",
            log,
            sorted(consumers),
        )
        return int(found or 0)


class PostgresEventLog:
    """Reads `event_log` with plain SQL (a filter on jsonb, keyset reads): data travels only for the
    selected events, and a consumer's batch reads ids it does not want without their payloads."""

    def __init__(self, db: Database, cursors: PostgresCursorStore) -> None:
        self.db = db
        self.cursors = cursors

    def batch(
        self, consumer: str, selection: EventSelection, limit: int, grace: timedelta, now: datetime
    ) -> AbstractAsyncContextManager[Batch]:
        return consume_batch(self, self.cursors, self.db, consumer, selection, limit, grace, now)

    async def read(self, after: int, selection: EventSelection, limit: int) -> LogPage:
        condition, params = _selection_sql(selection, 3)
        rows = await self.db.fetch(
            f"SELECT id, topic, name, created_at, CASE WHEN {condition} THEN data END AS data"  # noqa: S608
            " FROM event_log WHERE id > $1 ORDER BY id LIMIT $2",
            after,
            limit,
            *params,
        )
        return LogPage([r["id"] for r in rows], [_stored_event(r) for r in rows if r["data"] is not None])

    async def on_topic(self, topic: str, names: frozenset[str], after: int, limit: int) -> list[Event]:
        rows = await self.db.fetch(
            "SELECT id, topic, name, data, created_at FROM event_log"
            " WHERE topic = $1 AND id > $2 AND name = ANY($3::text[]) ORDER BY id LIMIT $4",
            topic,
            after,
            sorted(names),
            limit,
        )
        return [_stored_event(r) for r in rows]

    async def latest(self, topic: str, names: frozenset[str], limit: int) -> list[Event]:
        rows = await self.db.fetch(
            "SELECT id, topic, name, data, created_at FROM event_log"
            " WHERE topic = $1 AND name = ANY($2::text[]) ORDER BY id DESC LIMIT $3",
            topic,
            sorted(names),
            limit,
        )
        return [_stored_event(r) for r in rows]

    async def prune(self, through: int, before: datetime, keep_names: Collection[str]) -> int:
        deleted = 0
        while True:
            status = await self.db.execute(
                "DELETE FROM event_log WHERE id IN (SELECT id FROM event_log WHERE id <= $1 AND created_at < $2"
                " AND name <> ALL($3::text[]) ORDER BY id LIMIT $4)",
                through,
                before,
                sorted(keep_names),
                PRUNE_BATCH,
            )
            count = int(status.rsplit(" ", 1)[-1])
            deleted += count
            if count < PRUNE_BATCH:
                return deleted


# SQL: one call counts the hit or opens a new window and returns the result, atomically
# (migrations/2600_rate_limit_hit.sql).
_HIT_IN_TRANSACTION = "SELECT * FROM rate_limit_hit($1, $2, $3)"
_HIT_ON_ITS_OWN = (  # the same, committed without waiting for the WAL flush (see PostgresRateLimiter.hit)
    "SELECT hit.* FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit,"
    " rate_limit_hit($1, $2, $3) AS hit"
)


class PostgresRateLimiter:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def peek(self, key: str, limit: int, window: int) -> Allowance:
        now = self.clock.now()
        row = (
            await RateLimitTable.select(RateLimitTable.window_start, RateLimitTable.hits)
            .where(RateLimitTable.key == key)
            .first()
        )
        if row is None or now - row["window_start"] >= timedelta(seconds=window):
            return allowance(1, limit, now, window, now)
        return allowance(row["hits"] + 1, limit, row["window_start"], window, now)

    async def hit(self, key: str, limit: int, window: int) -> Allowance:
        now = self.clock.now()
        # A counter of its own, not money: on its own (no caller's transaction) its commit does not wait
        # for the WAL flush, so a click pays one fsync (its purchase), not two; a crash may forget the
        # last fraction of a second of hits. Inside a caller's transaction it commits as that does.
        row = await self.db.fetchrow(
            _HIT_ON_ITS_OWN if self.db.engine.current_transaction.get() is None else _HIT_IN_TRANSACTION,
            key,
            now,
            float(window),
        )
        assert row is not None
        return allowance(row["hits"], limit, row["window_start"], window, now)

    async def reset(self, key: str) -> None:
        await RateLimitTable.delete().where(RateLimitTable.key == key)


class PostgresCheckpointStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def completed(self, run_id: str) -> dict[str, Output]:
        rows = (
            await CheckpointTable.select(CheckpointTable.unit, CheckpointTable.output)
            .where(CheckpointTable.run_id == run_id)
            .order_by(CheckpointTable.completed_at, CheckpointTable.unit)
        )
        return {r["unit"]: json.loads(r["output"]) for r in rows}

    async def record(self, run_id: str, unit_name: str, output: Output) -> None:
        row = CheckpointTable(
            run_id=run_id, unit=unit_name, output=json.dumps(dict(output), default=str), completed_at=datetime.now(UTC)
        )
        await CheckpointTable.insert(row).on_conflict(
            target=(CheckpointTable.run_id, CheckpointTable.unit),
            action="DO UPDATE",
            values=[CheckpointTable.output, CheckpointTable.completed_at],
        )

    async def clear(self, run_id: str) -> None:
        await CheckpointTable.delete().where(CheckpointTable.run_id == run_id)
