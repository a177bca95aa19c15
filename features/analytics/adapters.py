"""Analytics adapters: the aggregate store and the event-log reader, on PostgreSQL and in memory."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import date, datetime
from typing import Any
from uuid import UUID

from core.db import Database
from core.events import Event, MemoryEventBus
from features.analytics.model import (
    Cursor,
    RevenueDay,
    Session,
    SessionKey,
    ViewerCounts,
    ViewerDay,
    WatchDay,
    WatchFold,
)
from features.analytics.ports import JournalPage
from features.analytics.tables import RevenueDayTable, SessionFoldTable, WatchDayTable

# -- the aggregate store -------------------------------------------------------------------------------

_SESSION_COLUMNS = (
    "video_id, session_id, owner_id, day, viewer_key, preview, last_at, last_position_ms, max_position_ms, watched_ms"
)


def _session(row: Any) -> Session:
    return Session(
        video_id=row["video_id"],
        session_id=row["session_id"],
        owner_id=row["owner_id"],
        day=row["day"],
        viewer_key=row["viewer_key"],
        preview=row["preview"],
        last_at=row["last_at"],
        last_position_ms=row["last_position_ms"],
        max_position_ms=row["max_position_ms"],
        watched_ms=row["watched_ms"],
    )


def _watch_day(row: Any) -> WatchDay:
    return WatchDay(
        row["video_id"],
        row["owner_id"],
        row["day"],
        row["views"],
        row["preview_views"],
        row["watch_ms"],
        tuple(row["reach"]),
    )


def _revenue_day(row: Any) -> RevenueDay:
    return RevenueDay(
        row["video_id"],
        row["owner_id"],
        row["day"],
        row["sales"],
        row["gross_points"],
        row["net_points"],
        row["tips"],
        row["tip_points"],
    )


class PostgresAnalyticsStore:
    """The folds are SQL: bulk writes go through unnest() arrays, so a batch is a handful of statements;
    the plain reads of the daily tables are Piccolo."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def locked_cursor(self, name: str) -> Cursor:
        await self.db.execute("INSERT INTO analytics_cursors (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", name)
        row = await self.db.fetchrow(
            "SELECT position, gap_seen_at FROM analytics_cursors WHERE name = $1 FOR UPDATE", name
        )
        assert row is not None
        return Cursor(row["position"], row["gap_seen_at"])

    async def save_cursor(self, name: str, cursor: Cursor) -> None:
        await self.db.execute(
            "INSERT INTO analytics_cursors (name, position, gap_seen_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (name) DO UPDATE SET position = EXCLUDED.position, gap_seen_at = EXCLUDED.gap_seen_at,"
            " updated_at = now()",
            name,
            cursor.position,
            cursor.gap_seen_at,
        )

    async def position(self, name: str) -> int:
        found = await self.db.fetchval("SELECT position FROM analytics_cursors WHERE name = $1", name)
        return int(found or 0)

    async def sessions(self, keys: Collection[SessionKey]) -> dict[SessionKey, Session]:
        if not keys:
            return {}
        videos, ids = zip(*keys, strict=True)
        # SQL: many (video, session) keys matched in one query through unnest().
        rows = await self.db.fetch(
            f"SELECT {_SESSION_COLUMNS} FROM analytics_sessions"  # noqa: S608
            " JOIN unnest($1::uuid[], $2::text[]) AS k(video_id, session_id) USING (video_id, session_id)",
            list(videos),
            list(ids),
        )
        return {(r["video_id"], r["session_id"]): _session(r) for r in rows}

    async def apply_watch(self, fold: WatchFold) -> None:
        sessions = list(fold.sessions.values())
        if sessions:
            # SQL: the analytics fold: unnest() upserts a batch in one statement; the daily tables add up.
            await self.db.execute(
                f"INSERT INTO analytics_sessions ({_SESSION_COLUMNS})"  # noqa: S608
                " SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::date[], $5::text[], $6::boolean[],"
                " $7::timestamptz[], $8::bigint[], $9::bigint[], $10::bigint[])"
                " ON CONFLICT (video_id, session_id) DO UPDATE SET last_at = EXCLUDED.last_at,"
                " last_position_ms = EXCLUDED.last_position_ms, max_position_ms = EXCLUDED.max_position_ms,"
                " watched_ms = EXCLUDED.watched_ms",
                [s.video_id for s in sessions],
                [s.session_id for s in sessions],
                [s.owner_id for s in sessions],
                [s.day for s in sessions],
                [s.viewer_key for s in sessions],
                [s.preview for s in sessions],
                [s.last_at for s in sessions],
                [s.last_position_ms for s in sessions],
                [s.max_position_ms for s in sessions],
                [s.watched_ms for s in sessions],
            )
        days = list(fold.days.values())
        if days:
            async with self.db.connection() as conn:
                await conn.executemany(
                    "INSERT INTO analytics_watch_days AS d (video_id, day, owner_id, views, preview_views, watch_ms,"
                    " reach) VALUES ($1, $2, $3, $4, $5, $6, $7::integer[])"
                    " ON CONFLICT (video_id, day) DO UPDATE SET views = d.views + EXCLUDED.views,"
                    " preview_views = d.preview_views + EXCLUDED.preview_views,"
                    " watch_ms = d.watch_ms + EXCLUDED.watch_ms,"
                    " reach = ARRAY(SELECT a + b FROM unnest(d.reach, EXCLUDED.reach) WITH ORDINALITY AS r(a, b, n)"
                    " ORDER BY n)",
                    [
                        (d.video_id, d.day, d.owner_id, d.views, d.preview_views, d.watch_ms, list(d.reach))
                        for d in days
                    ],
                )
        viewers = list(fold.viewers)
        if viewers:
            await self.db.execute(
                "INSERT INTO analytics_viewer_days (video_id, day, owner_id, viewer_key)"
                " SELECT * FROM unnest($1::uuid[], $2::date[], $3::uuid[], $4::text[]) ON CONFLICT DO NOTHING",
                [v.video_id for v in viewers],
                [v.day for v in viewers],
                [v.owner_id for v in viewers],
                [v.viewer_key for v in viewers],
            )

    async def forget_sessions(self, before: datetime) -> None:
        await SessionFoldTable.delete().where(SessionFoldTable.last_at < before)

    async def apply_revenue(self, days: Mapping[tuple[UUID, date], RevenueDay]) -> None:
        if not days:
            return
        # SQL: the analytics fold: upserts that add to the day's figures.
        async with self.db.connection() as conn:
            await conn.executemany(
                "INSERT INTO analytics_revenue_days AS d (video_id, day, owner_id, sales, gross_points, net_points,"
                " tips, tip_points) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                " ON CONFLICT (video_id, day) DO UPDATE SET sales = d.sales + EXCLUDED.sales,"
                " gross_points = d.gross_points + EXCLUDED.gross_points,"
                " net_points = d.net_points + EXCLUDED.net_points, tips = d.tips + EXCLUDED.tips,"
                " tip_points = d.tip_points + EXCLUDED.tip_points",
                [
                    (r.video_id, r.day, r.owner_id, r.sales, r.gross_points, r.net_points, r.tips, r.tip_points)
                    for r in days.values()
                ],
            )

    async def watch_days(self, owner_id: UUID, start: date, end: date, video_id: UUID | None = None) -> list[WatchDay]:
        query = (
            WatchDayTable.select()
            .where((WatchDayTable.owner_id == owner_id) & (WatchDayTable.day >= start) & (WatchDayTable.day <= end))
            .order_by(WatchDayTable.day, WatchDayTable.video_id)
        )
        if video_id is not None:
            query = query.where(WatchDayTable.video_id == video_id)
        return [_watch_day(r) for r in await query]

    async def viewer_counts(self, owner_id: UUID, start: date, end: date, video_id: UUID | None = None) -> ViewerCounts:
        # SQL: distinct viewers per video and day, per video and in all, in one GROUPING SETS query.
        rows = await self.db.fetch(
            "SELECT video_id, day, count(DISTINCT viewer_key) AS viewers, GROUPING(video_id, day) AS level"
            " FROM analytics_viewer_days"
            " WHERE owner_id = $1 AND day BETWEEN $2 AND $3 AND ($4::uuid IS NULL OR video_id = $4)"
            " GROUP BY GROUPING SETS ((video_id, day), (video_id), ())",
            owner_id,
            start,
            end,
            video_id,
        )
        total = 0
        by_video: dict[UUID, int] = {}
        by_video_day: dict[tuple[UUID, date], int] = {}
        for row in rows:
            if row["level"] == 0:
                by_video_day[(row["video_id"], row["day"])] = row["viewers"]
            elif row["level"] == 1:
                by_video[row["video_id"]] = row["viewers"]
            else:
                total = row["viewers"]
        return ViewerCounts(total, by_video, by_video_day)

    async def revenue_days(
        self, owner_id: UUID, start: date, end: date, video_id: UUID | None = None
    ) -> list[RevenueDay]:
        query = (
            RevenueDayTable.select()
            .where(
                (RevenueDayTable.owner_id == owner_id) & (RevenueDayTable.day >= start) & (RevenueDayTable.day <= end)
            )
            .order_by(RevenueDayTable.day, RevenueDayTable.video_id)
        )
        if video_id is not None:
            query = query.where(RevenueDayTable.video_id == video_id)
        return [_revenue_day(r) for r in await query]


class MemoryAnalyticsStore:
    def __init__(self) -> None:
        self.cursors: dict[str, Cursor] = {}
        self.stored_sessions: dict[SessionKey, Session] = {}
        self.days: dict[tuple[UUID, date], WatchDay] = {}
        self.viewers: set[ViewerDay] = set()
        self.revenue: dict[tuple[UUID, date], RevenueDay] = {}

    async def locked_cursor(self, name: str) -> Cursor:
        return self.cursors.get(name, Cursor())

    async def save_cursor(self, name: str, cursor: Cursor) -> None:
        self.cursors[name] = cursor

    async def position(self, name: str) -> int:
        return self.cursors.get(name, Cursor()).position

    async def sessions(self, keys: Collection[SessionKey]) -> dict[SessionKey, Session]:
        return {key: self.stored_sessions[key] for key in keys if key in self.stored_sessions}

    async def apply_watch(self, fold: WatchFold) -> None:
        self.stored_sessions.update(fold.sessions)
        for slot, change in fold.days.items():
            current = self.days.get(slot)
            self.days[slot] = current.plus(change) if current else change
        self.viewers |= fold.viewers

    async def forget_sessions(self, before: datetime) -> None:
        self.stored_sessions = {k: v for k, v in self.stored_sessions.items() if v.last_at >= before}

    async def apply_revenue(self, days: Mapping[tuple[UUID, date], RevenueDay]) -> None:
        for slot, change in days.items():
            current = self.revenue.get(slot)
            self.revenue[slot] = current.plus(change) if current else change

    async def watch_days(self, owner_id: UUID, start: date, end: date, video_id: UUID | None = None) -> list[WatchDay]:
        found = [
            d
            for d in self.days.values()
            if d.owner_id == owner_id and start <= d.day <= end and video_id in (None, d.video_id)
        ]
        return sorted(found, key=lambda d: (d.day, str(d.video_id)))

    async def viewer_counts(self, owner_id: UUID, start: date, end: date, video_id: UUID | None = None) -> ViewerCounts:
        seen = [
            v
            for v in self.viewers
            if v.owner_id == owner_id and start <= v.day <= end and video_id in (None, v.video_id)
        ]
        by_video: dict[UUID, set[str]] = {}
        by_video_day: dict[tuple[UUID, date], set[str]] = {}
        for v in seen:
            by_video.setdefault(v.video_id, set()).add(v.viewer_key)
            by_video_day.setdefault((v.video_id, v.day), set()).add(v.viewer_key)
        return ViewerCounts(
            len({v.viewer_key for v in seen}),
            {k: len(s) for k, s in by_video.items()},
            {k: len(s) for k, s in by_video_day.items()},
        )

    async def revenue_days(
        self, owner_id: UUID, start: date, end: date, video_id: UUID | None = None
    ) -> list[RevenueDay]:
        found = [
            r
            for r in self.revenue.values()
            if r.owner_id == owner_id and start <= r.day <= end and video_id in (None, r.video_id)
        ]
        return sorted(found, key=lambda r: (r.day, str(r.video_id)))


# -- the event log ---------------------------------------------------------------------------------------


def _event(row: Any) -> Event:
    return Event(row["id"], row["topic"], row["name"], json.loads(row["data"]), row["created_at"])


class PostgresEventJournal:
    """Reads core's `event_log` with plain SQL; data travels only for the wanted events."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def read(self, after: int, names: frozenset[str], limit: int) -> JournalPage:
        rows = await self.db.fetch(
            "SELECT id, topic, name, created_at, CASE WHEN name = ANY($3::text[]) THEN data END AS data"
            " FROM event_log WHERE id > $1 ORDER BY id LIMIT $2",
            after,
            limit,
            sorted(names),
        )
        return JournalPage([r["id"] for r in rows], [_event(r) for r in rows if r["data"] is not None])

    async def on_topic(self, topic: str, names: frozenset[str], after: int, limit: int) -> list[Event]:
        rows = await self.db.fetch(
            "SELECT id, topic, name, data, created_at FROM event_log"
            " WHERE topic = $1 AND id > $2 AND name = ANY($3::text[]) ORDER BY id LIMIT $4",
            topic,
            after,
            sorted(names),
            limit,
        )
        return [_event(r) for r in rows]

    async def latest(self, topic: str, names: frozenset[str], limit: int) -> list[Event]:
        rows = await self.db.fetch(
            "SELECT id, topic, name, data, created_at FROM event_log"
            " WHERE topic = $1 AND name = ANY($2::text[]) ORDER BY id DESC LIMIT $3",
            topic,
            sorted(names),
            limit,
        )
        return [_event(r) for r in rows]


class MemoryEventJournal:
    """Reads the events a MemoryEventBus has stored."""

    def __init__(self, bus: MemoryEventBus) -> None:
        self.bus = bus

    def _sorted(self) -> list[Event]:
        return sorted(self.bus.events, key=lambda e: e.id)

    async def read(self, after: int, names: frozenset[str], limit: int) -> JournalPage:
        stored = [e for e in self._sorted() if e.id > after][:limit]
        return JournalPage([e.id for e in stored], [e for e in stored if e.name in names])

    async def on_topic(self, topic: str, names: frozenset[str], after: int, limit: int) -> list[Event]:
        return [e for e in self._sorted() if e.topic == topic and e.id > after and e.name in names][:limit]

    async def latest(self, topic: str, names: frozenset[str], limit: int) -> list[Event]:
        return [e for e in reversed(self._sorted()) if e.topic == topic and e.name in names][:limit]
