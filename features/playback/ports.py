"""What playback needs from the outside: a store for heartbeats."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from features.playback.model import Heartbeat


class HeartbeatRepository(Protocol):
    async def add(self, heartbeat: Heartbeat) -> None:
        """Store one heartbeat."""
        ...

    async def watched_video_ids(self, viewer_id: UUID) -> set[UUID]:
        """Every video the viewer has sent a heartbeat for (watched, however briefly)."""
        ...

    async def for_video(self, video_id: UUID, limit: int = 100) -> list[Heartbeat]:
        """The video's latest heartbeats, newest first."""
        ...

    async def after(self, after_id: int, limit: int) -> list[Heartbeat]:
        """Up to `limit` stored heartbeats with an id above `after_id`, in id order, each with its `id`.

        Ids grow with every heartbeat stored (a rolled-back insert may leave a hole); readers such as
        analytics fold new heartbeats in with a cursor on them.
        """
        ...

    async def of_viewer(self, viewer_id: UUID, after_id: int, limit: int) -> list[Heartbeat]:
        """The viewer's heartbeats with an id above `after_id`, oldest first, each with its `id`."""
        ...
