"""The home feed, search and creator pages through HTTP on real PostgreSQL, and what a page costs."""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from html import unescape
from typing import Any

import httpx
from injector import Binder, Injector, InstanceProvider, Module

from core.db import Database, bind_tables
from core.di import bind_port, build_injector
from core.identity import Principal
from core.settings import Settings
from core.uow import UnitOfWork
from core.web import SESSION_COOKIE
from features.bootstrap import features_for, table_classes
from features.studio.model import VideoState
from tests.conftest import app_client
from tests.support.catalog import T0, shelve, shelve_many
from tests.support.videos import add_synthetic_video, person, price_and_publish, session_token

TILE = re.compile(r'data-testid="catalog-tile" data-public-id="([^"]+)"')
POOL_RESET = "SELECT pg_advisory_unlock_all();"
OLDER = re.compile(r'href="([^"]+)"[^>]*data-testid="older"')


def tile_ids(html: str) -> list[str]:
    return TILE.findall(html)


def titles(html: str) -> list[str]:
    return [unescape(t) for t in re.findall(r'data-testid="tile-title">([^<]+)<', html)]


@asynccontextmanager
async def browser_of(pg: Injector, settings: Settings, who: Principal | None) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(pg, settings) as client:
        if who is not None:
            client.cookies.set(SESSION_COOKIE, await session_token(pg, who))
        yield client


async def test_a_visitor_sees_the_landing_hero_and_the_newest_published_videos(
    pg: Injector, client: httpx.AsyncClient
) -> None:
    mira = await person(pg, "Mira", creator=True)
    await shelve(pg, mira.id, "Old tide", at=T0)
    await shelve(pg, mira.id, "New tide", at=T0 + timedelta(minutes=1))
    await shelve(pg, mira.id, "Not yet", at=T0 + timedelta(minutes=2), state=VideoState.READY)
    await shelve(pg, mira.id, "Converting", at=T0 + timedelta(minutes=3), state=VideoState.CONVERTING)

    response = await client.get("/")
    assert response.status_code == 200
    assert "Create a free account" in response.text
    assert titles(response.text) == ["New tide", "Old tide"]
    assert f'href="/c/{mira.id}"' in response.text
    assert "Mira" in response.text


async def test_a_logged_in_viewer_gets_the_feed_without_the_hero(pg: Injector, settings: Settings) -> None:
    mira = await person(pg, "Mira", creator=True)
    viewer = await person(pg, "Vic")
    await shelve(pg, mira.id, "Harbour")
    async with browser_of(pg, settings, viewer) as browser:
        response = await browser.get("/")
    assert titles(response.text) == ["Harbour"]
    assert "Create a free account" not in response.text
    assert 'data-testid="search-form"' in response.text


async def test_with_no_videos_the_home_page_invites_creators_to_the_studio(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert "No videos yet" in response.text
    assert "upload yours in the Studio" in response.text
    assert 'href="/studio"' in response.text


async def test_the_older_link_walks_the_feed_and_htmx_gets_only_the_list(
    pg: Injector, client: httpx.AsyncClient
) -> None:
    mira = await person(pg, "Mira", creator=True)
    await shelve_many(pg, mira.id, 5)

    first = await client.get("/?limit=2")
    assert titles(first.text) == ["Film 04", "Film 03"]
    older = OLDER.search(first.text)
    assert older is not None
    next_url = older.group(1).replace("&amp;", "&")
    assert "limit=2" in next_url

    second = await client.get(next_url, headers={"hx-request": "true", "hx-target": "feed"})
    assert second.status_code == 200
    assert "<html" not in second.text
    assert second.text.lstrip().startswith('<section class="feed')
    assert titles(second.text) == ["Film 02", "Film 01"]
    assert 'data-testid="newest"' in second.text

    third = await client.get(OLDER.search(second.text).group(1).replace("&amp;", "&"))  # type: ignore[union-attr]
    assert titles(third.text) == ["Film 00"]
    assert 'data-testid="older"' not in third.text


async def test_a_tampered_page_link_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/?after=not-a-cursor")
    assert response.status_code == 422
    assert "page link is not valid" in response.text


async def test_an_unpublished_video_is_its_owners_alone(pg: Injector, settings: Settings) -> None:
    mira = await person(pg, "Mira", creator=True)
    stranger = await person(pg, "Sam")
    hidden = await shelve(pg, mira.id, "Secret harbour", state=VideoState.READY)

    async with browser_of(pg, settings, mira) as owner:
        page = await owner.get(f"/v/{hidden.public_id}")
        assert page.status_code == 200
        assert "Secret harbour" in page.text
        assert "Only you can see this page." in page.text
        assert "Secret harbour" not in (await owner.get(f"/c/{mira.id}")).text
    async with browser_of(pg, settings, stranger) as other:
        assert (await other.get(f"/v/{hidden.public_id}")).status_code == 404
        assert (await other.get(f"/v/{hidden.public_id}/cover")).status_code == 404
        assert "Secret harbour" not in (await other.get("/")).text
        assert "Secret harbour" not in (await other.get("/search?q=secret")).text
    async with browser_of(pg, settings, None) as visitor:
        assert (await visitor.get(f"/v/{hidden.public_id}")).status_code == 404


async def test_search_finds_titles_in_any_case_and_says_when_nothing_matches(
    pg: Injector, client: httpx.AsyncClient
) -> None:
    mira = await person(pg, "Mira", creator=True)
    await shelve(pg, mira.id, "Harbour Lights", at=T0)
    await shelve(pg, mira.id, "Night HARBOUR", at=T0 + timedelta(minutes=1))
    await shelve(pg, mira.id, "Mountains", at=T0 + timedelta(minutes=2))

    found = await client.get("/search", params={"q": "harBOUR"})
    assert found.status_code == 200
    assert titles(found.text) == ["Night HARBOUR", "Harbour Lights"]
    assert 'value="harBOUR"' in found.text

    none = await client.get("/search", params={"q": "volcano"})
    assert titles(none.text) == []
    assert "Nothing matches “volcano”" in none.text

    short = await client.get("/search", params={"q": "h"})
    assert titles(short.text) == []
    assert "at least 2 characters" in short.text

    blank = await client.get("/search")
    assert blank.status_code == 200
    assert titles(blank.text) == []


async def test_a_creator_page_lists_their_published_videos(pg: Injector, client: httpx.AsyncClient) -> None:
    mira = await person(pg, "Mira", creator=True)
    sam = await person(pg, "Sam", creator=True)
    viewer = await person(pg, "Vic")
    await shelve(pg, mira.id, "Mira's first", at=T0)
    await shelve(pg, mira.id, "Mira's second", at=T0 + timedelta(minutes=1))
    await shelve(pg, sam.id, "Sam's", at=T0)

    page = await client.get(f"/c/{mira.id}")
    assert page.status_code == 200
    assert 'data-testid="creator-name">Mira<' in page.text
    assert titles(page.text) == ["Mira's second", "Mira's first"]

    empty = await client.get(f"/c/{(await person(pg, 'Newcomer', creator=True)).id}")
    assert "has not published anything yet" in empty.text
    assert (await client.get(f"/c/{viewer.id}")).status_code == 404
    assert (await client.get("/c/00000000-0000-0000-0000-000000000000")).status_code == 404
    assert (await client.get("/c/not-a-uuid")).status_code in (400, 404)


async def test_tiles_show_covers_served_with_caching_headers(pg: Injector, client: httpx.AsyncClient) -> None:
    mira = await person(pg, "Mira", creator=True)
    synthetic = await add_synthetic_video(pg, mira.id, title="With its frame")
    video = await price_and_publish(pg, mira.id, synthetic.video)
    await shelve(pg, mira.id, "No cover at all", cover=False, at=video.created_at - timedelta(days=1))

    home = await client.get("/")
    covers = re.findall(r'<img src="(/v/[^"]+/cover\?v=\d+)"', home.text)
    assert covers == [next(u for u in covers if video.public_id in u)]  # only the video with a cover has one
    image = await client.get(covers[0])
    assert image.status_code == 200
    assert image.headers["content-type"].startswith("image/jpeg")
    assert image.content == synthetic.published["cover.jpg"]  # the frame the pipeline took
    assert "max-age" in image.headers["cache-control"]


# -- what a page costs ---------------------------------------------------------------------------------


class CountingDatabase(Database):
    """The real Database whose connections report every statement they run (asyncpg's query logger),
    wired in through the injector like any adapter."""

    def __init__(self, url: str) -> None:
        super().__init__(url, min_size=1, max_size=4, tables=table_classes())
        self.statements: list[str] = []
        self.engine.config = {**self.engine.config, "init": self._watch}

    async def _watch(self, connection: Any) -> None:
        connection.add_query_logger(self._log)

    def _log(self, record: Any) -> None:
        if not record.query.startswith(POOL_RESET):  # asyncpg's pool, when a connection goes back
            self.statements.append(record.query)


class CountingModule(Module):
    def __init__(self, db: CountingDatabase) -> None:
        self.db = db

    def configure(self, binder: Binder) -> None:
        binder.bind(Database, to=InstanceProvider(self.db))
        bind_port(binder, UnitOfWork, self.db)


async def test_a_feed_page_costs_the_same_few_queries_for_10_or_50_videos(pg: Injector, settings: Settings) -> None:
    creators = [await person(pg, f"Creator {n}", creator=True) for n in range(5)]
    for n, creator in enumerate(creators):
        await shelve_many(pg, creator.id, 12, prefix=f"C{n}")
    viewer = await person(pg, "Vic")
    token = await session_token(pg, viewer)

    db = CountingDatabase(settings.database_url)
    counting = build_injector(settings, features_for(settings), CountingModule(db))
    await db.start()
    try:
        async with app_client(counting, settings) as browser:
            browser.cookies.set(SESSION_COOKIE, token)
            costs: dict[int, int] = {}
            times: dict[int, list[float]] = {10: [], 50: []}
            for size in (10, 50):
                for _ in range(5):
                    db.statements.clear()
                    started = time.perf_counter()
                    response = await browser.get(f"/?limit={size}")
                    times[size].append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200
                    assert len(tile_ids(response.text)) == size
                    costs[size] = len(db.statements)
    finally:
        await db.stop()
        bind_tables(pg.get(Database).engine, pg.get(Database).tables)  # Piccolo tables back on the suite's pool
    print(  # the numbers for docs and reports (pytest -s)
        f"\nfeed: {costs} statements; median ms: 10 → {statistics.median(times[10]):.1f},"
        f" 50 → {statistics.median(times[50]):.1f}"
    )
    assert costs[10] == costs[50]
    assert costs[50] <= 3  # the session, the page of videos, the creators' names
