"""Title search and creators' lists on real PostgreSQL (issue 16, item 7): the search statement reads the
newest videos first and asks the trigram index only when matches are sparse there, a list of some
creators' videos merges each creator's newest; whichever way, every page is the one a plain "newest
first, published, matching" filter gives."""

from __future__ import annotations

from datetime import timedelta

import pytest
from injector import Injector

from core.db import Database
from features.catalog.model import search_query
from features.catalog.service import CatalogService
from features.studio.adapters.videos import SEARCH_WINDOW_PER_ROW
from features.studio.model import Video, VideoState
from features.studio.service import StudioService
from tests.support.catalog import T0, shelve
from tests.support.videos import person

NEWER = 3 * SEARCH_WINDOW_PER_ROW  # more recent videos than a page of one row reads before the index


def title_of(i: int) -> str:
    """The oldest 40 titles are what only old videos have; every 9th newer one is non-ASCII or a wildcard."""
    if i < 40:
        return f"Archive reel {i}" if i % 2 else f"Café Ñandú archive {i}"
    if i % 9 == 0:
        return f"100% pure_cotton {i}"
    return f"Film number {i}"


async def catalog_of(pg: Injector) -> list[Video]:
    """40 old videos and NEWER more, a minute apart, and a few that must never be found."""
    mira = await person(pg, "Mira", creator=True)
    videos = [await shelve(pg, mira.id, title_of(i), at=T0 + timedelta(minutes=i)) for i in range(40 + NEWER)]
    await shelve(pg, mira.id, "Archive reel draft", at=T0 + timedelta(days=1), state=VideoState.READY)
    await pg.get(Database).execute("ANALYZE videos")
    return videos


def expected(videos: list[Video], text: str) -> list[str]:
    needle = text.lower()
    newest_first = sorted(videos, key=lambda v: (v.created_at, v.id), reverse=True)
    return [v.title for v in newest_first if needle in v.title.lower()]


async def every_page(catalog: CatalogService, text: str, size: int) -> list[str]:
    found: list[str] = []
    page = await catalog.search(search_query(text), None, size)
    while True:
        assert len(page.items) <= size
        found += [card.video.title for card in page.items]
        if page.next is None:
            return found
        page = await catalog.search(search_query(text), page.next, size)


QUERIES = [
    "film",  # common: the newest videos answer
    "number 1",  # middling: some pages from the newest videos, the rest from the index
    "number 77",  # rare
    "archive reel",  # only old videos have it: the index answers
    "ÑANDÚ",  # non-ASCII, another case
    "café ñandú archive 3",  # several words
    "100% pure_c",  # wildcard characters are plain ones
    "number 1_",  # so no title has it (as a pattern, "number 10" … would match)
    "1%0",  # nor this ("100", "110" … would)
    "volcano",  # nothing
]


@pytest.mark.parametrize("size", [1, 7, 24])
async def test_every_page_of_every_kind_of_search_is_the_plain_filters_answer(pg: Injector, size: int) -> None:
    videos = await catalog_of(pg)
    catalog = pg.get(CatalogService)
    for text in QUERIES:
        assert await every_page(catalog, text, size) == expected(videos, text), text


async def test_the_newest_matches_come_first_even_when_the_index_answers(pg: Injector) -> None:
    videos = await catalog_of(pg)
    page = await pg.get(CatalogService).search(search_query("archive"), None, 3)
    assert [c.video.title for c in page.items] == ["Archive reel 39", "Café Ñandú archive 38", "Archive reel 37"]
    assert page.next is not None
    assert len(expected(videos, "archive")) == 40


@pytest.mark.parametrize("size", [1, 4, 50])
async def test_a_list_of_some_creators_videos_pages_like_the_plain_filter(pg: Injector, size: int) -> None:
    mira = await person(pg, "Mira", creator=True)
    sam = await person(pg, "Sam", creator=True)
    old = await person(pg, "Olga", creator=True)
    videos = [await shelve(pg, old.id, f"Olga {i}", at=T0 + timedelta(minutes=i)) for i in range(3)]
    for i in range(3, 60):
        owner = mira if i % 3 else sam
        videos.append(await shelve(pg, owner.id, f"{owner.display_name} {i}", at=T0 + timedelta(minutes=i)))
    await shelve(pg, old.id, "Olga draft", at=T0 + timedelta(days=1), state=VideoState.READY)
    studio = pg.get(StudioService)
    for owners in ([old.id], [sam.id], [old.id, sam.id, old.id], [mira.id, sam.id, old.id], []):
        found: list[str] = []
        page = await studio.published_page(None, size, owner_ids=owners)
        while True:
            found += [v.title for v in page.items]
            if page.next is None:
                break
            page = await studio.published_page(page.next, size, owner_ids=owners)
        wanted = [v for v in videos if v.owner_id in owners]
        newest_first = sorted(wanted, key=lambda v: (v.created_at, v.id), reverse=True)
        assert found == [v.title for v in newest_first], (owners, size)


async def test_the_title_index_keeps_no_pending_list(pg: Injector) -> None:
    db = pg.get(Database)
    options = await db.fetchval("SELECT reloptions FROM pg_class WHERE relname = 'videos_published_title_trgm'")
    if options is None and not await db.fetchval("SELECT to_regclass('videos_published_title_trgm') IS NOT NULL"):
        pytest.skip("this server has no pg_trgm: search runs without the trigram index")
    assert "fastupdate=off" in options
