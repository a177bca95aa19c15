"""What portability needs from the outside: a place to keep each video's IPFS root."""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol
from uuid import UUID

from features.portability.model import StoredRoot


class RootRepository(Protocol):
    async def get_many(self, video_ids: Collection[UUID]) -> dict[UUID, StoredRoot]:
        """The stored roots of those videos that have one."""
        ...

    async def put(self, root: StoredRoot) -> None:
        """Store (or replace) the video's root."""
        ...
