"""Favourites and picks through HTTP on real PostgreSQL: the one-click toggle with its CSRF check,
and the lists on the account page."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from html import unescape

import httpx
from injector import Injector

from core.db import Database
from core.identity import Principal
from core.settings import Settings
from core.web import SESSION_COOKIE
from features.studio.model import VideoState
from tests.conftest import app_client
from tests.support.catalog import T0, shelve, shelve_many, watch
from tests.support.videos import person, session_token
from tests.support.web import csrf_token

HTMX = {"hx-request": "true"}


def titles(html: str) -> list[str]:
    return [unescape(t) for t in re.findall(r'data-testid="tile-title">([^<]+)<', html)]


def state(html: str) -> str:
    found = re.search(r'data-testid="favourite" data-favourite="(yes|no)"', html)
    assert found is not None, html
    return found.group(1)


@asynccontextmanager
async def browser_of(pg: Injector, settings: Settings, who: Principal | None) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(pg, settings) as client:
        if who is not None:
            client.cookies.set(SESSION_COOKIE, await session_token(pg, who))
        await csrf_token(client, "/login")
        yield client


async def toggle(browser: httpx.AsyncClient, public_id: str, wanted: str, *, htmx: bool = True) -> httpx.Response:
    headers = {"x-csrftoken": browser.cookies["csrftoken"]} | (HTMX if htmx else {})
    return await browser.post(f"/v/{public_id}/favourite", data={"favourite": wanted}, headers=headers)


async def favourites_count(pg: Injector) -> int:
    return int(await pg.get(Database).fetchval("SELECT count(*) FROM favourites"))


async def test_the_favourite_toggle_flips_with_one_click_and_a_double_click_keeps_it(
    pg: Injector, settings: Settings
) -> None:
    mira = await person(pg, "Mira", creator=True)
    viewer = await person(pg, "Vic")
    video = await shelve(pg, mira.id, "Harbour")
    async with browser_of(pg, settings, viewer) as browser:
        button = await browser.get(f"/v/{video.public_id}/favourite", headers=HTMX)
        assert button.status_code == 200
        assert state(button.text) == "no"
        assert "Add to favourites" in button.text
        assert 'hx-post="/v/' in button.text
        assert "no-store" in button.headers["cache-control"]

        on = await toggle(browser, video.public_id, "1")
        assert on.status_code == 200
        assert "<html" not in on.text
        assert state(on.text) == "yes"
        assert 'aria-pressed="true"' in on.text
        assert state((await toggle(browser, video.public_id, "1")).text) == "yes"  # the doubled click
        assert await favourites_count(pg) == 1
        assert state((await browser.get(f"/v/{video.public_id}/favourite")).text) == "yes"  # after a reload

        off = await toggle(browser, video.public_id, "0")
        assert state(off.text) == "no"
        assert await favourites_count(pg) == 0

        plain = await toggle(browser, video.public_id, "1", htmx=False)
        assert plain.status_code == 303
        assert plain.headers["location"] == f"/v/{video.public_id}"
        assert await favourites_count(pg) == 1


async def test_the_toggle_refuses_a_request_without_the_csrf_token(pg: Injector, settings: Settings) -> None:
    mira = await person(pg, "Mira", creator=True)
    viewer = await person(pg, "Vic")
    video = await shelve(pg, mira.id, "Harbour")
    async with browser_of(pg, settings, viewer) as browser:
        forged = await browser.post(f"/v/{video.public_id}/favourite", data={"favourite": "1"}, headers=HTMX)
        assert forged.status_code == 403
        wrong = await browser.post(
            f"/v/{video.public_id}/favourite", data={"favourite": "1"}, headers={**HTMX, "x-csrftoken": "forged"}
        )
        assert wrong.status_code == 403
    assert await favourites_count(pg) == 0


async def test_a_visitor_is_asked_to_log_in(pg: Injector, settings: Settings) -> None:
    mira = await person(pg, "Mira", creator=True)
    video = await shelve(pg, mira.id, "Harbour")
    async with browser_of(pg, settings, None) as visitor:
        button = await visitor.get(f"/v/{video.public_id}/favourite", headers=HTMX)
        assert button.status_code == 200
        assert f'href="/login?next=/v/{video.public_id}"' in button.text
        assert "hx-post" not in button.text
        refused = await toggle(visitor, video.public_id, "1")
        assert refused.status_code == 401
        assert refused.headers["hx-redirect"].startswith("/login?next=")
    assert await favourites_count(pg) == 0


async def test_another_creators_unpublished_video_cannot_be_favourited(pg: Injector, settings: Settings) -> None:
    mira = await person(pg, "Mira", creator=True)
    viewer = await person(pg, "Vic")
    hidden = await shelve(pg, mira.id, "Hidden", state=VideoState.READY)
    async with browser_of(pg, settings, viewer) as browser:
        assert (await toggle(browser, hidden.public_id, "1")).status_code == 404
        assert (await browser.get(f"/v/{hidden.public_id}/favourite", headers=HTMX)).status_code == 404
        assert (await toggle(browser, "no-such-video", "1")).status_code == 404
    assert await favourites_count(pg) == 0


async def test_the_account_page_lists_favourites_a_page_at_a_time(pg: Injector, settings: Settings) -> None:
    mira = await person(pg, "Mira", creator=True)
    viewer = await person(pg, "Vic")
    videos = await shelve_many(pg, mira.id, 3)
    async with browser_of(pg, settings, viewer) as browser:
        me = await browser.get("/me")
        assert 'data-testid="favourites-panel"' in me.text
        assert 'data-testid="picks-panel"' in me.text
        assert 'hx-get="/me/favourites"' in me.text
        empty = await browser.get("/me/favourites", headers=HTMX)
        assert "No favourites yet" in empty.text

        for video in videos:
            await toggle(browser, video.public_id, "1")
        first = await browser.get("/me/favourites?limit=2", headers=HTMX)
        assert "<html" not in first.text
        assert titles(first.text) == ["Film 02", "Film 01"]
        more = re.search(r'href="([^"]+)"[^>]*data-testid="favourites-more"', first.text)
        assert more is not None
        second = await browser.get(unescape(more.group(1)), headers=HTMX)
        assert titles(second.text) == ["Film 00"]
        assert 'data-testid="favourites-more"' not in second.text

        page = await browser.get("/me/favourites")
        assert "<html" in page.text
        assert titles(page.text) == ["Film 02", "Film 01", "Film 00"]
    async with browser_of(pg, settings, None) as visitor:
        assert (await visitor.get("/me/favourites", follow_redirects=False)).status_code == 303


async def test_picks_leave_out_watched_videos_and_the_viewers_own(pg: Injector, settings: Settings) -> None:
    liked = await person(pg, "Liked", creator=True)
    stranger = await person(pg, "Stranger", creator=True)
    viewer = await person(pg, "Vic", creator=True)
    first = await shelve(pg, liked.id, "Liked first", at=T0)
    seen = await shelve(pg, liked.id, "Liked but seen", at=T0 + timedelta(minutes=1))
    await shelve(pg, liked.id, "Liked newest", at=T0 + timedelta(minutes=2))
    await shelve(pg, liked.id, "Liked draft", at=T0 + timedelta(minutes=3), state=VideoState.READY)
    await shelve(pg, stranger.id, "Stranger's", at=T0 + timedelta(minutes=4))
    own = await shelve(pg, viewer.id, "My own", at=T0 + timedelta(minutes=5))
    await watch(pg, viewer.id, seen)

    async with browser_of(pg, settings, viewer) as browser:
        assert "Nothing picked yet" in (await browser.get("/me/picks", headers=HTMX)).text
        await toggle(browser, first.public_id, "1")
        await toggle(browser, own.public_id, "1")
        picks = await browser.get("/me/picks", headers=HTMX)
        assert picks.status_code == 200
        assert titles(picks.text) == ["Liked newest", "Liked first"]
        assert "<html" in (await browser.get("/me/picks")).text
