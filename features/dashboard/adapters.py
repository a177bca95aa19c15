"""Presence adapters: PostgreSQL and in memory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from uuid import UUID

from core.db import Database
from features.dashboard.model import Sighting
from features.dashboard.tables import PresenceTable, ViewerCountTable

CURSOR = "heartbeats"


class PostgresPresenceStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def locked_cursor(self) -> int:
        await self.db.execute("INSERT INTO dashboard_cursors (name) VALUES ($1) ON CONFLICT (name) DO NOTHING", CURSOR)
        return int(await self.db.fetchval("SELECT position FROM dashboard_cursors WHERE name = $1 FOR UPDATE", CURSOR))

    async def save_cursor(self, position: int) -> None:
        await self.db.execute("UPDATE dashboard_cursors SET position = $2 WHERE name = $1", CURSOR, position)

    async def seen(self, sightings: Sequence[Sighting]) -> None:
        if not sightings:
            return
        # SQL: unnest() upserts the batch in one statement, keeping the latest sighting (GREATEST).
        await self.db.execute(
            "INSERT INTO dashboard_presence AS p (owner_id, viewer_key, video_id, last_seen)"
            " SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::timestamptz[])"
            " ON CONFLICT (owner_id, viewer_key, video_id)"
            " DO UPDATE SET last_seen = GREATEST(p.last_seen, EXCLUDED.last_seen)",
            [s.owner_id for s in sightings],
            [s.viewer_key for s in sightings],
            [s.video_id for s in sightings],
            [s.at for s in sightings],
        )

    async def forget_before(self, cutoff: datetime) -> None:
        await PresenceTable.delete().where(PresenceTable.last_seen < cutoff)

    async def counts(self, since: datetime) -> dict[UUID, int]:
        # SQL: count(DISTINCT) per creator.
        rows = await self.db.fetch(
            "SELECT owner_id, count(DISTINCT viewer_key) AS viewers FROM dashboard_presence"
            " WHERE last_seen >= $1 GROUP BY owner_id",
            since,
        )
        return {r["owner_id"]: r["viewers"] for r in rows}

    async def viewers(self, owner_id: UUID, since: datetime) -> int:
        # SQL: count(DISTINCT).
        found = await self.db.fetchval(
            "SELECT count(DISTINCT viewer_key) FROM dashboard_presence WHERE owner_id = $1 AND last_seen >= $2",
            owner_id,
            since,
        )
        return int(found or 0)

    async def published(self) -> dict[UUID, int]:
        rows = await ViewerCountTable.select(ViewerCountTable.owner_id, ViewerCountTable.viewers)
        return {r["owner_id"]: r["viewers"] for r in rows}

    async def set_published(self, counts: Mapping[UUID, int]) -> None:
        gone = [o for o, n in counts.items() if n == 0]
        kept = [(o, n) for o, n in counts.items() if n > 0]
        if gone:
            await ViewerCountTable.delete().where(ViewerCountTable.owner_id.is_in(gone))
        if kept:
            # SQL: unnest() upserts every creator's count in one statement with two parameters.
            await self.db.execute(
                "INSERT INTO dashboard_viewer_counts (owner_id, viewers)"
                " SELECT * FROM unnest($1::uuid[], $2::integer[])"
                " ON CONFLICT (owner_id) DO UPDATE SET viewers = EXCLUDED.viewers, updated_at = now()",
                [o for o, _ in kept],
                [n for _, n in kept],
            )


class MemoryPresenceStore:
    def __init__(self) -> None:
        self.position = 0
        self.sightings: dict[tuple[UUID, str, UUID], datetime] = {}
        self.counts_published: dict[UUID, int] = {}

    async def locked_cursor(self) -> int:
        return self.position

    async def save_cursor(self, position: int) -> None:
        self.position = position

    async def seen(self, sightings: Sequence[Sighting]) -> None:
        for s in sightings:
            key = (s.owner_id, s.viewer_key, s.video_id)
            self.sightings[key] = max(self.sightings.get(key, s.at), s.at)

    async def forget_before(self, cutoff: datetime) -> None:
        self.sightings = {k: at for k, at in self.sightings.items() if at >= cutoff}

    async def counts(self, since: datetime) -> dict[UUID, int]:
        viewers: dict[UUID, set[str]] = {}
        for (owner, viewer, _), at in self.sightings.items():
            if at >= since:
                viewers.setdefault(owner, set()).add(viewer)
        return {o: len(v) for o, v in viewers.items()}

    async def viewers(self, owner_id: UUID, since: datetime) -> int:
        return (await self.counts(since)).get(owner_id, 0)

    async def published(self) -> dict[UUID, int]:
        return dict(self.counts_published)

    async def set_published(self, counts: Mapping[UUID, int]) -> None:
        for owner, n in counts.items():
            if n:
                self.counts_published[owner] = n
            else:
                self.counts_published.pop(owner, None)
