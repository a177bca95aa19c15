"""A person downloads a copy of their data and deletes their account, in a real Chromium against the
live server and saq worker; a creator with a payout on its way is told why they cannot delete yet."""

from __future__ import annotations

import csv
import io
import zipfile
from uuid import UUID

import pytest
from injector import Injector
from playwright.async_api import BrowserContext, Page, expect

from core.db import Database
from features.ledger.model import AccountRef
from features.ledger.service import LedgerService
from features.notifications.service import NotificationService
from features.payouts.service import PayoutService
from features.unlocks.service import UnlockService
from tests.support.browser import verify_from_outbox
from tests.support.privacy import earn
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish

pytestmark = pytest.mark.e2e

PASSWORD = "my data, my call"


async def sign_up(page: Page, email: str, name: str) -> None:
    await page.goto("/signup")
    await page.get_by_label("E-mail").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("Display name").fill(name)
    await page.get_by_role("button", name="Create account").click()
    await expect(page).to_have_url("/me")
    await verify_from_outbox(page)


async def test_export_downloads_a_zip_with_the_statement_then_deletion_refuses_the_next_log_in(
    context: BrowserContext, pg: Injector, live_worker: None
) -> None:
    page = await context.new_page()
    await sign_up(page, "iris.export@example.com", "Iris Export")
    db = pg.get(Database)
    iris: UUID = await db.fetchval("SELECT id FROM users WHERE email = 'iris.export@example.com'")
    creator = await person(pg, "Quay Studio", creator=True)
    made = await add_synthetic_video(pg, creator.id, title="Low tide")
    await price_and_publish(pg, creator.id, made.video)
    await fund(pg, iris, 300)
    await pg.get(UnlockService).unlock(iris, made.video.public_id, "rent_day", "browser-unlock-000001", 50)

    await page.get_by_role("link", name="Download your data").click()
    await expect(page).to_have_url("/me/export")
    await page.get_by_role("button", name="Prepare my data").click()
    await expect(page.get_by_text("We are preparing your data")).to_be_visible()
    row = page.locator("tr[data-status]").first
    # the saq worker builds the ZIP; the list, polled by htmx, shows it ready without a reload
    await expect(row).to_have_attribute("data-status", "READY", timeout=30_000)

    await pg.get(NotificationService).process_new_events()
    await page.goto("/outbox")
    await expect(page.get_by_text("Your data export is ready").first).to_be_visible()

    await page.goto("/me/export")
    async with page.expect_download() as waiting:
        await page.get_by_test_id("download-export").click()
    download = await waiting.value
    assert download.suggested_filename.endswith(".zip")
    archive = zipfile.ZipFile(await download.path())
    statement = list(csv.DictReader(io.StringIO(archive.read("money/wallet_statement.csv").decode())))
    assert [(r["kind"], r["amount"], r["memo"]) for r in statement] == [
        ("unlock", "-50", "Low tide"),
        ("purchase", "300", ""),
    ]
    assert b"iris.export@example.com" in archive.read("profile.json")

    await page.goto("/me")
    await page.get_by_role("link", name="Delete account").click()
    await expect(page).to_have_url("/me/delete")
    await expect(page.get_by_test_id("wallet-forfeit")).to_contain_text("250")
    await page.get_by_label("Your current password").fill("not it at all")
    await page.get_by_label("I understand").check()
    await page.get_by_role("button", name="Delete my account").click()
    await expect(page.get_by_text("That is not your current password")).to_be_visible()
    await page.get_by_label("Your current password").fill(PASSWORD)
    await page.get_by_label("I understand").check()
    await page.get_by_role("button", name="Delete my account").click()
    await expect(page).to_have_url("/")
    await expect(page.get_by_text("Your account was deleted")).to_be_visible()

    await page.goto("/me")
    await expect(page).to_have_url("/login?next=/me")  # logged out at once
    await page.get_by_label("E-mail").fill("iris.export@example.com")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_text("do not match an account")).to_be_visible()
    assert await pg.get(LedgerService).verify() == []
    assert await pg.get(LedgerService).balance(AccountRef.wallet(iris)) == 0


async def test_a_creator_with_a_payout_on_its_way_is_told_to_wait_and_nothing_changes(
    context: BrowserContext, pg: Injector
) -> None:
    page = await context.new_page()
    await sign_up(page, "wait.payout@example.com", "Waiting Creator")
    await page.get_by_role("button", name="Become a creator").click()
    await expect(page.get_by_text("You are now a creator")).to_be_visible()  # its redirect has landed
    db = pg.get(Database)
    me: UUID = await db.fetchval("SELECT id FROM users WHERE email = 'wait.payout@example.com'")
    await earn(pg, me, 2500, days_ago=8)
    await pg.get(PayoutService).request_payout(me, "browser-payout-0001")
    earnings_before = await pg.get(LedgerService).balance(AccountRef.earnings(me))

    await page.goto("/me/delete")
    await expect(page.get_by_test_id("delete-refused")).to_contain_text("A payout is on its way")
    await page.get_by_label("Your current password").fill(PASSWORD)
    await page.get_by_label("I understand").check()
    await page.get_by_role("button", name="Delete my account").click()
    await expect(page.get_by_test_id("delete-refused")).to_contain_text("nothing was changed")
    await page.goto("/me")
    await expect(page).to_have_url("/me")  # still logged in
    await expect(page.get_by_role("heading", name="Waiting Creator")).to_be_visible()
    assert await pg.get(LedgerService).balance(AccountRef.earnings(me)) == earnings_before
    assert await db.fetchval("SELECT count(*) FROM privacy_erasures") == 0
