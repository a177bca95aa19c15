"""Preferences adapters: favourites in PostgreSQL (plain SQL) and in memory.

Both keep the same promises (tests/contract/test_preferences_repositories.py runs each against both).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from core.db import Database
from core.paging import Cursor
from features.preferences.model import Favourite


class MemoryFavouriteRepository:
    def __init__(self) -> None:
        self.favourites: dict[tuple[UUID, UUID], Favourite] = {}

    async def add(self, favourite: Favourite) -> bool:
        slot = (favourite.viewer_id, favourite.video_id)
        if slot in self.favourites:
            return False
        self.favourites[slot] = favourite
        return True

    async def remove(self, viewer_id: UUID, video_id: UUID) -> bool:
        return self.favourites.pop((viewer_id, video_id), None) is not None

    async def contains(self, viewer_id: UUID, video_id: UUID) -> bool:
        return (viewer_id, video_id) in self.favourites

    async def page(self, viewer_id: UUID, after: Cursor | None, limit: int) -> list[Favourite]:
        mine = [f for (viewer, _), f in self.favourites.items() if viewer == viewer_id]
        if after is not None:
            mine = [f for f in mine if f.position < after]
        mine.sort(key=lambda f: f.position, reverse=True)
        return mine[:limit]

    async def creator_ids(self, viewer_id: UUID) -> set[UUID]:
        return {f.creator_id for (viewer, _), f in self.favourites.items() if viewer == viewer_id}


def _favourite(row: Any) -> Favourite:
    return Favourite(row["viewer_id"], row["video_id"], row["creator_id"], row["created_at"])


class PostgresFavouriteRepository:
    """One row per viewer and video; the page query walks (viewer_id, created_at, video_id) backwards."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, favourite: Favourite) -> bool:
        status = await self.db.execute(
            "INSERT INTO favourites (viewer_id, video_id, creator_id, created_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (viewer_id, video_id) DO NOTHING",
            favourite.viewer_id,
            favourite.video_id,
            favourite.creator_id,
            favourite.created_at,
        )
        return status.endswith(" 1")

    async def remove(self, viewer_id: UUID, video_id: UUID) -> bool:
        status = await self.db.execute(
            "DELETE FROM favourites WHERE viewer_id = $1 AND video_id = $2", viewer_id, video_id
        )
        return status.endswith(" 1")

    async def contains(self, viewer_id: UUID, video_id: UUID) -> bool:
        found = await self.db.fetchval(
            "SELECT EXISTS (SELECT 1 FROM favourites WHERE viewer_id = $1 AND video_id = $2)", viewer_id, video_id
        )
        return bool(found)

    async def page(self, viewer_id: UUID, after: Cursor | None, limit: int) -> list[Favourite]:
        if after is None:
            rows = await self.db.fetch(
                "SELECT * FROM favourites WHERE viewer_id = $1 ORDER BY created_at DESC, video_id DESC LIMIT $2",
                viewer_id,
                limit,
            )
        else:
            rows = await self.db.fetch(
                "SELECT * FROM favourites WHERE viewer_id = $1 AND (created_at, video_id) < ($2, $3)"
                " ORDER BY created_at DESC, video_id DESC LIMIT $4",
                viewer_id,
                after.at,
                after.id,
                limit,
            )
        return [_favourite(row) for row in rows]

    async def creator_ids(self, viewer_id: UUID) -> set[UUID]:
        rows = await self.db.fetch("SELECT DISTINCT creator_id FROM favourites WHERE viewer_id = $1", viewer_id)
        return {row["creator_id"] for row in rows}
