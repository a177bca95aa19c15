"""Memberships in a real Chromium: a creator sets up a tier on the studio page; a viewer joins in one
click on a video the tier includes and watches it (hls.js, the real key); a renewal run with a moved
clock charges once and shows in the viewer's statement; a viewer with too few points lapses, keeps
access through the grace period and loses it after. axe finds nothing serious on the pages involved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from injector import Injector
from playwright.async_api import BrowserContext, Page, expect

from core.clock import FrozenClock
from core.db import Database
from core.web import SESSION_COOKIE
from features.ledger.model import AccountRef
from features.ledger.service import LedgerService
from features.memberships.service import MembershipService
from features.offers.service import OffersService
from tests.support.browser import settle
from tests.support.memberships import service_at
from tests.support.videos import fund, person, price_and_publish, session_token, transcode_video

pytestmark = pytest.mark.e2e

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21aa", "wcag22aa"]


async def log_in(context: BrowserContext, base_url: str, token: str) -> None:
    await context.clear_cookies()
    await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": base_url, "httpOnly": True}])


async def serious_axe_findings(page: Page) -> list[str]:
    await settle(page)
    await page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")
    result: dict[str, Any] = await page.evaluate(
        """async (tags) => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
            return {v: r.violations.map(v => ({
                id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))
            }))};
        }""",
        TAGS,
    )
    return [f"{v['id']} {v['nodes'][:3]}" for v in result["v"] if v["impact"] in ("serious", "critical")]


async def plays(page: Page) -> None:
    player = page.locator("video.hls-player")
    await player.evaluate("video => { video.muted = true; return video.play().catch(() => null); }")
    await page.wait_for_function(
        "() => { const v = document.querySelector('video.hls-player'); return v && v.currentTime > 1; }",
        timeout=15_000,
    )


async def test_a_creator_sets_up_a_tier_a_viewer_joins_in_one_click_watches_renews_and_another_lapses(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    creator = await person(pg, "Mira", creator=True)
    video = await transcode_video(pg, creator.id, title="Harbour lights", seconds=4.0)
    await price_and_publish(pg, creator.id, video, rent_day=50, rent_month=200, lifetime=None)

    # axe through the DevTools protocol, so the pages' own Content-Security-Policy stays in force.
    await context.add_init_script(path=AXE)
    # The creator sets up a tier: a mistake first (inline, 422), then the tier.
    await log_in(context, live_server, await session_token(pg, creator))
    page = await context.new_page()
    await page.goto("/studio/memberships")
    await page.get_by_test_id("tier-name").last.fill("Harbour club")
    await page.get_by_test_id("tier-price").last.fill("0")
    await page.get_by_test_id("create-tier").click()
    await expect(page.get_by_text("Enter a monthly price from 1 to 100,000 points.")).to_be_visible()
    await page.get_by_test_id("tier-price").last.fill("120")
    await page.get_by_test_id("create-tier").click()
    await expect(page.get_by_test_id("tier")).to_have_count(1)
    await expect(page.get_by_test_id("tier").first).to_contain_text("Harbour club")
    assert await serious_axe_findings(page) == []

    # A viewer joins with one click on the video page and watches it.
    viewer = await person(pg, "Sam")
    await fund(pg, viewer.id, 300)
    await log_in(context, live_server, await session_token(pg, viewer))
    await page.goto(f"/v/{video.public_id}")
    await expect(page.get_by_test_id("locked")).to_be_visible()
    join = page.get_by_test_id("join-tier")
    await expect(join).to_contain_text("120")
    await expect(join).to_contain_text("pts / month")
    assert await serious_axe_findings(page) == []
    await join.click()
    await expect(page.get_by_test_id("included-in-membership")).to_have_text("Included in your membership.")
    await expect(page.get_by_test_id("offers")).to_have_count(0)  # no prices for a member
    await expect(page.get_by_test_id("membership-status")).to_contain_text("Renews on")
    await expect(page.get_by_test_id("balance-pill")).to_have_text("180")
    await plays(page)
    assert await serious_axe_findings(page) == []

    # The renewal cron a month later (a moved clock), run twice: one charge, in the statement.
    later = FrozenClock(datetime.now(UTC) + timedelta(days=32))
    assert (await service_at(pg, later).run_renewals())["renew"] == 1
    assert (await service_at(pg, later).run_renewals())["renew"] == 0
    await page.goto("/wallet")
    await expect(page.get_by_text("Membership renewal: Harbour club — Mira")).to_have_count(1)
    await expect(page.get_by_text("Membership join: Harbour club — Mira")).to_have_count(1)
    assert await pg.get(LedgerService).balance(AccountRef.wallet(viewer.id)) == 60

    # Another viewer joins on the creator's page with just enough for one month.
    short = await person(pg, "Kim")
    await fund(pg, short.id, 130)
    await log_in(context, live_server, await session_token(pg, short))
    await page.goto(f"/c/{creator.id}")
    await page.get_by_test_id("join-tier").click()
    await expect(page.get_by_test_id("membership-notice")).to_contain_text("You are now a member")
    assert await serious_axe_findings(page) == []
    # The renewal finds 10 points: it lapses, access goes on through the grace period...
    at_end = FrozenClock(datetime.now(UTC) + timedelta(days=32))
    assert (await service_at(pg, at_end).run_renewals())["lapsed"] == 1
    await page.goto(f"/v/{video.public_id}")
    await expect(page.get_by_test_id("included-in-membership")).to_be_visible()
    await expect(page.get_by_test_id("membership-status")).to_contain_text("could not be paid")
    # ... and ends after it: the video is locked again, and the wallet never went below zero.
    after_grace = FrozenClock(datetime.now(UTC) + timedelta(days=32 + 4))
    assert (await service_at(pg, after_grace).run_renewals())["end"] == 1
    await page.goto(f"/v/{video.public_id}")
    await expect(page.get_by_test_id("locked")).to_be_visible()
    await expect(page.get_by_test_id("join-tier")).to_be_visible()
    assert await pg.get(LedgerService).balance(AccountRef.wallet(short.id)) == 10
    mails = await pg.get(Database).fetch(
        "SELECT data->>'state' AS state FROM event_log WHERE name = 'membership' AND topic = $1 ORDER BY id",
        f"user:{short.id}",
    )
    assert [m["state"] for m in mails] == ["LAPSED", "ENDED"]  # mailed by notifications


async def test_a_promo_code_lowers_a_tiers_first_month_in_the_panel_and_the_click_charges_that(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    creator = await person(pg, "Ines", creator=True)
    tier = await pg.get(MembershipService).create_tier(
        creator.id, name="Darkroom club", price="100", all_videos=True, video_ids=[]
    )
    await pg.get(OffersService).create_code(creator.id, "WELCOME", "percent", "30", f"tier:{tier.id}", "5", "")
    viewer = await person(pg, "Noor")
    await fund(pg, viewer.id, 300)
    await context.add_init_script(path=AXE)
    await log_in(context, live_server, await session_token(pg, viewer))
    page = await context.new_page()
    await page.goto(f"/c/{creator.id}")
    box = page.get_by_label("Promo code for the first month")
    await box.fill("nope")
    await page.get_by_test_id("tier-promo-apply").click()
    await expect(page.get_by_test_id("tier-promo-error")).to_contain_text("That code does not exist")
    assert await serious_axe_findings(page) == []
    await page.get_by_label("Promo code for the first month").fill("welcome")
    await page.get_by_test_id("tier-promo-apply").click()
    await expect(page.get_by_test_id("tier-promo-applied")).to_contain_text("70 points, then 100 a month")
    join = page.get_by_test_id("join-tier")
    await expect(join).to_contain_text("70")
    await expect(join).to_contain_text("pts the first month")
    assert await serious_axe_findings(page) == []
    await join.click()
    await expect(page.get_by_test_id("membership-notice")).to_contain_text("You are now a member")
    await expect(page.get_by_test_id("membership-status")).to_contain_text("for 100 points")  # the renewal
    assert await pg.get(LedgerService).balance(AccountRef.wallet(viewer.id)) == 230
    await page.goto("/wallet")
    await expect(page.get_by_text("Membership join: Darkroom club — Ines")).to_have_count(1)
