"""Playback adapters: heartbeats, views and the key-fetch log, in PostgreSQL and in memory."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from core.db import Database
from core.ids import uuid7
from features.playback.model import Heartbeat, KeyFetchDay


@dataclass
class _View:
    view_id: str
    session_id: str
    started_at: datetime


class MemoryHeartbeatRepository:
    def __init__(self) -> None:
        self.heartbeats: list[Heartbeat] = []
        self.views: dict[tuple[str, UUID, bool], _View] = {}

    async def add(self, heartbeat: Heartbeat) -> None:
        self.heartbeats.append(replace(heartbeat, id=len(self.heartbeats) + 1))

    async def add_to_view(self, heartbeat: Heartbeat, viewer_key: str, window_seconds: int) -> Heartbeat:
        slot = (viewer_key, heartbeat.video_id, heartbeat.preview)
        view = self.views.get(slot)
        if view is None or (
            view.session_id != heartbeat.session_id
            and view.started_at <= heartbeat.at - timedelta(seconds=window_seconds)
        ):
            view = self.views[slot] = _View(str(uuid7()), heartbeat.session_id, heartbeat.at)
        view.session_id = heartbeat.session_id
        stored = replace(heartbeat, session_id=view.view_id, id=len(self.heartbeats) + 1)
        self.heartbeats.append(stored)
        return stored

    async def watched_video_ids(self, viewer_id: UUID) -> set[UUID]:
        return {h.video_id for h in self.heartbeats if h.viewer_id == viewer_id}

    async def for_video(self, video_id: UUID, limit: int = 100) -> list[Heartbeat]:
        return [h for h in reversed(self.heartbeats) if h.video_id == video_id][:limit]

    async def after(self, after_id: int, limit: int) -> list[Heartbeat]:
        return [h for h in self.heartbeats if h.id > after_id][:limit]

    async def of_viewer(self, viewer_id: UUID, after_id: int, limit: int) -> list[Heartbeat]:
        return [h for h in self.heartbeats if h.viewer_id == viewer_id and h.id > after_id][:limit]


class PostgresHeartbeatRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, heartbeat: Heartbeat) -> None:
        await self.db.execute(
            "INSERT INTO playback_heartbeats (viewer_id, video_id, session_id, position_seconds, preview, at)"
            " VALUES ($1, $2, $3, $4, $5, $6)",
            heartbeat.viewer_id,
            heartbeat.video_id,
            heartbeat.session_id,
            heartbeat.position,
            heartbeat.preview,
            heartbeat.at,
        )

    async def add_to_view(self, heartbeat: Heartbeat, viewer_key: str, window_seconds: int) -> Heartbeat:
        # One statement: the view is decided under the row lock of the upsert, so concurrent heartbeats
        # of one viewer agree on it; SET expressions read the row as it was before this update.
        row = await self.db.fetchrow(
            "WITH view AS ("
            " INSERT INTO playback_views AS v (viewer_key, video_id, preview, view_id, session_id, started_at, last_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $6)"
            " ON CONFLICT (viewer_key, video_id, preview) DO UPDATE SET"
            "  view_id = CASE WHEN v.session_id <> EXCLUDED.session_id"
            "   AND v.started_at <= EXCLUDED.started_at - make_interval(secs => $7) THEN EXCLUDED.view_id"
            "   ELSE v.view_id END,"
            "  started_at = CASE WHEN v.session_id <> EXCLUDED.session_id"
            "   AND v.started_at <= EXCLUDED.started_at - make_interval(secs => $7) THEN EXCLUDED.started_at"
            "   ELSE v.started_at END,"
            "  session_id = EXCLUDED.session_id,"
            "  last_at = GREATEST(v.last_at, EXCLUDED.last_at)"
            " RETURNING view_id)"
            " INSERT INTO playback_heartbeats (viewer_id, video_id, session_id, position_seconds, preview, at)"
            " SELECT $8, $2, view.view_id, $9, $3, $6 FROM view RETURNING id, session_id",
            viewer_key,
            heartbeat.video_id,
            heartbeat.preview,
            str(uuid7()),
            heartbeat.session_id,
            heartbeat.at,
            float(window_seconds),
            heartbeat.viewer_id,
            heartbeat.position,
        )
        assert row is not None
        return replace(heartbeat, session_id=row["session_id"], id=row["id"])

    async def watched_video_ids(self, viewer_id: UUID) -> set[UUID]:
        rows = await self.db.fetch("SELECT DISTINCT video_id FROM playback_heartbeats WHERE viewer_id = $1", viewer_id)
        return {row["video_id"] for row in rows}

    async def for_video(self, video_id: UUID, limit: int = 100) -> list[Heartbeat]:
        rows = await self.db.fetch(
            "SELECT viewer_id, video_id, session_id, position_seconds, preview, at FROM playback_heartbeats"
            " WHERE video_id = $1 ORDER BY at DESC, id DESC LIMIT $2",
            video_id,
            limit,
        )
        return [
            Heartbeat(r["viewer_id"], r["video_id"], r["session_id"], r["position_seconds"], r["preview"], r["at"])
            for r in rows
        ]

    async def after(self, after_id: int, limit: int) -> list[Heartbeat]:
        rows = await self.db.fetch(
            "SELECT id, viewer_id, video_id, session_id, position_seconds, preview, at FROM playback_heartbeats"
            " WHERE id > $1 ORDER BY id LIMIT $2",
            after_id,
            limit,
        )
        return [
            Heartbeat(
                r["viewer_id"], r["video_id"], r["session_id"], r["position_seconds"], r["preview"], r["at"], id=r["id"]
            )
            for r in rows
        ]

    async def of_viewer(self, viewer_id: UUID, after_id: int, limit: int) -> list[Heartbeat]:
        rows = await self.db.fetch(
            "SELECT id, viewer_id, video_id, session_id, position_seconds, preview, at FROM playback_heartbeats"
            " WHERE viewer_id = $1 AND id > $2 ORDER BY id LIMIT $3",
            viewer_id,
            after_id,
            limit,
        )
        return [
            Heartbeat(
                r["viewer_id"], r["video_id"], r["session_id"], r["position_seconds"], r["preview"], r["at"], id=r["id"]
            )
            for r in rows
        ]


def _utc_day(at: datetime) -> date:
    return at.astimezone(UTC).date()


class MemoryKeyFetchLog:
    def __init__(self) -> None:
        self.days: dict[tuple[UUID, UUID, date], KeyFetchDay] = {}

    async def record(self, viewer_id: UUID, video_id: UUID, at: datetime) -> None:
        slot = (viewer_id, video_id, _utc_day(at))
        found = self.days.get(slot)
        if found is None:
            self.days[slot] = KeyFetchDay(viewer_id, video_id, slot[2], 1, at, at)
        else:
            self.days[slot] = replace(
                found, fetches=found.fetches + 1, first_at=min(found.first_at, at), last_at=max(found.last_at, at)
            )

    async def busiest(self, since: date, until: date, at_least: int, limit: int) -> list[KeyFetchDay]:
        found = [d for d in self.days.values() if since <= d.day <= until and d.fetches >= at_least]
        return sorted(found, key=lambda d: (-d.fetches, -d.day.toordinal(), str(d.viewer_id)))[:limit]

    async def of_viewer(self, viewer_id: UUID, since: date, limit: int) -> list[KeyFetchDay]:
        found = [d for d in self.days.values() if d.viewer_id == viewer_id and d.day >= since]
        return sorted(found, key=lambda d: (-d.day.toordinal(), -d.fetches, str(d.video_id)))[:limit]


_KEY_FETCH_COLUMNS = "viewer_id, video_id, day, fetches, first_at, last_at"


def _key_fetch_day(row: Any) -> KeyFetchDay:
    return KeyFetchDay(row["viewer_id"], row["video_id"], row["day"], row["fetches"], row["first_at"], row["last_at"])


class PostgresKeyFetchLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, viewer_id: UUID, video_id: UUID, at: datetime) -> None:
        # An audit counter, not money: its commit does not wait for the WAL flush (synchronous_commit off
        # for this one transaction, set in the same statement), so the hot key endpoint pays no fsync; a
        # crash may lose the last fraction of a second of counts, never corrupt them.
        await self.db.execute(
            "WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true))"
            " INSERT INTO key_fetches AS k (viewer_id, video_id, day, fetches, first_at, last_at)"
            " SELECT $1, $2, $3, 1, $4, $4 FROM async_commit"
            " ON CONFLICT (viewer_id, video_id, day) DO UPDATE SET fetches = k.fetches + 1,"
            " first_at = LEAST(k.first_at, EXCLUDED.first_at), last_at = GREATEST(k.last_at, EXCLUDED.last_at)",
            viewer_id,
            video_id,
            _utc_day(at),
            at,
        )

    async def busiest(self, since: date, until: date, at_least: int, limit: int) -> list[KeyFetchDay]:
        rows = await self.db.fetch(
            f"SELECT {_KEY_FETCH_COLUMNS} FROM key_fetches"  # noqa: S608
            " WHERE day BETWEEN $1 AND $2 AND fetches >= $3 ORDER BY fetches DESC, day DESC, viewer_id LIMIT $4",
            since,
            until,
            at_least,
            limit,
        )
        return [_key_fetch_day(r) for r in rows]

    async def of_viewer(self, viewer_id: UUID, since: date, limit: int) -> list[KeyFetchDay]:
        rows = await self.db.fetch(
            f"SELECT {_KEY_FETCH_COLUMNS} FROM key_fetches"  # noqa: S608
            " WHERE viewer_id = $1 AND day >= $2 ORDER BY day DESC, fetches DESC, video_id LIMIT $3",
            viewer_id,
            since,
            limit,
        )
        return [_key_fetch_day(r) for r in rows]
