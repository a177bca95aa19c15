"""What preferences need from the outside: a store of favourites."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from core.paging import Cursor
from features.preferences.model import Favourite


class FavouriteRepository(Protocol):
    """Favourites, one per viewer and video."""

    async def add(self, favourite: Favourite) -> bool:
        """Store the favourite; False (the first one is kept, nothing changes) if the viewer already
        favourited this video."""
        ...

    async def remove(self, viewer_id: UUID, video_id: UUID) -> bool:
        """Forget the favourite; False if there was none."""
        ...

    async def contains(self, viewer_id: UUID, video_id: UUID) -> bool:
        """Whether the viewer has favourited the video."""
        ...

    async def page(self, viewer_id: UUID, after: Cursor | None, limit: int) -> list[Favourite]:
        """The viewer's favourites, newest first by (created_at, video_id), strictly after `after`,
        at most `limit` of them."""
        ...

    async def creator_ids(self, viewer_id: UUID) -> set[UUID]:
        """The creators of every video the viewer has favourited."""
        ...
