"""The balance pill live across tabs, in a real Chromium: a viewer has their wallet open in one tab and
unlocks a video, then tips, in another — the wallet tab's pill follows without a reload (the one live
stream carries it). Pages that already hold a stream (the studio) get it as well."""

from __future__ import annotations

import pytest
from injector import Injector
from playwright.async_api import BrowserContext, expect

from core.web import SESSION_COOKIE
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish, session_token

pytestmark = pytest.mark.e2e


async def log_in(context: BrowserContext, base_url: str, token: str) -> None:
    await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": base_url, "httpOnly": True}])


async def test_the_wallet_tabs_pill_follows_an_unlock_and_a_tip_made_in_another_tab(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    creator = await person(pg, "Mira", creator=True)
    video = (await add_synthetic_video(pg, creator.id, title="Harbour lights")).video
    video = await price_and_publish(pg, creator.id, video, rent_day=50)
    viewer = await person(pg, "Sam")
    await fund(pg, viewer.id, 200)
    await log_in(context, live_server, await session_token(pg, viewer))

    wallet = await context.new_page()
    await wallet.goto("/wallet")
    await expect(wallet.get_by_test_id("balance-pill")).to_have_text("200")
    await wallet.wait_for_function("() => document.querySelector('[sse-connect]') !== null")
    await wallet.wait_for_timeout(500)  # the EventSource is open

    watch = await context.new_page()
    await watch.goto(f"/v/{video.public_id}")
    await watch.get_by_test_id("offer-rent_day").click()
    await expect(watch.get_by_test_id("unlocked")).to_be_visible()
    await expect(watch.get_by_test_id("balance-pill")).to_have_text("150")  # this tab, as before

    await expect(wallet.get_by_test_id("balance-pill")).to_have_text("150")  # the other tab, live

    await watch.get_by_test_id("tip-10").click()
    await expect(watch.get_by_test_id("tip-thanks")).to_be_visible()
    await expect(wallet.get_by_test_id("balance-pill")).to_have_text("140")
    # The pill swapped in stays the pill: it still opens the wallet.
    await expect(wallet.get_by_test_id("balance-pill")).to_have_attribute("href", "/wallet")
