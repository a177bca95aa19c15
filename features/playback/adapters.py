"""Playback adapters: heartbeats, views and the key-fetch log, in PostgreSQL and in memory."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from core.db import Database
from core.ids import uuid7
from features.playback.model import Heartbeat, KeyFetchDay
from features.playback.tables import HeartbeatTable, KeyFetchTable


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
        await HeartbeatTable.insert(
            HeartbeatTable(
                viewer_id=heartbeat.viewer_id,
                video_id=heartbeat.video_id,
                session_id=heartbeat.session_id,
                position_seconds=heartbeat.position,
                preview=heartbeat.preview,
                at=heartbeat.at,
            )
        )

    async def add_to_view(self, heartbeat: Heartbeat, viewer_key: str, window_seconds: int) -> Heartbeat:
        # SQL: an upsert feeding an insert in one statement (the hot heartbeat path, one round trip).
        # The view is decided under the row lock of the upsert, so concurrent heartbeats of one viewer
        # agree on it; SET expressions read the row as it was before this update.
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
        rows = (
            await HeartbeatTable.select(HeartbeatTable.video_id).where(HeartbeatTable.viewer_id == viewer_id).distinct()
        )
        return {row["video_id"] for row in rows}

    async def for_video(self, video_id: UUID, limit: int = 100) -> list[Heartbeat]:
        rows = (
            await HeartbeatTable.select()
            .where(HeartbeatTable.video_id == video_id)
            .order_by(HeartbeatTable.at, HeartbeatTable.id, ascending=False)
            .limit(limit)
        )
        return [_heartbeat(row) for row in rows]

    async def after(self, after_id: int, limit: int) -> list[Heartbeat]:
        rows = (
            await HeartbeatTable.select().where(HeartbeatTable.id > after_id).order_by(HeartbeatTable.id).limit(limit)
        )
        return [_heartbeat(row) for row in rows]

    async def of_viewer(self, viewer_id: UUID, after_id: int, limit: int) -> list[Heartbeat]:
        rows = (
            await HeartbeatTable.select()
            .where((HeartbeatTable.viewer_id == viewer_id) & (HeartbeatTable.id > after_id))
            .order_by(HeartbeatTable.id)
            .limit(limit)
        )
        return [_heartbeat(row) for row in rows]


def _heartbeat(row: Mapping[str, Any]) -> Heartbeat:
    return Heartbeat(
        row["viewer_id"],
        row["video_id"],
        row["session_id"],
        row["position_seconds"],
        row["preview"],
        row["at"],
        id=row["id"],
    )


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


def _key_fetch_day(row: Mapping[str, Any]) -> KeyFetchDay:
    return KeyFetchDay(row["viewer_id"], row["video_id"], row["day"], row["fetches"], row["first_at"], row["last_at"])


class PostgresKeyFetchLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, viewer_id: UUID, video_id: UUID, at: datetime) -> None:
        # SQL: an upsert counting in place, with synchronous_commit off in the same statement (the hot key path).
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
        rows = (
            await KeyFetchTable.select()
            .where((KeyFetchTable.day >= since) & (KeyFetchTable.day <= until) & (KeyFetchTable.fetches >= at_least))
            .order_by(KeyFetchTable.fetches, KeyFetchTable.day, ascending=False)
            .order_by(KeyFetchTable.viewer_id)
            .limit(limit)
        )
        return [_key_fetch_day(r) for r in rows]

    async def of_viewer(self, viewer_id: UUID, since: date, limit: int) -> list[KeyFetchDay]:
        rows = (
            await KeyFetchTable.select()
            .where((KeyFetchTable.viewer_id == viewer_id) & (KeyFetchTable.day >= since))
            .order_by(KeyFetchTable.day, KeyFetchTable.fetches, ascending=False)
            .order_by(KeyFetchTable.video_id)
            .limit(limit)
        )
        return [_key_fetch_day(r) for r in rows]
