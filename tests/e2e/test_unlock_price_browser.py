"""Stale pages in a real Chromium (issue 11, items 1 and 2): a price raised after the page loaded is
refused in place with the new offer, and a second tab clicking an offer the first one just bought
shows the player and charges nothing. Each is still one click."""

from __future__ import annotations

import pytest
from injector import Injector
from playwright.async_api import BrowserContext, expect

from core.web import SESSION_COOKIE
from features.unlocks.model import Offer
from features.unlocks.service import PricingService
from tests.support.videos import add_synthetic_video, balances, fund, person, price_and_publish, session_token

pytestmark = pytest.mark.e2e


async def test_a_raised_price_is_refused_in_place_and_a_second_tab_pays_nothing(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    creator = await person(pg, "Mira", creator=True)
    video = (await add_synthetic_video(pg, creator.id, title="Harbour lights")).video
    await price_and_publish(pg, creator.id, video, rent_day=50, rent_month=None, lifetime=None)
    viewer = await person(pg, "Sam")
    await fund(pg, viewer.id, 1000)
    token = await session_token(pg, viewer)
    await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": live_server, "httpOnly": True}])

    first, second = await context.new_page(), await context.new_page()
    for page in (first, second):
        await page.goto(f"/v/{video.public_id}")
        await expect(page.get_by_test_id("offer-rent_day")).to_contain_text("50")

    prices = {Offer.RENT_DAY: "80", Offer.RENT_MONTH: "", Offer.LIFETIME: ""}
    await pg.get(PricingService).set_prices(creator.id, video.public_id, free=False, prices=prices, preview="")

    await first.get_by_test_id("offer-rent_day").click()
    notice = first.get_by_test_id("unlock-notice")
    await expect(notice).to_contain_text("Rent 24 h is now 80 points")
    await expect(notice).to_contain_text("Nothing was charged")
    await expect(first.get_by_test_id("offer-rent_day")).to_contain_text("80")
    assert await balances(pg, viewer.id, creator.id) == (1000, 0, 0)

    await first.get_by_test_id("offer-rent_day").click()  # the new offer, one click
    await expect(first.get_by_test_id("unlocked")).to_be_visible()
    await expect(first.get_by_test_id("balance-pill")).to_have_text("920")

    # The second tab still shows the old page; its click buys nothing and shows the player.
    await second.get_by_test_id("offer-rent_day").click()
    await expect(second.get_by_test_id("unlock-notice")).to_contain_text("Nothing was charged")
    await expect(second.get_by_test_id("player")).to_be_visible()
    assert await balances(pg, viewer.id, creator.id) == (920, 72, 8)
