"""A viewer buys Points in a real Chromium, through the sandbox vendor's checkout page.

No worker is needed: the sandbox delivers its signed webhook right after the payer's click, from the
web process itself, through the app's own /webhooks/payments endpoint (the worker's sweep only
retries what could not be delivered then)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import BrowserContext, expect

from tests.support.browser import sign_up_in_browser

pytestmark = pytest.mark.e2e


async def test_a_viewer_buys_a_pack_and_sees_the_balance_change(context: BrowserContext) -> None:
    page = await context.new_page()
    await sign_up_in_browser(page, "shopper@example.com", "pack of points")

    await page.get_by_role("link", name="Wallet").click()
    await expect(page).to_have_url("/wallet")
    await expect(page.get_by_test_id("wallet-balance")).to_have_text("0")
    await expect(page.get_by_test_id("balance-pill")).to_have_text("0")

    await page.get_by_test_id("buy-p550").click()
    await expect(page).to_have_url(re.compile(r"/sandbox-pay/checkout/sbp_"))
    await expect(page.get_by_test_id("sandbox-amount")).to_have_text("$5.00")
    await page.get_by_role("button", name="Pay $5.00").click()

    await expect(page).to_have_url(re.compile(r"/wallet/return\?ref=sbp_"))
    await expect(page.get_by_text("550 points added.")).to_be_visible()
    await expect(page.get_by_test_id("new-balance")).to_have_text("550")
    await expect(page.get_by_test_id("balance-pill")).to_have_text("550")

    await page.get_by_role("link", name="Back to your wallet").click()
    await expect(page.get_by_test_id("wallet-balance")).to_have_text("550")
    await expect(page.get_by_role("cell", name="Bought 550 Hypha points")).to_be_visible()


async def test_a_canceled_checkout_takes_the_viewer_back_with_nothing_charged(context: BrowserContext) -> None:
    page = await context.new_page()
    await sign_up_in_browser(page, "browser@example.com", "just looking")
    await page.goto("/wallet")
    await page.get_by_test_id("buy-p100").click()
    await page.get_by_role("button", name="Cancel").click()
    await expect(page.get_by_text("Payment canceled. Nothing was charged.")).to_be_visible()
    await page.goto("/wallet")
    await expect(page.get_by_test_id("wallet-balance")).to_have_text("0")
