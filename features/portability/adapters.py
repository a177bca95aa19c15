"""Portability adapters: the video roots in PostgreSQL (Piccolo) and in memory."""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID

from core.db import Database
from features.portability.model import StoredRoot
from features.portability.tables import IpfsDirectoryTable


class MemoryRootRepository:
    def __init__(self) -> None:
        self.roots: dict[UUID, StoredRoot] = {}

    async def get_many(self, video_ids: Collection[UUID]) -> dict[UUID, StoredRoot]:
        return {video_id: self.roots[video_id] for video_id in video_ids if video_id in self.roots}

    async def put(self, root: StoredRoot) -> None:
        self.roots[root.video_id] = root


class PostgresRootRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get_many(self, video_ids: Collection[UUID]) -> dict[UUID, StoredRoot]:
        if not video_ids:
            return {}
        rows = await IpfsDirectoryTable.select().where(IpfsDirectoryTable.video_id.is_in(list(video_ids)))
        return {
            row["video_id"]: StoredRoot(row["video_id"], row["source_digest"], row["root_cid"], row["computed_at"])
            for row in rows
        }

    async def put(self, root: StoredRoot) -> None:
        row = IpfsDirectoryTable(
            video_id=root.video_id,
            source_digest=root.source_digest,
            root_cid=root.root_cid,
            computed_at=root.computed_at,
        )
        await IpfsDirectoryTable.insert(row).on_conflict(
            target=IpfsDirectoryTable.video_id,
            action="DO UPDATE",
            values=[IpfsDirectoryTable.source_digest, IpfsDirectoryTable.root_cid, IpfsDirectoryTable.computed_at],
        )
