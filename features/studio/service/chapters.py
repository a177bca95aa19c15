"""Chapters: what a creator sets in the studio, or what the description lists (features/studio/model/chapters.py)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from core.uow import UnitOfWork
from features.studio.model import Video, VideoNotFound
from features.studio.model.chapters import Chapter, chapters_from_description, chapters_vtt, check_chapters
from features.studio.ports import ChapterRepository, VideoRepository


@dataclass(frozen=True)
class VideoChapters:
    """A video's chapters and where they come from: "studio" (set by the creator), "description"
    (read from it) or "" (none)."""

    chapters: list[Chapter]
    source: str


class ChapterService:
    def __init__(self, videos: VideoRepository, chapters: ChapterRepository, uow: UnitOfWork) -> None:
        self.videos = videos
        self.chapters = chapters
        self.uow = uow

    async def of_video(self, video: Video) -> VideoChapters:
        """The chapters viewers see: the creator's own, else those of the description (YouTube's
        rules), each starting inside the video."""
        own = await self.chapters.of_video(video.id)
        if own:
            limit = video.duration if video.duration and video.duration > 0 else None
            return VideoChapters([c for c in own if limit is None or c.at < limit], "studio")
        found = chapters_from_description(video.description, video.duration)
        return VideoChapters(found, "description" if found else "")

    async def own_chapters(self, owner_id: UUID, video_id: UUID) -> tuple[Video, list[Chapter]]:
        """The owner's video and the chapters set for it in the studio. Raises VideoNotFound."""
        video = await self.videos.get(video_id)
        if video is None or video.owner_id != owner_id:
            raise VideoNotFound()
        return video, await self.chapters.of_video(video.id)

    async def set_chapters(self, owner_id: UUID, video_id: UUID, text: str) -> tuple[Video, list[Chapter]]:
        """Replace the video's chapters with those in `text` (one `time title` per line; blank text
        removes them, and the description's apply again). Raises VideoNotFound, InvalidChapters
        (nothing changes)."""
        async with self.uow.atomic():
            video = await self.videos.get(video_id, for_update=True)
            if video is None or video.owner_id != owner_id:
                raise VideoNotFound()
            chapters = check_chapters(text, video.duration)
            await self.chapters.replace(video.id, chapters)
        return video, chapters

    async def track(self, video: Video) -> str:
        """The WebVTT chapters track of the video (a header only when it has none)."""
        return chapters_vtt((await self.of_video(video)).chapters, video.duration)
