"""Bundles and promo codes in a real Chromium: one click on a bundle unlocks every video in it; a code
entered in the video's panel lowers the price shown, and that lower price is what the click charges.
The new pages and panels are checked with axe-core (WCAG 2.2 A/AA, serious and critical fail)."""

from __future__ import annotations

import pytest
from injector import Injector
from playwright.async_api import BrowserContext, Page, expect

from core.web import SESSION_COOKIE
from features.offers.service import OffersService
from features.studio.model import Video
from tests.e2e.test_accessibility_browser import AXE, axe_findings, settled
from tests.support.videos import add_synthetic_video, balances, fund, person, price_and_publish, session_token

pytestmark = pytest.mark.e2e


async def log_in(context: BrowserContext, base_url: str, token: str) -> None:
    await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": base_url, "httpOnly": True}])


async def video_of(pg: Injector, creator_id: object, title: str, lifetime: int) -> Video:
    made = await add_synthetic_video(pg, creator_id, title=title)  # type: ignore[arg-type]
    return await price_and_publish(pg, creator_id, made.video, lifetime=lifetime)  # type: ignore[arg-type]


async def assert_accessible(page: Page, where: str) -> None:
    await settled(page)
    # Let entrance animations (a flash fading in) end: axe measures the colours as they are on screen.
    await page.wait_for_function("() => document.getAnimations().every(a => a.playState !== 'running')")
    findings = await axe_findings(page)
    assert findings == [], f"{where}: {findings}"


async def test_a_bundle_purchase_unlocks_all_its_videos(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    creator = await person(pg, "Mira", creator=True)
    first = await video_of(pg, creator.id, "Knots, part one", 300)
    second = await video_of(pg, creator.id, "Knots, part two", 300)
    offers = pg.get(OffersService)
    bundle = await offers.create_bundle(creator.id, "Sailing knots", "The whole course.", "450")
    for video in (first, second):
        await offers.add_video(creator.id, bundle.public_id, video.public_id)
    viewer = await person(pg, "Sam")
    await fund(pg, viewer.id, 1000)
    await context.add_init_script(path=AXE)
    await log_in(context, live_server, await session_token(pg, viewer))

    page = await context.new_page()
    await page.goto(f"/v/{first.public_id}")
    callout = page.get_by_test_id("bundle-callout")
    await expect(callout).to_contain_text("Sailing knots")
    await expect(callout.get_by_test_id("bundle-saving")).to_have_text("saving 150 points (25%)")
    await assert_accessible(page, "video page with a bundle")
    await callout.get_by_test_id("bundle-link").click()
    await expect(page.get_by_test_id("bundle-title")).to_have_text("Sailing knots")
    await expect(page.get_by_test_id("bundle-video")).to_have_count(2)
    await expect(page.get_by_test_id("bundle-price")).to_have_text("450")
    await assert_accessible(page, "bundle page")
    await page.get_by_test_id("buy-bundle").click()
    await expect(page.get_by_test_id("bundle-bought")).to_be_visible()
    await expect(page.get_by_test_id("balance-pill")).to_have_text("550")
    await assert_accessible(page, "bundle page after buying")
    for video in (first, second):
        await page.goto(f"/v/{video.public_id}")
        await expect(page.get_by_test_id("player")).to_be_visible()
        await expect(page.get_by_test_id("access-until")).to_have_text("You own this video for life.")
    assert await balances(pg, viewer.id, creator.id) == (550, 450 - 45, 45)

    # The creator's pages: the bundle editor and the studio list with its forms.
    await context.clear_cookies()
    await log_in(context, live_server, await session_token(pg, creator))
    await page.goto(f"/studio/offers/bundles/{bundle.public_id}")
    await expect(page.get_by_test_id("bundle-item")).to_have_count(2)
    await assert_accessible(page, "bundle editor")
    await page.goto("/studio/offers")
    await page.get_by_test_id("create-code").click()  # an empty form: inline errors, nothing made
    await expect(page.locator(".field-error").first).to_be_visible()
    await assert_accessible(page, "studio offers with errors")
    await page.goto("/studio/dashboard")
    await expect(page.get_by_test_id("bundles-sold")).to_have_text("1")


async def test_a_code_lowers_the_price_shown_and_charged(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    creator = await person(pg, "Mira", creator=True)
    video = await video_of(pg, creator.id, "Harbour lights", 400)
    await pg.get(OffersService).create_code(creator.id, "HARBOUR", "points", "100", f"video:{video.public_id}", "5", "")
    viewer = await person(pg, "Sam")
    await fund(pg, viewer.id, 500)
    await context.add_init_script(path=AXE)
    await log_in(context, live_server, await session_token(pg, viewer))

    page = await context.new_page()
    await page.goto(f"/v/{video.public_id}")
    await expect(page.get_by_test_id("offer-lifetime")).to_contain_text("400")
    await page.get_by_test_id("promo-input").fill("nope")
    await page.get_by_test_id("promo-apply").click()
    await expect(page.get_by_test_id("promo-error")).to_contain_text("That code does not exist.")
    await assert_accessible(page, "video page with a refused code")
    await page.get_by_test_id("promo-input").fill("harbour")  # codes are case-insensitive
    await page.get_by_test_id("promo-apply").click()
    await expect(page.get_by_test_id("promo-applied")).to_contain_text("HARBOUR: 100 points off")
    offer = page.get_by_test_id("code-offer-lifetime")
    await expect(offer).to_contain_text("300")
    await assert_accessible(page, "video page with a code applied")
    await offer.click()
    await expect(page.get_by_test_id("unlocked")).to_be_visible()
    await expect(page.get_by_test_id("player")).to_be_visible()
    await expect(page.get_by_test_id("balance-pill")).to_have_text("200")
    assert await balances(pg, viewer.id, creator.id) == (200, 300 - 30, 30)
