"""The chapters repository, run against its in-memory and its PostgreSQL adapter."""

from __future__ import annotations

from uuid import UUID

import pytest
from injector import Injector

from core.db import Database
from core.ids import public_id, uuid7
from features.accounts.service import AccountService
from features.studio.adapters import MemoryVideoRepository, PiccoloVideoRepository
from features.studio.adapters.chapters import MemoryChapterRepository, PiccoloChapterRepository
from features.studio.model.chapters import Chapter
from features.studio.ports import ChapterRepository, VideoRepository
from tests.contract.test_studio_repositories import draft

Stores = tuple[VideoRepository, ChapterRepository, UUID]


@pytest.fixture(params=["memory", "postgres"])
async def stores(request: pytest.FixtureRequest, pg: Injector) -> Stores:
    if request.param == "memory":
        return MemoryVideoRepository(), MemoryChapterRepository(), uuid7()
    user = await pg.get(AccountService).sign_up(f"{public_id()}@example.com", "long enough password")
    return PiccoloVideoRepository(pg.get(Database)), PiccoloChapterRepository(), user.id


async def test_chapters_are_replaced_as_a_whole_and_read_back_in_order(
    stores: Stores,
) -> None:
    videos, chapters, owner = stores
    first, second = draft(owner), draft(owner)
    await videos.add(first)
    await videos.add(second)
    assert await chapters.of_video(first.id) == []
    await chapters.replace(first.id, [Chapter(0, "Intro"), Chapter(90, "Middle"), Chapter(3723, "End")])
    await chapters.replace(second.id, [Chapter(5, "Other")])
    assert await chapters.of_video(first.id) == [Chapter(0, "Intro"), Chapter(90, "Middle"), Chapter(3723, "End")]
    await chapters.replace(first.id, [Chapter(0, "Only")])
    assert await chapters.of_video(first.id) == [Chapter(0, "Only")]
    await chapters.replace(first.id, [])
    assert await chapters.of_video(first.id) == []
    assert await chapters.of_video(second.id) == [Chapter(5, "Other")]
