"""The favourites store, run against its in-memory and its PostgreSQL adapter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from injector import Injector

from core.db import Database
from core.ids import uuid7
from core.paging import Cursor
from features.preferences.adapters import MemoryFavouriteRepository, PostgresFavouriteRepository
from features.preferences.model import Favourite
from features.preferences.ports import FavouriteRepository

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "postgres"])
def favourites(request: pytest.FixtureRequest) -> FavouriteRepository:
    if request.param == "memory":
        return MemoryFavouriteRepository()
    pg: Injector = request.getfixturevalue("pg")  # a database only for the PostgreSQL run
    return PostgresFavouriteRepository(pg.get(Database))


def fav(viewer: UUID, minutes: int = 0, creator: UUID | None = None, video: UUID | None = None) -> Favourite:
    return Favourite(viewer, video or uuid7(), creator or uuid7(), T0 + timedelta(minutes=minutes))


async def test_a_favourite_is_stored_once_and_the_first_one_is_kept(favourites: FavouriteRepository) -> None:
    viewer = uuid7()
    first = fav(viewer)
    assert await favourites.add(first)
    again = Favourite(viewer, first.video_id, first.creator_id, T0 + timedelta(hours=1))
    assert not await favourites.add(again)
    assert await favourites.contains(viewer, first.video_id)
    assert await favourites.page(viewer, None, 10) == [first]


async def test_a_removed_favourite_is_gone_and_removing_twice_says_so(favourites: FavouriteRepository) -> None:
    viewer = uuid7()
    kept = fav(viewer)
    await favourites.add(kept)
    assert await favourites.remove(viewer, kept.video_id)
    assert not await favourites.remove(viewer, kept.video_id)
    assert not await favourites.contains(viewer, kept.video_id)
    assert await favourites.page(viewer, None, 10) == []


async def test_favourites_belong_to_their_viewer(favourites: FavouriteRepository) -> None:
    ada, bob = uuid7(), uuid7()
    hers = fav(ada)
    await favourites.add(hers)
    assert not await favourites.contains(bob, hers.video_id)
    assert not await favourites.remove(bob, hers.video_id)
    assert await favourites.page(bob, None, 10) == []
    assert await favourites.creator_ids(bob) == set()


async def test_pages_run_newest_first_strictly_after_the_cursor(favourites: FavouriteRepository) -> None:
    viewer = uuid7()
    stored = [fav(viewer, minutes) for minutes in (3, 1, 4, 0, 2)]
    for favourite in stored:
        await favourites.add(favourite)
    newest_first = sorted(stored, key=lambda f: f.created_at, reverse=True)
    first = await favourites.page(viewer, None, 2)
    assert first == newest_first[:2]
    second = await favourites.page(viewer, first[-1].position, 2)
    assert second == newest_first[2:4]
    assert await favourites.page(viewer, second[-1].position, 2) == newest_first[4:]
    assert await favourites.page(viewer, newest_first[-1].position, 2) == []


async def test_favourites_made_at_the_same_moment_are_ordered_by_video_id(favourites: FavouriteRepository) -> None:
    viewer = uuid7()
    videos = sorted(uuid7() for _ in range(3))
    for video in videos:
        await favourites.add(fav(viewer, 0, video=video))
    first = await favourites.page(viewer, None, 2)
    assert [f.video_id for f in first] == [videos[2], videos[1]]
    rest = await favourites.page(viewer, Cursor(T0, videos[1]), 2)
    assert [f.video_id for f in rest] == [videos[0]]


async def test_the_creators_of_a_viewers_favourites_are_known(favourites: FavouriteRepository) -> None:
    viewer, ada, bob = uuid7(), uuid7(), uuid7()
    for creator in (ada, ada, bob):
        await favourites.add(fav(viewer, creator=creator))
    assert await favourites.creator_ids(viewer) == {ada, bob}
