"""The creator's dashboard in one Chromium context updates live — no reload — while a viewer in another
context unlocks the video, tips with a message, and starts watching."""

from __future__ import annotations

import pytest
from injector import Injector
from playwright.async_api import Browser, BrowserContext, expect

from core.web import SESSION_COOKIE
from features.dashboard.service import DashboardService
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish, session_token

pytestmark = pytest.mark.e2e


async def log_in(context: BrowserContext, base_url: str, token: str) -> None:
    await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": base_url, "httpOnly": True}])


async def test_the_dashboard_updates_live_when_a_viewer_unlocks_tips_and_watches(
    context: BrowserContext, chromium: Browser, live_server: str, pg: Injector
) -> None:
    creator = await person(pg, "Mira", creator=True)
    video = await price_and_publish(
        pg, creator.id, (await add_synthetic_video(pg, creator.id, title="Harbour lights")).video, rent_day=50
    )
    viewer = await person(pg, "Sam")
    await fund(pg, viewer.id, 200)

    await log_in(context, live_server, await session_token(pg, creator))
    dashboard = await context.new_page()
    await dashboard.goto("/studio")
    await expect(dashboard.get_by_test_id("sales-count")).to_have_text("0")
    await expect(dashboard.get_by_test_id("balance")).to_have_text("0")
    await expect(dashboard.get_by_test_id("viewers")).to_have_text("0")
    await expect(dashboard.get_by_test_id("dash-tips")).to_contain_text("No tips yet")
    assert await dashboard.locator("[sse-connect]").count() == 1
    await dashboard.evaluate("() => { window.__notReloaded = true; }")

    other = await chromium.new_context(base_url=live_server)
    other.set_default_timeout(15_000)
    try:
        await log_in(other, live_server, await session_token(pg, viewer))
        watch = await other.new_page()
        await watch.goto(f"/v/{video.public_id}")
        await watch.get_by_test_id("offer-rent_day").click()
        await expect(watch.get_by_test_id("unlocked")).to_be_visible()

        await expect(dashboard.get_by_test_id("sales-count")).to_have_text("1")
        await expect(dashboard.get_by_test_id("sales-points")).to_have_text("50")
        await expect(dashboard.get_by_test_id("balance")).to_have_text("45")

        await watch.get_by_test_id("tip-message").fill("The harbour at night!")
        await watch.get_by_test_id("tip-10").click()
        await expect(watch.get_by_test_id("tip-thanks")).to_be_visible()

        await expect(dashboard.get_by_test_id("tip-message")).to_have_text("The harbour at night!")
        await expect(dashboard.get_by_test_id("dash-tips")).to_contain_text("Sam")
        await expect(dashboard.get_by_test_id("tips-today")).to_have_text("10")
        await expect(dashboard.get_by_test_id("balance")).to_have_text("55")

        # The player's heartbeat (what hls.js sends every 10 s), then the every-10-seconds count.
        token = next(c["value"] for c in await other.cookies() if c["name"] == "csrftoken")
        beat = await other.request.post(
            f"/v/{video.public_id}/heartbeat",
            data={"position": 3.5, "session": "session-dashboard-e2e"},
            headers={"x-csrftoken": token},
        )
        assert beat.status == 204
        assert await pg.get(DashboardService).refresh_viewers() == {creator.id: 1}
        await expect(dashboard.get_by_test_id("viewers")).to_have_text("1")
    finally:
        await other.close()

    assert await dashboard.evaluate("() => window.__notReloaded === true")
