"""What playback needs from the outside: a store for heartbeats and views, and the key-fetch log."""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from features.playback.model import Heartbeat, KeyFetchDay


class HeartbeatRepository(Protocol):
    async def add(self, heartbeat: Heartbeat) -> None:
        """Store one heartbeat."""
        ...

    async def add_to_view(self, heartbeat: Heartbeat, viewer_key: str, window_seconds: int) -> Heartbeat:
        """Store `heartbeat` as part of the viewer's current view of its video and return it as stored
        (its `session_id` is the view's id, which analytics counts as one view).

        The viewer (`viewer_key`: a user, a visitor's device or address) has one current view per video
        and per kind (preview or full). The heartbeat joins it, unless it comes from another player
        session than the view's latest heartbeat and the view began `window_seconds` ago or more: then
        it starts the viewer's next view. So a viewer counts at most one view per video per window,
        whatever session ids its player sends; concurrent heartbeats agree on the view.
        """
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


class KeyFetchLog(Protocol):
    async def record(self, viewer_id: UUID, video_id: UUID, at: datetime) -> None:
        """Count one key fetch of the viewer for the video on the UTC day of `at` (one cheap write)."""
        ...

    async def busiest(self, since: date, until: date, at_least: int, limit: int) -> list[KeyFetchDay]:
        """The viewer-video-days from `since` to `until` (both included) with at least `at_least` fetches,
        most fetches first (then the latest day), at most `limit` of them."""
        ...

    async def of_viewer(self, viewer_id: UUID, since: date, limit: int) -> list[KeyFetchDay]:
        """The viewer's key fetches per video per day since `since`, latest day first, then most fetches."""
        ...
