"""Preferences adapters: favourites in PostgreSQL (Piccolo, SQL for the keyset page) and in memory.

Both keep the same promises (tests/contract/test_preferences_repositories.py runs each against both).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from piccolo.custom_types import Combinable

from core.db import Database
from core.paging import Cursor
from features.preferences.model import Favourite
from features.preferences.tables import FavouriteTable


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
        row = FavouriteTable(
            viewer_id=favourite.viewer_id,
            video_id=favourite.video_id,
            creator_id=favourite.creator_id,
            created_at=favourite.created_at,
        )
        key = (FavouriteTable.viewer_id, FavouriteTable.video_id)
        return bool(await FavouriteTable.insert(row).on_conflict(target=key, action="DO NOTHING"))

    async def remove(self, viewer_id: UUID, video_id: UUID) -> bool:
        return bool(await FavouriteTable.delete().where(_key(viewer_id, video_id)).returning(FavouriteTable.video_id))

    async def contains(self, viewer_id: UUID, video_id: UUID) -> bool:
        return await FavouriteTable.exists().where(_key(viewer_id, video_id))

    async def page(self, viewer_id: UUID, after: Cursor | None, limit: int) -> list[Favourite]:
        # SQL: keyset pagination, a row comparison (created_at, video_id) < (…) that the index walks.
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
        rows = (
            await FavouriteTable.select(FavouriteTable.creator_id)
            .where(FavouriteTable.viewer_id == viewer_id)
            .distinct()
        )
        return {row["creator_id"] for row in rows}


def _key(viewer_id: UUID, video_id: UUID) -> Combinable:
    return (FavouriteTable.viewer_id == viewer_id) & (FavouriteTable.video_id == video_id)
