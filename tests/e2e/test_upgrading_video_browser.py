"""A viewer unlocks and plays a video that is still upgrading, in a real Chromium: the real studio and
pipeline published it in 480p (the moment it became READY), its creator priced and published it, and
its higher renditions are still on the way. The watch page says so, and passes axe (WCAG 2.2 AA)."""

from __future__ import annotations

from typing import Any

import pytest
from injector import Injector
from playwright.async_api import Browser, BrowserContext, expect

from core.di import get_port
from core.web import SESSION_COOKIE
from features.studio.ports import VideoRepository
from tests.e2e.test_accessibility_browser import AXE, axe_findings
from tests.support.videos import balances, fund, person, price_and_publish, session_token, transcode_video

pytestmark = pytest.mark.e2e


async def test_a_viewer_unlocks_and_plays_a_video_whose_higher_renditions_are_on_the_way(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    creator = await person(pg, "Ines", creator=True)
    video = await transcode_video(pg, creator.id, title="Morning ferry", seconds=4.0)
    # As the pipeline leaves it after its first publication: playable in 480p, 720p and 1080p converting.
    video.pending_renditions = ["720p", "1080p"]
    await get_port(pg, VideoRepository).save(video)
    assert video.upgrading
    published = await price_and_publish(pg, creator.id, video, rent_day=40, rent_month=None, lifetime=None)
    assert published.upgrading  # published while upgrading: the creator did not have to wait
    viewer = await person(pg, "Noor")
    await fund(pg, viewer.id, 100)
    token = await session_token(pg, viewer)
    await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": live_server, "httpOnly": True}])
    await context.add_init_script(path=AXE)

    page = await context.new_page()
    await page.goto(f"/v/{video.public_id}")
    await expect(page.get_by_test_id("locked")).to_be_visible()
    await expect(page.get_by_test_id("upgrading-note")).to_contain_text("Higher quality on the way")
    await page.get_by_test_id("offer-rent_day").click()
    await expect(page.get_by_test_id("unlocked")).to_be_visible()
    await expect(page.get_by_test_id("upgrading-note")).to_contain_text("Playing in 480p")
    player = page.locator("video.hls-player")
    await player.evaluate("video => { video.muted = true; return video.play().catch(() => null); }")
    await page.wait_for_function(
        "() => { const v = document.querySelector('video.hls-player'); return v && v.currentTime > 1; }",
        timeout=15_000,
    )
    state: dict[str, Any] = await player.evaluate("video => ({ width: video.videoWidth, error: video.error })")
    assert state == {"width": 320, "error": None}
    assert await balances(pg, viewer.id, creator.id) == (60, 36, 4)

    assert await axe_findings(page) == []


async def test_the_creator_s_tile_says_which_qualities_play_and_which_are_on_the_way(
    chromium: Browser, live_server: str, pg: Injector
) -> None:
    creator = await person(pg, "Ines", creator=True)
    video = await transcode_video(pg, creator.id, title="Evening ferry", seconds=2.0)
    video.pending_renditions = ["720p", "1080p"]
    await get_port(pg, VideoRepository).save(video)
    context = await chromium.new_context(base_url=live_server)
    try:
        token = await session_token(pg, creator)
        await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": live_server, "httpOnly": True}])
        await context.add_init_script(path=AXE)
        page = await context.new_page()
        await page.goto("/studio")
        tile = page.get_by_test_id("video-tile")
        await expect(tile.get_by_test_id("upgrading")).to_have_text("Playable in 480p · 720p, 1080p on the way")
        await expect(tile.get_by_role("progressbar")).to_have_attribute(
            "aria-label", "Higher qualities of “Evening ferry”"
        )
        await expect(tile.get_by_role("link", name="Set prices & publish")).to_be_visible()
        await expect(tile).to_have_attribute(
            "data-announce", "“Evening ferry”: ready, playable now, higher quality on the way"
        )
        assert await axe_findings(page) == []
    finally:
        await context.close()
