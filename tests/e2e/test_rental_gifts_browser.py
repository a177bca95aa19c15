"""In a real Chromium: the panel of a rental under RENTAL_CLOCK=first_play (before buying, waiting for the
first play, started), and gift points (send, the recipient signs up, confirms, sees the points); axe on
each page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from injector import Binder, Injector, InstanceProvider, Module
from playwright.async_api import Browser, BrowserContext, Page, expect

from core.clock import SystemClock
from core.db import Database
from core.di import bind_port, build_injector
from core.events import EventBus
from core.postgres import PostgresEventBus, PostgresRateLimiter
from core.ratelimit import RateLimiter
from core.settings import Settings
from core.uow import UnitOfWork
from core.web import SESSION_COOKIE
from features.bootstrap import features_for
from features.ledger.model import AccountRef
from features.ledger.service import LedgerService
from tests.support.browser import settle, sign_up_in_browser
from tests.support.live import live_app
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish, session_token

pytestmark = pytest.mark.e2e

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21aa", "wcag22aa"]


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    await settle(page)
    await page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")
    result: list[dict[str, Any]] = await page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
            return result.violations.map(
                v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}));
        }""",
        TAGS,
    )
    return result


class SharedDatabase(Module):
    def __init__(self, db: Database) -> None:
        self.db = db

    def configure(self, binder: Binder) -> None:
        binder.bind(Database, to=InstanceProvider(self.db))
        bind_port(binder, UnitOfWork, self.db)
        bind_port(binder, EventBus, PostgresEventBus(self.db))
        bind_port(binder, RateLimiter, PostgresRateLimiter(self.db, SystemClock()))


@pytest.fixture
async def first_play_server(pg: Injector, settings: Settings) -> AsyncIterator[tuple[Injector, str]]:
    chosen = msgspec.structs.replace(settings, rental_clock="first_play", rental_start_window_days=30)
    injector = build_injector(chosen, features_for(chosen), SharedDatabase(pg.get(Database)))
    async with live_app(chosen, injector) as url:
        yield injector, url


async def test_the_panel_says_when_a_first_play_rental_starts(
    chromium: Browser, first_play_server: tuple[Injector, str], pg: Injector
) -> None:
    injector, url = first_play_server
    creator = await person(injector, "Mira", creator=True)
    made = await add_synthetic_video(injector, creator.id)
    await price_and_publish(injector, creator.id, made.video, rent_day=50)
    viewer = await person(injector, "Sam")
    await fund(injector, viewer.id, 100)
    context = await chromium.new_context(base_url=url)
    context.set_default_timeout(15_000)
    try:
        await context.add_init_script(path=AXE)
        token = await session_token(injector, viewer)
        await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": url, "httpOnly": True}])
        page = await context.new_page()
        pid = made.video.public_id
        await page.goto(f"/v/{pid}")
        clock_note = page.get_by_test_id("rental-clock")
        await expect(clock_note).to_have_text(
            "A rental starts when you first press play, not when you unlock: start it within 30 days."
        )
        await expect(page.get_by_test_id("offer-rent_day")).to_contain_text("24 hours from your first play")
        assert await axe_violations(page) == []

        await page.get_by_test_id("offer-rent_day").click()
        await expect(page.get_by_test_id("unlocked")).to_be_visible()
        await expect(page.get_by_test_id("access-until")).to_contain_text(
            "Your 24-hour rental starts when you press play; start it by"
        )
        assert await axe_violations(page) == []

        # The player's first key request (the signal no player can skip) starts the clock.
        key = await page.request.get(f"{url}/v/{pid}/key")
        assert key.status == 200
        await page.reload()
        await expect(page.get_by_test_id("access-until")).to_have_text("Your rental has started: 24 hours left.")
        assert await axe_violations(page) == []
    finally:
        await context.close()


async def test_a_gift_reaches_a_new_member_once_their_address_is_confirmed(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    await context.add_init_script(path=AXE)
    alice = await person(pg, "Alice")
    await fund(pg, alice.id, 300)
    await context.add_cookies(
        [{"name": SESSION_COOKIE, "value": await session_token(pg, alice), "url": live_server, "httpOnly": True}]
    )
    page = await context.new_page()
    await page.goto("/wallet")
    panel = page.get_by_test_id("gifts-panel")
    await expect(panel).to_be_visible()  # loaded into the wallet page
    assert await axe_violations(page) == []
    await panel.get_by_label("Points").fill("120")
    await panel.get_by_label("Their e-mail address").fill("bea@example.com")
    await panel.get_by_label("Message").fill("Happy birthday!")
    await panel.get_by_test_id("send-gift").click()
    await expect(page.get_by_test_id("gift-sent")).to_be_visible()
    await expect(page.get_by_test_id("balance-pill")).to_have_text("180")
    await expect(page.get_by_test_id("gift-state").first).to_contain_text("Waiting for the recipient")
    assert await axe_violations(page) == []

    # Bad input: the form says why, nothing moves.
    await panel.get_by_label("Points").fill("5000")
    await panel.get_by_label("Their e-mail address").fill("bea@example.com")
    await panel.get_by_test_id("send-gift").click()
    await expect(page.locator("#e-amount")).to_be_visible()
    assert await axe_violations(page) == []
    assert await pg.get(LedgerService).balance(AccountRef.wallet(alice.id)) == 180

    # Bea signs up in another browser profile, confirms her address from the mail, and has the points.
    await context.clear_cookies()
    bea = await context.new_page()
    await sign_up_in_browser(bea, "bea@example.com", "correct horse battery", verified=True)
    await bea.goto("/wallet")
    await expect(bea.get_by_test_id("balance-pill")).to_have_text("120")
    await expect(bea.get_by_text("Gift received: from Alice")).to_be_visible()
    assert await axe_violations(bea) == []
    assert await pg.get(LedgerService).balance(AccountRef.gifts_pending()) == 0
