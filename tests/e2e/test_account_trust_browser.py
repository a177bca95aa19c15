"""Accounts a stranger can trust, in a real Chromium: verify from the outbox before buying, a password
change logs out the other browser, and a forgotten password is reset from its mailed link."""

from __future__ import annotations

import re

import pytest
from injector import Injector
from playwright.async_api import Browser, BrowserContext, expect

from core.db import Database
from features.accounts.service import AccountService
from tests.support.browser import sign_up_in_browser, verify_from_outbox

pytestmark = pytest.mark.e2e


async def test_sign_up_verify_from_the_outbox_buy_then_change_the_password_and_the_other_browser_is_out(
    context: BrowserContext, chromium: Browser, live_server: str
) -> None:
    page = await context.new_page()
    await sign_up_in_browser(page, "careful@example.com", "slow and steady", verified=False)

    await page.goto("/wallet")
    notice = page.get_by_test_id("verify-notice")
    await expect(notice).to_contain_text("Confirm your e-mail address to buy points")
    await page.get_by_test_id("buy-p550").click()
    await expect(page.get_by_text("Please confirm your e-mail address first")).to_be_visible()
    await page.goto("/wallet")
    await page.get_by_role("button", name="Send the link again").click()
    await expect(page.get_by_text("We mailed a new link to careful@example.com")).to_be_visible()

    await verify_from_outbox(page, lands_on="/wallet")  # the link asked for on the wallet leads back to it
    await expect(page.get_by_text("careful@example.com is confirmed")).to_be_visible()
    await expect(page.get_by_test_id("verify-notice")).to_have_count(0)
    await page.get_by_test_id("buy-p550").click()
    await expect(page).to_have_url(re.compile(r"/sandbox-pay/checkout/sbp_"))
    await page.get_by_role("button", name="Pay $5.00").click()
    await expect(page.get_by_text("550 points added.")).to_be_visible()

    laptop = await chromium.new_context(base_url=live_server)
    try:
        other = await laptop.new_page()
        await other.goto("/login")
        await other.get_by_label("E-mail").fill("careful@example.com")
        await other.get_by_label("Password").fill("slow and steady")
        await other.get_by_role("button", name="Log in").click()
        await expect(other).to_have_url("/me")

        await page.goto("/me/sessions")
        await expect(page.get_by_test_id("session-row")).to_have_count(2)
        await expect(page.get_by_text("this browser")).to_have_count(1)

        await page.goto("/me")
        await page.get_by_label("Current password", exact=True).fill("not my password")
        await page.get_by_label("New password").fill("steadier than ever")
        await page.get_by_role("button", name="Change password").click()
        await expect(page.get_by_text("That is not your current password.")).to_be_visible()
        await other.reload()
        await expect(other).to_have_url("/me")  # a wrong current password changed nothing

        await page.get_by_label("Current password", exact=True).fill("slow and steady")
        await page.get_by_label("New password").fill("steadier than ever")
        await page.get_by_role("button", name="Change password").click()
        await expect(page.get_by_text("Your password is changed. We logged out 1 other session.")).to_be_visible()

        await other.reload()
        await expect(other).to_have_url(re.compile(r"/login\?next=/me"))
        await page.goto("/me/sessions")
        await expect(page.get_by_test_id("session-row")).to_have_count(1)
        await page.goto("/wallet")
        await expect(page.get_by_test_id("wallet-balance")).to_have_text("550")
    finally:
        await laptop.close()


async def test_forgot_password_then_reset_from_the_mailed_link_then_log_in(
    context: BrowserContext, pg: Injector
) -> None:
    accounts = pg.get(AccountService)
    user = await accounts.sign_up("forgetful@example.com", "what was it again")
    await accounts.mark_email_verified(user.id)

    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_role("link", name="Forgot your password?").click()
    await expect(page).to_have_url("/forgot-password")
    await page.get_by_label("E-mail").fill("forgetful@example.com")
    await page.get_by_role("button", name="Mail me a reset link").click()
    await expect(page.get_by_test_id("forgot-answer")).to_contain_text("If an account uses that address")

    # Logged out, the person reads their own mailbox; here the outbox table stands for it.
    link = None
    for _ in range(50):
        body = await pg.get(Database).fetchval(
            "SELECT text_body FROM outbox_mail WHERE to_normalized = 'forgetful@example.com' ORDER BY id DESC LIMIT 1"
        )
        found = re.search(r"/reset-password\?token=[A-Za-z0-9_-]+", body or "")  # on this test server's port
        if found:
            link = found.group(0)
            break
        await page.wait_for_timeout(100)
    assert link is not None, "no reset mail"

    await page.goto(link)
    await page.get_by_label("New password").fill("password")
    await page.get_by_role("button", name="Set the new password").click()
    await expect(page.get_by_text("most common passwords")).to_be_visible()
    await page.get_by_label("New password").fill("written down this time")
    await page.get_by_role("button", name="Set the new password").click()
    await expect(page).to_have_url("/login")
    await expect(page.get_by_text("Your password is changed")).to_be_visible()

    await page.goto(link)
    await expect(page.get_by_text("This link is not valid")).to_be_visible()

    await page.goto("/login")
    await page.get_by_label("E-mail").fill("forgetful@example.com")
    await page.get_by_label("Password").fill("written down this time")
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url("/me")
