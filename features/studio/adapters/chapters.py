"""Chapters in PostgreSQL (Piccolo) and in memory."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from features.studio.model.chapters import Chapter
from features.studio.tables import ChapterTable


class PiccoloChapterRepository:
    async def of_video(self, video_id: UUID) -> list[Chapter]:
        rows = (
            await ChapterTable.select(ChapterTable.at_seconds, ChapterTable.title)
            .where(ChapterTable.video_id == video_id)
            .order_by(ChapterTable.position)
        )
        return [Chapter(row["at_seconds"], row["title"]) for row in rows]

    async def replace(self, video_id: UUID, chapters: Sequence[Chapter]) -> None:
        """Delete and insert in the caller's transaction (the service holds the video's row lock)."""
        await ChapterTable.delete().where(ChapterTable.video_id == video_id)
        if chapters:
            await ChapterTable.insert(
                *(
                    ChapterTable(video_id=video_id, position=index, at_seconds=chapter.at, title=chapter.title)
                    for index, chapter in enumerate(chapters)
                )
            )


class MemoryChapterRepository:
    def __init__(self) -> None:
        self.chapters: dict[UUID, list[Chapter]] = {}

    async def of_video(self, video_id: UUID) -> list[Chapter]:
        return list(self.chapters.get(video_id, []))

    async def replace(self, video_id: UUID, chapters: Sequence[Chapter]) -> None:
        if chapters:
            self.chapters[video_id] = list(chapters)
        else:
            self.chapters.pop(video_id, None)
