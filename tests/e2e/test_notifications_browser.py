"""Reading mail in the outbox, in a real Chromium."""

from __future__ import annotations

import os

import pytest
from injector import Injector
from playwright.async_api import BrowserContext, expect

from core.db import Database
from core.postgres import PostgresEventBus
from features.notifications.service import NotificationService
from tests.support.browser import sign_up_in_browser

pytestmark = pytest.mark.e2e


async def test_a_user_opens_the_mail_link_and_expands_a_mail_to_read_it(context: BrowserContext, pg: Injector) -> None:
    page = await context.new_page()
    await sign_up_in_browser(page, "ada@example.com", "analytical engine")

    db = pg.get(Database)
    ada = await db.fetchval("SELECT id FROM users WHERE email_normalized = 'ada@example.com'")
    bus = PostgresEventBus(db)
    await bus.publish(
        f"user:{ada}", "purchase", {"points": 550, "amount_minor": 500, "currency": "USD", "pack": "Medium"}
    )
    await bus.publish(f"user:{ada}", "tip", {"amount": 50, "from_name": "Grace", "message": "Loved the ending!"})
    assert await pg.get(NotificationService).process_new_events() == 2

    await page.get_by_role("link", name="Mail").click()
    await expect(page).to_have_url("/outbox")
    mails = page.get_by_test_id("mail")
    await expect(mails).to_have_count(3)  # and, oldest, the sign-up's "confirm your e-mail address"
    await expect(mails.first).to_contain_text("You received a tip of 50 points")
    body = mails.first.locator(".mail-text")
    await expect(body).to_be_hidden()
    await mails.first.locator("summary").click()
    await expect(body).to_be_visible()
    await expect(body).to_contain_text("> Loved the ending!")
    if os.environ.get("HYPHA_SCREENSHOTS"):
        await page.screenshot(path=os.environ["HYPHA_SCREENSHOTS"] + "/outbox.png", full_page=True)
