"""The favourite toggle on a video page, in a real Chromium: one click flips it without a reload, a
reload shows it kept, and the account page lists it."""

from __future__ import annotations

import pytest
from injector import Injector
from playwright.async_api import BrowserContext, expect

from core.db import Database
from core.web import SESSION_COOKIE
from tests.support.videos import add_synthetic_video, person, price_and_publish, session_token

pytestmark = pytest.mark.e2e


async def test_one_click_favourites_a_video_and_a_reload_keeps_it(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    creator = await person(pg, "Mira", creator=True)
    synthetic = await add_synthetic_video(pg, creator.id, title="Harbour lights")
    video = await price_and_publish(pg, creator.id, synthetic.video)
    viewer = await person(pg, "Sam")
    token = await session_token(pg, viewer)
    await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": live_server, "httpOnly": True}])

    page = await context.new_page()
    await page.goto(f"/v/{video.public_id}")
    toggle = page.get_by_test_id("favourite-toggle")
    await expect(toggle).to_have_attribute("aria-pressed", "false")
    await expect(toggle).to_contain_text("Add to favourites")
    await page.evaluate("window.sameDocument = true")

    await toggle.click()
    await expect(toggle).to_have_attribute("aria-pressed", "true")
    await expect(toggle).to_contain_text("Favourite")
    assert await page.evaluate("window.sameDocument === true")  # swapped in place, no reload
    assert await pg.get(Database).fetchval("SELECT count(*) FROM favourites") == 1

    await page.reload()
    await expect(page.get_by_test_id("favourite-toggle")).to_have_attribute("aria-pressed", "true")

    await page.goto("/me")
    await expect(page.get_by_test_id("favourites").get_by_text("Harbour lights")).to_be_visible()

    await page.goto(f"/v/{video.public_id}")
    await page.get_by_test_id("favourite-toggle").click()
    await expect(page.get_by_test_id("favourite-toggle")).to_have_attribute("aria-pressed", "false")
    assert await pg.get(Database).fetchval("SELECT count(*) FROM favourites") == 0
