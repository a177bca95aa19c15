"""Playback adapters: heartbeats in PostgreSQL and in memory."""

from __future__ import annotations

from dataclasses import replace
from uuid import UUID

from core.db import Database
from features.playback.model import Heartbeat


class MemoryHeartbeatRepository:
    def __init__(self) -> None:
        self.heartbeats: list[Heartbeat] = []

    async def add(self, heartbeat: Heartbeat) -> None:
        self.heartbeats.append(replace(heartbeat, id=len(self.heartbeats) + 1))

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
