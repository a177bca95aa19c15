"""A creator takes their library away in a real Chromium: the export page shows each video's IPFS root
with a copy button, and the CAR downloads read back with @ipld/car to that root."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from injector import Injector
from playwright.async_api import BrowserContext, expect

from core.web import SESSION_COOKIE
from features.portability.service import PortabilityService
from tests.support.first_run import ensure_npm_reference
from tests.support.videos import add_synthetic_video, person, price_and_publish, session_token

pytestmark = pytest.mark.e2e
REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference" / "ipfs-only-hash"


def car_roots(path: Path) -> list[str]:
    node = ensure_npm_reference(REFERENCE_DIR)
    result = subprocess.run(
        [node, str(REFERENCE_DIR / "car.mjs"), str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    read = json.loads(result.stdout)
    assert read["reachable"] == read["blocks"]
    return list(read["roots"])


async def test_a_creator_copies_a_root_and_downloads_cars_that_read_back(
    context: BrowserContext, live_server: str, pg: Injector, tmp_path: Path
) -> None:
    creator = await person(pg, "Mira", creator=True)
    first = await add_synthetic_video(pg, creator.id, title="Harbour lights")
    second = await add_synthetic_video(pg, creator.id, title="Night ferry")
    await price_and_publish(pg, creator.id, first.video)
    portability = pg.get(PortabilityService)
    roots = [await portability.root_of(first.video), await portability.root_of(second.video)]
    token = await session_token(pg, creator)
    await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": live_server, "httpOnly": True}])
    await context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server)
    page = await context.new_page()

    await page.goto("/studio")
    await page.get_by_test_id("studio-export-link").click()
    await expect(page).to_have_url(f"{live_server}/studio/export")
    rows = page.get_by_test_id("export-video")
    await expect(rows).to_have_count(2)
    row = rows.filter(has_text="Harbour lights")
    await expect(row.get_by_test_id("ipfs-root")).to_have_value(roots[0])
    await row.get_by_role("button", name="Copy the IPFS root of Harbour lights").click()
    await expect(row.locator("[data-copy-status]")).to_have_text(f"IPFS root copied: {roots[0]}")
    assert await page.evaluate("navigator.clipboard.readText()") == roots[0]

    async with page.expect_download() as one:
        await row.get_by_test_id("export-video-car").click()
    download = await one.value
    assert download.suggested_filename == f"hypha-{first.video.public_id}.car"
    await download.save_as(tmp_path / "one.car")
    assert car_roots(tmp_path / "one.car") == [roots[0]]

    async with page.expect_download() as everything:
        await page.get_by_test_id("export-library-car").click()
    await (await everything.value).save_as(tmp_path / "library.car")
    assert car_roots(tmp_path / "library.car") == roots  # oldest first, as in the manifest

    await page.set_viewport_size(
        {"width": 390, "height": 844}
    )  # on a phone the roots wrap, the page does not scroll sideways
    await page.reload()
    await expect(rows).to_have_count(2)
    overflow = await page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
