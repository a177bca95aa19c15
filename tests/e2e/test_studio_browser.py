"""A creator uploads a real clip in the studio page and watches its tile reach Ready, live."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import BrowserContext, expect

from tests.support.browser import sign_up_in_browser
from tests.support.media import make_clip

pytestmark = pytest.mark.e2e

# Records every state a tile shows, so the test can tell the tile moved live (not by a reload).
WATCH_TILES = """
window.__studioMarker = "same page";
window.__tileStates = [];
new MutationObserver(() => {
  for (const tile of document.querySelectorAll('[data-testid="video-tile"]')) {
    const state = tile.dataset.state;
    if (window.__tileStates[window.__tileStates.length - 1] !== state) window.__tileStates.push(state);
  }
}).observe(document.getElementById("tiles"), {childList: true, subtree: true, attributes: true});
"""


async def test_a_creator_uploads_a_clip_and_sees_its_tile_reach_ready_without_reloading(
    context: BrowserContext, live_worker: None, tmp_path: Path
) -> None:
    clip = make_clip(tmp_path / "first-film.mp4", seconds=2.0)
    page = await context.new_page()
    await sign_up_in_browser(page, "maker@example.com", "analytical engine")
    await page.get_by_role("button", name="Become a creator").click()
    await page.get_by_role("link", name="Studio", exact=True).click()
    await expect(page).to_have_url("/studio")
    await expect(page.get_by_text("No videos yet")).to_be_visible()

    await page.evaluate(WATCH_TILES)
    await page.get_by_role("button", name="Create video").click()
    await expect(page.get_by_text("Give your video a title.")).to_be_visible()
    await page.get_by_label("Title").fill("My first film")
    await page.get_by_role("button", name="Create video").click()

    panel = page.locator("#source-form")
    await expect(panel).to_be_visible()
    tile = page.get_by_test_id("video-tile").filter(has_text="My first film")
    await expect(tile.get_by_test_id("state")).to_have_text("Draft")
    await expect(page.get_by_text("No videos yet")).to_have_count(0)

    await panel.get_by_label("Video file").set_input_files(clip)
    await panel.get_by_role("button", name="Upload", exact=True).click()
    await expect(panel.locator('[data-role="progress"]')).to_be_visible()
    await expect(panel.locator('[data-role="percent"]')).to_have_text("100%")
    await expect(panel.get_by_text("Uploaded.")).to_be_visible()

    await expect(tile.get_by_test_id("state")).to_have_text("Ready", timeout=90_000)
    assert await page.evaluate("window.__studioMarker") == "same page"
    states = await page.evaluate("window.__tileStates")
    assert states[-1] == "ready"
    assert "converting" in states, states
    await expect(tile.locator("img")).to_be_visible()  # the pipeline's cover frame
