"""From the shared link to watching in one click, in a real Chromium: the video is made by the real
studio and pipeline, the unlock moves points through the ledger, hls.js fetches the AES key and
decrypts the stream, and the video plays. Then a tip, and a stranger who gets no key."""

from __future__ import annotations

import asyncio

import pytest
from injector import Injector
from playwright.async_api import Browser, BrowserContext, expect

from core.db import Database
from core.web import SESSION_COOKIE
from tests.support.videos import balances, fund, person, price_and_publish, session_token, transcode_video

pytestmark = pytest.mark.e2e


async def log_in(context: BrowserContext, base_url: str, token: str) -> None:
    await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": base_url, "httpOnly": True}])


async def test_a_viewer_rents_a_video_with_one_click_and_watches_it(
    context: BrowserContext, chromium: Browser, live_server: str, pg: Injector
) -> None:
    creator = await person(pg, "Mira", creator=True)
    video = await transcode_video(pg, creator.id, title="Harbour lights", seconds=4.0)
    await price_and_publish(pg, creator.id, video, rent_day=50, rent_month=200, lifetime=None)
    viewer = await person(pg, "Sam")
    await fund(pg, viewer.id, 200)
    await log_in(context, live_server, await session_token(pg, viewer))

    page = await context.new_page()
    await page.goto(f"/v/{video.public_id}")
    await expect(page.get_by_test_id("video-title")).to_have_text("Harbour lights")
    await expect(page.get_by_test_id("locked")).to_be_visible()
    await expect(page.get_by_test_id("balance-pill")).to_have_text("200")

    await page.get_by_test_id("offer-rent_day").click()
    await expect(page.get_by_test_id("unlocked")).to_be_visible()
    await expect(page.get_by_test_id("access-until")).to_contain_text("You can watch until")
    await expect(page.get_by_test_id("balance-pill")).to_have_text("150")
    player = page.locator("video.hls-player")
    await expect(player).to_have_attribute("data-src", f"/v/{video.public_id}/hls/master.m3u8")
    await player.evaluate("video => { video.muted = true; return video.play().catch(() => null); }")
    await page.wait_for_function(
        "() => { const v = document.querySelector('video.hls-player'); return v && v.currentTime > 1; }",
        timeout=15_000,
    )
    state = await player.evaluate(
        "video => ({ time: video.currentTime, width: video.videoWidth, error: video.error && video.error.code })"
    )
    assert state["time"] > 1
    assert state["width"] == 320
    assert state["error"] is None

    assert await balances(pg, viewer.id, creator.id) == (150, 45, 5)
    db = pg.get(Database)
    heartbeats = int(await db.fetchval("SELECT count(*) FROM playback_heartbeats"))
    await player.evaluate("video => video.pause()")  # pausing sends a heartbeat
    for _ in range(50):
        if int(await db.fetchval("SELECT count(*) FROM playback_heartbeats")) > heartbeats:
            break
        await asyncio.sleep(0.1)
    assert int(await db.fetchval("SELECT count(*) FROM playback_heartbeats")) > heartbeats
    beat = await db.fetchrow("SELECT viewer_id, position_seconds FROM playback_heartbeats ORDER BY id DESC LIMIT 1")
    assert beat is not None
    assert beat["viewer_id"] == viewer.id
    assert beat["position_seconds"] > 1

    # A tip, with a message, in one click.
    await page.get_by_test_id("tip-message").fill("The harbour at night!")
    await page.get_by_test_id("tip-10").click()
    await expect(page.get_by_test_id("tip-thanks")).to_contain_text("You tipped 10 points with your message")
    await expect(page.get_by_test_id("balance-pill")).to_have_text("140")
    assert await balances(pg, viewer.id, creator.id) == (140, 55, 5)
    tip = await pg.get(Database).fetchval("SELECT data->>'message' FROM event_log WHERE name = 'tip'")
    assert tip == "The harbour at night!"

    # Another viewer, with no entitlement, gets no key.
    stranger = await person(pg, "Alex")
    other = await chromium.new_context(base_url=live_server)
    try:
        await log_in(other, live_server, await session_token(pg, stranger))
        response = await other.request.get(f"/v/{video.public_id}/key")
        assert response.status == 403
        assert response.headers["cache-control"] == "no-store"
        other_page = await other.new_page()
        await other_page.goto(f"/v/{video.public_id}")
        await expect(other_page.get_by_test_id("offer-rent_day")).to_be_visible()
        await expect(other_page.locator("video.hls-player")).to_have_count(0)
    finally:
        await other.close()
