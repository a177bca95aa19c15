"""A creator over their storage quota: the studio's bar shows the usage, and the upload panel says
which quota refused the file and how much is used; nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from injector import Injector
from playwright.async_api import BrowserContext, expect

from core.db import Database
from features.studio.service import StudioService
from tests.support.browser import sign_up_in_browser
from tests.support.media import make_clip

pytestmark = pytest.mark.e2e


async def test_an_upload_past_the_quota_is_refused_in_the_panel_with_the_quota_and_the_usage(
    context: BrowserContext, pg: Injector, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "too-big.mp4", seconds=2.0)
    page = await context.new_page()
    await sign_up_in_browser(page, "full@example.com", "analytical engine")
    await page.get_by_role("button", name="Become a creator").click()
    await expect(page.get_by_text("You are now a creator")).to_be_visible()  # before leaving the page
    db = pg.get(Database)
    owner = await db.fetchval("SELECT id FROM users WHERE email = 'full@example.com'")
    await pg.get(StudioService).set_quota(owner, storage_bytes=clip.stat().st_size - 1, daily_upload_bytes=None)

    await page.goto("/studio")
    storage = page.get_by_role("progressbar", name="Storage")
    await expect(storage).to_have_attribute("aria-valuenow", "0")
    await page.get_by_label("Title").fill("Too big")
    await page.get_by_role("button", name="Create video").click()
    panel = page.locator("#source-form")
    await panel.get_by_label("Video file").set_input_files(clip)
    await panel.get_by_role("button", name="Upload", exact=True).click()

    alert = panel.get_by_role("alert")
    await expect(alert).to_contain_text("would exceed your storage quota")
    await expect(alert).to_contain_text("you use 0 bytes of")
    assert await db.fetchval("SELECT count(*) FROM tus_uploads") == 0
