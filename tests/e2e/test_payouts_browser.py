"""A creator asks for a payout in a real Chromium and watches the statement follow it to PAID.

The sandbox payout vendor settles a few seconds after the request; here the test plays that time
passing (settle_at moved to now, then the sandbox settle step runs, as its saq job would) and the
page's statement, polled by htmx, shows the payout paid without a reload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from injector import Injector
from playwright.async_api import BrowserContext, expect

from core.clock import FrozenClock
from core.db import Database
from features.ledger.adapters import PostgresLedgerRepository
from features.ledger.model import AccountRef, Leg
from features.ledger.service import LedgerService
from features.payouts.jobs import settle_and_apply
from features.payouts.sandbox import SandboxPayoutVendor
from features.payouts.service import PayoutService
from tests.support.browser import sign_up_in_browser

pytestmark = pytest.mark.e2e


async def test_a_creator_requests_a_payout_and_sees_it_paid_live(context: BrowserContext, pg: Injector) -> None:
    page = await context.new_page()
    await sign_up_in_browser(page, "maker@example.com", "paid at last")
    await page.get_by_role("button", name="Become a creator").click()
    await expect(page.get_by_role("link", name="Payouts")).to_be_visible()

    db = pg.get(Database)
    creator: UUID = await db.fetchval("SELECT id FROM users WHERE email = 'maker@example.com'")
    ledger = LedgerService(PostgresLedgerRepository(db), FrozenClock(datetime.now(UTC) - timedelta(days=8)))
    viewer = uuid4()
    await ledger.transfer("buy", "purchase", [Leg(AccountRef.vendor_clearing(), AccountRef.wallet(viewer), 2500)])
    await ledger.transfer("unlock", "unlock", [Leg(AccountRef.wallet(viewer), AccountRef.earnings(creator), 2500)])

    await page.get_by_role("link", name="Payouts").click()
    await expect(page).to_have_url("/studio/payouts")
    await expect(page.get_by_test_id("available")).to_have_text("2,500")
    await page.get_by_test_id("request-payout").click()
    await expect(page.get_by_text("is on its way")).to_be_visible()
    await expect(page.get_by_test_id("available")).to_have_text("0")
    row = page.locator("tr[data-payout]")
    await expect(row).to_have_attribute("data-state", "PROCESSING")
    await expect(page.get_by_test_id("request-payout")).to_be_disabled()

    await db.execute("UPDATE payout_sandbox_payouts SET settle_at = now() - interval '1 second'")
    assert await settle_and_apply(pg.get(SandboxPayoutVendor), pg.get(PayoutService)) == 1
    await expect(row).to_have_attribute("data-state", "PAID", timeout=10_000)  # polled, no reload
    await expect(row.get_by_text("$25.00")).to_be_visible()
