"""Views are not free to fake (issue 11, item 11): a player's session id is the client's to choose, so
it must not decide what counts as a view. One view per viewer — a signed-in user, else a visitor's
device (a cookie the server signs), else its address — per video per VIEW_WINDOW_SECONDS, however many
session ids it sends; heartbeats are rate-limited per viewer (429). Checked through HTTP on PostgreSQL,
with the analytics fold the creator's pages read.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from injector import Injector

from core.clock import FrozenClock
from core.db import Database
from core.di import build_injector
from core.identity import Principal
from core.settings import Settings
from core.web import SESSION_COOKIE
from features.analytics.model import DateRange, day_of
from features.analytics.service import AnalyticsService
from features.bootstrap import features_for
from tests.conftest import app_client
from tests.integration.test_playback_web import FrozenTime
from tests.support.videos import SyntheticVideo, add_synthetic_video, person, price_and_publish, session_token
from tests.support.web import csrf_token

DURATION = 12.0  # the synthetic video: 3 segments of 4 s


@pytest.fixture
def frozen(pg: Injector, settings: Settings) -> tuple[Injector, FrozenClock]:
    clock = FrozenClock(datetime.now(UTC).replace(hour=8, minute=0, second=0, microsecond=0))
    return build_injector(settings, features_for(settings), FrozenTime(pg.get(Database), clock)), clock


@asynccontextmanager
async def player(injector: Injector, settings: Settings, who: Principal | None) -> AsyncIterator[httpx.AsyncClient]:
    """A browser (its own cookie jar, the same address as every other test client)."""
    async with app_client(injector, settings) as client:
        if who is not None:
            client.cookies.set(SESSION_COOKIE, await session_token(injector, who))
        await csrf_token(client, "/login")
        yield client


async def beat(client: httpx.AsyncClient, pid: str, session: str, position: float) -> httpx.Response:
    return await client.post(
        f"/v/{pid}/heartbeat",
        json={"session": session, "position": position},
        headers={"x-csrftoken": client.cookies.get("csrftoken") or ""},
    )


def fresh_session() -> str:
    return secrets.token_hex(8)


async def views_and_retention(injector: Injector, creator: Principal, made: SyntheticVideo) -> tuple[int, int, int]:
    """(views, views that reached the end, watch ms) of the video today, after folding."""
    analytics = injector.get(AnalyticsService)
    await analytics.fold()
    today = day_of(analytics.clock.now())
    report = await analytics.video_report(creator.id, made.video.id, DateRange(today - timedelta(days=1), today))
    return report.totals.views, report.retention[-1].views, report.totals.watch_ms


async def free_video(injector: Injector) -> tuple[Principal, SyntheticVideo]:
    creator = await person(injector, "Creator", creator=True)
    made = await add_synthetic_video(injector, creator.id)
    await price_and_publish(injector, creator.id, made.video, free=True)
    return creator, made


async def test_forged_session_ids_from_one_signed_in_viewer_count_one_view(
    frozen: tuple[Injector, FrozenClock], settings: Settings
) -> None:
    injector, clock = frozen
    creator, made = await free_video(injector)
    viewer = await person(injector, "Viewer")
    async with player(injector, settings, viewer) as client:
        for _ in range(25):  # the attack: 25 fresh session ids in seconds, each claiming the end
            assert (await beat(client, made.video.public_id, fresh_session(), DURATION)).status_code == 204
            clock.advance(timedelta(seconds=1))
    views, to_the_end, watch_ms = await views_and_retention(injector, creator, made)
    assert views == 1
    assert to_the_end <= 1  # retention counts views, not forged sessions
    assert watch_ms <= 25_000 + 10_000  # never more watching than the wall clock allowed


async def test_forged_session_ids_from_one_visitor_count_one_view(
    frozen: tuple[Injector, FrozenClock], settings: Settings
) -> None:
    injector, clock = frozen
    creator, made = await free_video(injector)
    pid = made.video.public_id
    async with player(injector, settings, None) as scripted:  # never loads a playlist: no device cookie
        for _ in range(25):
            assert (await beat(scripted, pid, fresh_session(), 3.0)).status_code == 204
            clock.advance(timedelta(seconds=1))
    async with player(injector, settings, None) as other_jar:  # a new cookie jar, the same address
        for _ in range(5):
            assert (await beat(other_jar, pid, fresh_session(), 3.0)).status_code == 204
            clock.advance(timedelta(seconds=1))
    views, _, _ = await views_and_retention(injector, creator, made)
    assert views == 1


async def test_visitors_with_a_device_cookie_count_one_view_per_device(
    frozen: tuple[Injector, FrozenClock], settings: Settings
) -> None:
    injector, clock = frozen
    creator, made = await free_video(injector)
    pid = made.video.public_id
    for _ in range(2):  # two people behind one address, each with a browser that loads the player
        async with player(injector, settings, None) as browser:
            assert (await browser.get(f"/v/{pid}/hls/master.m3u8")).status_code == 200
            assert browser.cookies.get("hypha_device")
            for _ in range(10):
                assert (await beat(browser, pid, fresh_session(), 2.0)).status_code == 204
                clock.advance(timedelta(seconds=1))
    async with player(injector, settings, None) as forger:
        await forger.get(f"/v/{pid}/hls/master.m3u8")
        device = forger.cookies.get("hypha_device") or ""
        forger.cookies.set("hypha_device", device[:-2] + ("00" if device[-2:] != "00" else "11"))  # tampered
        for _ in range(5):
            assert (await beat(forger, pid, fresh_session(), 2.0)).status_code == 204
            clock.advance(timedelta(seconds=1))
    views, _, _ = await views_and_retention(injector, creator, made)
    assert views == 3  # two devices, and the tampered cookie falls back to the address


async def test_a_new_view_counts_once_the_window_has_passed(
    frozen: tuple[Injector, FrozenClock], settings: Settings
) -> None:
    injector, clock = frozen
    creator, made = await free_video(injector)
    viewer = await person(injector, "Viewer")
    pid = made.video.public_id
    async with player(injector, settings, viewer) as client:
        session = fresh_session()
        for position in (2.0, 4.0, 6.0):
            assert (await beat(client, pid, session, position)).status_code == 204
            clock.advance(timedelta(seconds=2))
        clock.advance(timedelta(seconds=settings.view_window_seconds - 10))
        assert (await beat(client, pid, session, 8.0)).status_code == 204  # the same player, still playing
        clock.advance(timedelta(seconds=20))
        assert (await beat(client, pid, session, 10.0)).status_code == 204
        assert (await beat(client, pid, fresh_session(), 1.0)).status_code == 204  # a new page load, later
        assert (await beat(client, pid, fresh_session(), 1.0)).status_code == 204  # and a forged one
    views, _, _ = await views_and_retention(injector, creator, made)
    assert views == 2


async def test_heartbeats_past_the_limit_are_refused_and_not_stored(pg: Injector, settings: Settings) -> None:
    _, made = await free_video(pg)
    viewer = await person(pg, "Viewer")
    pid = made.video.public_id
    db = pg.get(Database)
    async with player(pg, settings, viewer) as client:
        statuses = [(await beat(client, pid, fresh_session(), 1.0)).status_code for _ in range(40)]
        refused = await beat(client, pid, fresh_session(), 1.0)
    assert statuses[: settings.heartbeats_per_minute] == [204] * settings.heartbeats_per_minute
    assert set(statuses[settings.heartbeats_per_minute :]) == {429}
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    stored = await db.fetchval("SELECT count(*) FROM playback_heartbeats WHERE video_id = $1", made.video.id)
    assert stored == settings.heartbeats_per_minute
    async with player(pg, settings, None) as visitor:  # the limit is the viewer's: others still get through
        assert (await beat(visitor, pid, fresh_session(), 1.0)).status_code == 204


async def test_one_address_gets_a_bounded_number_of_new_device_ids(pg: Injector, settings: Settings) -> None:
    """A script that drops its cookies before every playlist cannot mint devices (views) without end."""
    _, made = await free_video(pg)
    pid = made.video.public_id
    issued: list[str] = []
    async with player(pg, settings, None) as client:
        for _ in range(25):
            client.cookies.delete("hypha_device")
            response = await client.get(f"/v/{pid}/hls/master.m3u8")
            assert response.status_code == 200
            if "hypha_device" in response.cookies:
                issued.append(response.cookies["hypha_device"])
        assert len(set(issued)) == len(issued) == 20  # then the address counts as one visitor
        for _ in range(5):  # heartbeats without a device: the address's one view
            client.cookies.delete("hypha_device")
            assert (await beat(client, pid, fresh_session(), 2.0)).status_code == 204
    keys = await pg.get(Database).fetch("SELECT viewer_key FROM playback_views WHERE video_id = $1", made.video.id)
    assert [row["viewer_key"] for row in keys] == ["ip:127.0.0.1"]
