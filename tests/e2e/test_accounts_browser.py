"""A new user's first minutes, in a real Chromium."""

from __future__ import annotations

import pytest
from playwright.async_api import BrowserContext, expect

from tests.support.browser import verify_from_outbox

pytestmark = pytest.mark.e2e


async def test_sign_up_log_out_log_in_and_see_my_email(context: BrowserContext) -> None:
    page = await context.new_page()
    await page.goto("/")
    await page.get_by_role("link", name="Create a free account").click()

    await page.get_by_label("E-mail").fill("not-an-email")
    await page.get_by_label("Password").fill("short")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.locator(".field-error").first).to_be_visible()
    await expect(page.get_by_text("Enter a valid e-mail address")).to_be_visible()

    await page.get_by_label("E-mail").fill("ada@example.com")
    await page.get_by_label("Password").fill("analytical engine")
    await page.get_by_role("button", name="Create account").click()
    await expect(page).to_have_url("/me")
    await expect(page.get_by_test_id("account-email")).to_have_text("ada@example.com")
    await expect(page.get_by_test_id("verify-notice")).to_contain_text("We mailed a link to ada@example.com")

    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_text("You have logged out.")).to_be_visible()
    await page.goto("/me")
    await expect(page).to_have_url("/login?next=/me")

    await page.get_by_label("E-mail").fill("ada@example.com")
    await page.get_by_label("Password").fill("wrong password")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_text("do not match")).to_be_visible()

    await page.get_by_label("Password").fill("analytical engine")
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url("/me")
    await expect(page.get_by_test_id("account-email")).to_have_text("ada@example.com")

    await verify_from_outbox(page)
    await page.get_by_role("button", name="Become a creator").click()
    await expect(page.get_by_text("You are now a creator")).to_be_visible()
    await expect(page.locator(".badge", has_text="Creator")).to_be_visible()
