"""The catalog on in-memory adapters: what is listed, in which order, and where pages break."""

from __future__ import annotations

from datetime import timedelta

import pytest
from injector import Injector

from core.ids import uuid7
from core.paging import Cursor, InvalidCursor
from features.catalog.model import QUERY_MAX, Card, CreatorNotFound, search_query
from features.catalog.service import CatalogService
from features.studio.model import VideoState
from tests.support.catalog import T0, shelve, shelve_many
from tests.support.videos import person


def titles(cards: list[Card]) -> list[str]:
    return [card.video.title for card in cards]


async def test_the_feed_lists_only_published_videos_newest_first_with_their_creators(memory: Injector) -> None:
    mira = await person(memory, "Mira", creator=True)
    await shelve(memory, mira.id, "Old", at=T0)
    await shelve(memory, mira.id, "New", at=T0 + timedelta(hours=1))
    for state in (VideoState.READY, VideoState.CONVERTING, VideoState.DRAFT, VideoState.ARCHIVED):
        await shelve(memory, mira.id, f"Not {state.value}", at=T0 + timedelta(hours=2), state=state)

    page = await memory.get(CatalogService).feed()
    assert titles(page.items) == ["New", "Old"]
    assert {card.creator_name for card in page.items} == {"Mira"}
    assert page.next is None
    assert page.first


async def test_pages_follow_each_other_without_gaps_or_repeats_and_the_last_one_says_so(memory: Injector) -> None:
    mira = await person(memory, "Mira", creator=True)
    await shelve_many(memory, mira.id, 5)
    catalog = memory.get(CatalogService)

    seen: list[str] = []
    cursor = None
    sizes = []
    while True:
        page = await catalog.feed(cursor, 2)
        seen += titles(page.items)
        sizes.append(len(page.items))
        if page.next is None:
            break
        cursor = Cursor.decode(page.next.encode())  # as it travels in the URL
    assert seen == [f"Film {i:02d}" for i in (4, 3, 2, 1, 0)]
    assert sizes == [2, 2, 1]


async def test_a_page_that_ends_exactly_at_the_last_video_has_no_next_page(memory: Injector) -> None:
    mira = await person(memory, "Mira", creator=True)
    await shelve_many(memory, mira.id, 4)
    catalog = memory.get(CatalogService)
    first = await catalog.feed(None, 2)
    second = await catalog.feed(first.next, 2)
    assert titles(second.items) == ["Film 01", "Film 00"]
    assert second.next is None
    assert not second.first


async def test_videos_made_in_the_same_microsecond_are_split_by_id_never_lost(memory: Injector) -> None:
    mira = await person(memory, "Mira", creator=True)
    ids = sorted(uuid7() for _ in range(5))
    for n, video_id in enumerate(ids):
        await shelve(memory, mira.id, f"Twin {n}", at=T0, video_id=video_id)
    catalog = memory.get(CatalogService)
    first = await catalog.feed(None, 3)
    second = await catalog.feed(first.next, 3)
    assert titles(first.items) + titles(second.items) == [f"Twin {n}" for n in (4, 3, 2, 1, 0)]


async def test_a_video_published_while_reading_does_not_shift_the_next_page(memory: Injector) -> None:
    mira = await person(memory, "Mira", creator=True)
    await shelve_many(memory, mira.id, 4)
    catalog = memory.get(CatalogService)
    first = await catalog.feed(None, 2)
    await shelve(memory, mira.id, "Brand new", at=T0 + timedelta(days=1))
    second = await catalog.feed(first.next, 2)
    assert titles(second.items) == ["Film 01", "Film 00"]
    assert titles((await catalog.feed(None, 2)).items)[0] == "Brand new"


async def test_page_sizes_are_capped(memory: Injector) -> None:
    mira = await person(memory, "Mira", creator=True)
    await shelve_many(memory, mira.id, 3)
    catalog = memory.get(CatalogService)
    assert len((await catalog.feed(None, 0)).items) == 1
    assert len((await catalog.feed(None, 10_000)).items) == 3


async def test_search_finds_words_anywhere_in_the_title_in_any_case(memory: Injector) -> None:
    mira = await person(memory, "Mira", creator=True)
    await shelve(memory, mira.id, "Harbour Lights", at=T0)
    await shelve(memory, mira.id, "Night harbour", at=T0 + timedelta(minutes=1))
    await shelve(memory, mira.id, "Mountains", at=T0 + timedelta(minutes=2))
    await shelve(memory, mira.id, "Harbour (draft)", at=T0 + timedelta(minutes=3), state=VideoState.READY)
    catalog = memory.get(CatalogService)
    assert titles((await catalog.search(search_query("HARBOUR"))).items) == ["Night harbour", "Harbour Lights"]
    assert titles((await catalog.search(search_query("  night   HAR "))).items) == ["Night harbour"]
    assert (await catalog.search(search_query("volcano"))).items == []


async def test_search_wildcards_are_plain_characters(memory: Injector) -> None:
    mira = await person(memory, "Mira", creator=True)
    await shelve(memory, mira.id, "100% cotton", at=T0)
    await shelve(memory, mira.id, "1000 cuts", at=T0 + timedelta(minutes=1))
    await shelve(memory, mira.id, "snake_case", at=T0 + timedelta(minutes=2))
    await shelve(memory, mira.id, "snakes", at=T0 + timedelta(minutes=3))
    catalog = memory.get(CatalogService)
    assert titles((await catalog.search(search_query("100%"))).items) == ["100% cotton"]
    assert titles((await catalog.search(search_query("e_c"))).items) == ["snake_case"]
    assert (await catalog.search(search_query("%"))).items == []


async def test_a_query_too_short_searches_nothing_and_a_long_one_is_cut() -> None:
    assert not search_query("a").usable
    assert search_query("a").hint
    assert search_query("").hint == ""
    assert search_query("ab").usable
    assert len(search_query("x" * 500).text) == QUERY_MAX


async def test_search_results_page_like_the_feed(memory: Injector) -> None:
    mira = await person(memory, "Mira", creator=True)
    await shelve_many(memory, mira.id, 5, prefix="Tide")
    await shelve(memory, mira.id, "Other", at=T0 + timedelta(hours=1))
    catalog = memory.get(CatalogService)
    first = await catalog.search(search_query("tide"), None, 3)
    second = await catalog.search(search_query("tide"), first.next, 3)
    assert titles(first.items) + titles(second.items) == [f"Tide {i:02d}" for i in (4, 3, 2, 1, 0)]
    assert second.next is None


async def test_a_creator_page_lists_only_that_creators_published_videos(memory: Injector) -> None:
    mira = await person(memory, "Mira", creator=True)
    sam = await person(memory, "Sam", creator=True)
    await shelve(memory, mira.id, "Mira's", at=T0)
    await shelve(memory, mira.id, "Mira's draft", at=T0, state=VideoState.READY)
    await shelve(memory, sam.id, "Sam's", at=T0)
    found = await memory.get(CatalogService).creator_page(mira.id)
    assert found.creator.display_name == "Mira"
    assert titles(found.cards.items) == ["Mira's"]


async def test_only_creators_have_a_page(memory: Injector) -> None:
    viewer = await person(memory, "Vic")
    catalog = memory.get(CatalogService)
    with pytest.raises(CreatorNotFound):
        await catalog.creator_page(viewer.id)
    with pytest.raises(CreatorNotFound):
        await catalog.creator_page(uuid7())


async def test_a_bad_cursor_is_an_input_error() -> None:
    with pytest.raises(InvalidCursor):
        Cursor.parse("not-a-cursor")
