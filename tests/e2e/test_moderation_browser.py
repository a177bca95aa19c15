"""Moderation in a real Chromium: a viewer reports a video, staff take it down, the buyer's wallet
shows the refund, the creator gets the mail, the watch page says the video was removed; a suspended
creator cannot log in."""

from __future__ import annotations

import os

import pytest
from injector import Injector
from playwright.async_api import Browser, BrowserContext, expect

from core.web import SESSION_COOKIE
from features.notifications.service import NotificationService
from tests.support.videos import (
    PASSWORD,
    add_synthetic_video,
    balances,
    fund,
    person,
    price_and_publish,
    session_token,
    staff_person,
)

pytestmark = pytest.mark.e2e


async def logged_in(chromium: Browser, live_server: str, token: str) -> BrowserContext:
    ctx = await chromium.new_context(base_url=live_server)
    ctx.set_default_timeout(15_000)
    await ctx.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": live_server, "httpOnly": True}])
    return ctx


async def test_a_report_leads_to_a_take_down_a_refund_a_mail_and_a_suspension(
    context: BrowserContext, chromium: Browser, live_server: str, pg: Injector
) -> None:
    creator = await person(pg, "Mira", creator=True)
    made = (await add_synthetic_video(pg, creator.id, title="Harbour lights")).video
    video = await price_and_publish(pg, creator.id, made, rent_day=50, rent_month=None, lifetime=None)
    viewer = await person(pg, "Sam")
    await fund(pg, viewer.id, 200)
    staff = await staff_person(pg)

    watcher = await logged_in(chromium, live_server, await session_token(pg, viewer))
    desk = await logged_in(chromium, live_server, await session_token(pg, staff))
    own = await logged_in(chromium, live_server, await session_token(pg, creator))
    try:
        # The viewer rents the video with one click, then reports it.
        page = await watcher.new_page()
        await page.goto(f"/v/{video.public_id}")
        await page.get_by_test_id("offer-rent_day").click()
        await expect(page.get_by_test_id("access-until")).to_be_visible()
        assert await balances(pg, viewer.id, creator.id) == (150, 45, 5)
        await page.get_by_test_id("report-video").click()
        await expect(page).to_have_url(f"/report/video/{video.public_id}")
        await page.get_by_label("Scam or fraud").check()
        await page.get_by_label("Details").fill("Asks viewers for their card numbers")
        await page.get_by_role("button", name="Send report").click()
        thanks = page.get_by_role("status").filter(has_text="Thank you")  # not the page's live announcer
        await expect(thanks).to_contain_text("Our moderators will look at your report")

        # Staff find it in the queue and take the video down.
        staff_page = await desk.new_page()
        await staff_page.goto("/staff/reports")
        await staff_page.get_by_role("link", name="Harbour lights").click()
        await expect(staff_page.locator("#case-reports")).to_contain_text("Asks viewers for their card numbers")
        await staff_page.get_by_label("Reason (mailed to the creator)").fill("Scam: asks for card numbers")
        await staff_page.get_by_role("button", name="Take the video down").click()
        await expect(staff_page.get_by_text("refunded 1 purchase (50 points)")).to_be_visible()

        # The buyer's wallet shows the refund; the watch page says the video was removed.
        await page.goto("/wallet")
        await expect(page.get_by_text("Moderation refund: Harbour lights")).to_be_visible()
        assert await balances(pg, viewer.id, creator.id) == (200, 0, 0)
        response = await page.goto(f"/v/{video.public_id}")
        assert response is not None
        assert response.status == 410
        await expect(page.get_by_text("This video was removed by Hypha's moderators.")).to_be_visible()

        # The creator gets the mail (the outbox page): sent by this call, or already by the session's worker
        # (tests/e2e/conftest.py `live_worker`, started by an earlier test) if its minute cron came first;
        # the deliveries keep it to one mail either way, and the outbox below is what the creator sees.
        await pg.get(NotificationService).process_new_events()
        creator_page = await own.new_page()
        await creator_page.goto("/outbox")
        mail = creator_page.get_by_test_id("mail").filter(has_text="Your video was taken down: Harbour lights")
        await expect(mail).to_have_count(1)

        # Staff suspend the creator: signed out at once, and log-in is refused with a message.
        await staff_page.goto(f"/staff/reports/creator/{creator.id}")
        await staff_page.get_by_label("Reason (mailed to the person)").fill("Repeated scams")
        await staff_page.get_by_role("button", name="Suspend the account").click()
        await expect(staff_page.get_by_text("Suspended Mira")).to_be_visible()
        await creator_page.goto("/studio")
        await expect(creator_page).to_have_url("/login?next=/studio")
        await creator_page.get_by_label("E-mail").fill(creator.email)
        await creator_page.get_by_label("Password").fill(PASSWORD)
        await creator_page.get_by_role("button", name="Log in").click()
        await expect(creator_page.get_by_role("alert")).to_contain_text("This account is suspended")
        await expect(creator_page.get_by_role("navigation").get_by_role("link", name="Log in")).to_be_visible()

        await staff_page.goto("/staff/audit")
        await expect(staff_page.get_by_text("Took the video down")).to_be_visible()
        await expect(staff_page.get_by_text("Suspended the account")).to_be_visible()
        if os.environ.get("HYPHA_SCREENSHOTS"):
            await staff_page.screenshot(path=os.environ["HYPHA_SCREENSHOTS"] + "/audit.png", full_page=True)
    finally:
        for ctx in (watcher, desk, own):
            await ctx.close()
