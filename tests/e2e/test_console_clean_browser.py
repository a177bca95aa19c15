"""The whole happy path in a real Chromium, as a new creator and a new viewer meet it, with the browser's
console watched throughout: sign up, create a video with subtitles, upload it, watch the tile reach
Ready, create a second video, price, publish, share; the viewer opens the link, signs up, buys points
at the sandbox vendor, comes back, unlocks, watches with subtitles, and tips. Not one console error
or uncaught exception on the way (CSP refusals, missing favicons, htmx target errors all count)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Error, Page, expect

from tests.support.browser import verify_from_outbox
from tests.support.media import make_clip

pytestmark = pytest.mark.e2e

# Every step label the tile shows while the video converts.
WATCH_STEPS = """
window.__steps = [];
new MutationObserver(() => {
  for (const step of document.querySelectorAll('[data-testid="video-tile"] [data-testid="step"]')) {
    const text = step.textContent.trim();
    if (window.__steps[window.__steps.length - 1] !== text) window.__steps.push(text);
  }
}).observe(document.getElementById("tiles"), {childList: true, subtree: true, characterData: true});
"""

PLAYING_WITH_SUBTITLES = """
() => {
  const video = document.querySelector("video.hls-player");
  if (!video) return false;
  const showing = [...video.textTracks].some((t) => t.mode !== "disabled" && t.cues && t.cues.length);
  return video.currentTime > 1.2 && showing;
}
"""


def watch_console(page: Page, problems: list[str], who: str) -> None:
    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"{who} {page.url}: console error: {message.text} @ {message.location}")

    def on_error(error: Error) -> None:
        problems.append(f"{who} {page.url}: uncaught: {error.message}")

    page.on("console", on_console)
    page.on("pageerror", on_error)


async def new_page(context: BrowserContext, problems: list[str], who: str) -> Page:
    page = await context.new_page()
    watch_console(page, problems, who)
    return page


def no_problems(problems: list[str]) -> Callable[[], None]:
    def check() -> None:
        assert problems == [], "\n".join(problems)

    return check


async def test_the_happy_path_logs_no_console_error(
    context: BrowserContext, chromium: Browser, live_server: str, live_worker: None, tmp_path: Path
) -> None:
    problems: list[str] = []
    clean = no_problems(problems)
    clip = make_clip(tmp_path / "harbour.mp4", width=640, height=360, seconds=2.0)
    subtitles = tmp_path / "harbour.en.srt"
    subtitles.write_text("1\n00:00:00,200 --> 00:00:01,800\nThe harbour at night\n")

    # The creator: sign up, become a creator, create a video with subtitles, upload it.
    page = await new_page(context, problems, "creator")
    await page.goto("/signup")
    await page.get_by_label("E-mail").fill("mira@example.com")
    await page.get_by_label("Password").fill("analytical engine")
    await page.get_by_role("button", name="Create account").click()
    await expect(page).to_have_url("/me")
    await verify_from_outbox(page)  # a confirmed address (issue 12)
    await page.get_by_role("button", name="Become a creator").click()
    await page.get_by_role("link", name="Studio", exact=True).click()
    await expect(page.get_by_test_id("dash-balance")).to_be_visible()
    await page.evaluate(WATCH_STEPS)

    await page.get_by_label("Title", exact=True).fill("Harbour lights")
    await page.get_by_role("button", name="Create video").click()
    panel = page.locator("#upload-panel")
    await panel.get_by_text("Subtitles and cover").click()
    await panel.get_by_label("Subtitle file (SRT or WebVTT)").set_input_files(subtitles)
    await panel.get_by_label("Language code").fill("en")
    await panel.get_by_label("Label").fill("English")
    await panel.get_by_role("button", name="Add subtitles").click()
    await expect(panel.get_by_test_id("subtitles")).to_contain_text("English")
    await panel.get_by_label("Video file").set_input_files(clip)
    await panel.get_by_role("button", name="Upload", exact=True).click()
    tile = page.get_by_test_id("video-tile").filter(has_text="Harbour lights")
    await expect(tile.get_by_test_id("state")).to_have_text("Ready", timeout=90_000)
    steps: list[str] = await page.evaluate("window.__steps")
    assert steps, "the tile showed no step"
    # A 640×360 source makes one video rendition: no step promises a 720p or 1080p one.
    assert not [s for s in steps if re.search(r"720p|1080p", s)], steps
    counts = {re.sub(r".*\(\d+/(\d+)\)$", r"\1", s) for s in steps if re.search(r"\(\d+/\d+\)$", s)}
    assert len(counts) == 1, steps  # the number of steps does not change under the creator's eyes

    # A second video: its tile goes in, with no htmx target error.
    await page.get_by_role("link", name="New video instead").click()
    await expect(page.locator("#new-video-form")).to_be_visible()
    await page.get_by_label("Title", exact=True).fill("Second take")
    await page.get_by_role("button", name="Create video").click()
    await expect(page.get_by_test_id("video-tile").filter(has_text="Second take")).to_be_visible()
    clean()

    # Price, publish, share.
    await tile.get_by_role("link", name="Set prices & publish").click()
    await page.get_by_label("Rent 24 h").fill("20")
    await page.get_by_test_id("save-pricing").click()
    await page.get_by_test_id("publish").click()
    await expect(page.get_by_test_id("video-state")).to_have_text("Published")
    link = await page.get_by_test_id("share-url").input_value()
    clean()

    # The viewer, in a browser of their own, from the shared link to a tip.
    viewer_context = await chromium.new_context(base_url=live_server)
    viewer_context.set_default_timeout(15_000)
    try:
        viewer = await new_page(viewer_context, problems, "viewer")
        await viewer.goto(link)
        await viewer.get_by_test_id("signup-rent_day").click()
        await viewer.get_by_label("E-mail").fill("sam@example.com")
        await viewer.get_by_label("Password").fill("harbour at night")
        await viewer.get_by_role("button", name="Create account").click()
        await expect(viewer).to_have_url(link)
        await verify_from_outbox(viewer, lands_on=link)  # the mailed link leads back to the video
        await viewer.get_by_test_id("buy-to-unlock").click()
        await viewer.get_by_test_id("buy-p100").click()
        await expect(viewer).to_have_url(re.compile(r"/sandbox-pay/checkout/sbp_"))
        await viewer.get_by_role("button", name=re.compile(r"^Pay ")).click()
        await viewer.get_by_role("link", name="Back to the video").click()
        await expect(viewer).to_have_url(link)
        await viewer.get_by_test_id("offer-rent_day").click()
        await expect(viewer.get_by_test_id("unlocked")).to_be_visible()
        player = viewer.locator("video.hls-player")
        await player.evaluate("video => { video.muted = true; return video.play().catch(() => null); }")
        await viewer.wait_for_function(PLAYING_WITH_SUBTITLES, timeout=20_000)
        await viewer.get_by_test_id("tip-10").click()
        await expect(viewer.get_by_test_id("tip-thanks")).to_contain_text("You tipped 10 points")
        await expect(viewer.get_by_test_id("balance-pill")).to_have_text("70")
    finally:
        await viewer_context.close()

    # The creator's studio heard the sale and the tip, live.
    await page.goto("/studio")
    await expect(page.get_by_test_id("dash-today")).to_contain_text("1 sale")
    await expect(page.get_by_test_id("dash-today")).to_contain_text("in 1 tip")
    clean()
