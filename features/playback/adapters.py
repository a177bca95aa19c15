"""Playback adapters: heartbeats in PostgreSQL and in memory."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

from core.db import Database
from core.ids import uuid7
from features.playback.model import Heartbeat


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
