"""The studio's part of the live pages: a video's tile, sent again whenever the video changes."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from core.events import Event, LiveFragment
from features.studio.service import EVENT, StudioService

TILE = "studio/_tile.html"


class LiveTiles:
    """A `LivePart` (core/live.py): for each `video` event of the owner's topic, the video's tile as
    stored now (htmx swaps it by id). Events about a video that is not the owner's send nothing."""

    def __init__(self, studio: StudioService) -> None:
        self.studio = studio

    async def fragments(self, owner_id: UUID, event: Event) -> Sequence[LiveFragment]:
        if event.name != EVENT:
            return []
        try:
            video_id = UUID(str(event.data.get("video_id")))
        except ValueError:
            return []
        video = await self.studio.get_video(video_id)
        if video is None or video.owner_id != owner_id:
            return []
        return [LiveFragment(TILE, {"tile": await self.studio.tile(video)})]
