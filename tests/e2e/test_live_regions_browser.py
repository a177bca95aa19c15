"""What axe cannot see, in a real Chromium: what a screen reader hears from the tiles that change by
themselves, the value of every progress bar, focus that shows, and targets of at least 24 × 24 px."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from injector import Injector
from playwright.async_api import Browser, BrowserContext, Page, expect

from core.pipeline import Progress
from core.web import SESSION_COOKIE
from features.studio.model import VideoState
from features.studio.service import StudioService
from features.unlocks.service import TipService, UnlockService
from tests.support.media import make_clip
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish, session_token

pytestmark = pytest.mark.e2e

# Everything the page's live region says, in order (its text is replaced for each announcement).
LISTEN = """
window.__heard = [];
new MutationObserver(() => {
  const text = document.getElementById("announcer").textContent.trim();
  if (text) window.__heard.push(text);
}).observe(document.getElementById("announcer"), {childList: true, characterData: true, subtree: true});
"""


async def log_in(context: BrowserContext, base_url: str, token: str) -> None:
    await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": base_url, "httpOnly": True}])


async def heard(page: Page) -> list[str]:
    said: list[str] = await page.evaluate("window.__heard")
    return said


async def test_the_studio_announces_a_new_state_a_sale_and_a_tip_once_each_and_never_a_progress_tick(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    creator = await person(pg, "Mira", creator=True)
    converting = (await add_synthetic_video(pg, creator.id, title="Night ferry", state=VideoState.CONVERTING)).video
    ready = (await add_synthetic_video(pg, creator.id, title="Harbour lights")).video
    viewer = await person(pg, "Sam")
    await fund(pg, viewer.id, 200)
    await log_in(context, live_server, await session_token(pg, creator))
    page = await context.new_page()
    await page.goto("/studio")
    region = page.locator("#announcer")
    await expect(region).to_have_attribute("role", "status")
    await expect(region).to_have_attribute("aria-live", "polite")
    await expect(page.get_by_test_id("dash-today")).to_be_visible()  # the live strip has loaded
    await page.evaluate(LISTEN)

    # Progress ticks move the bar, which says how far it is, and say nothing.
    bar = page.locator(f"#video-{converting.id}").get_by_role("progressbar")
    await expect(bar).to_have_accessible_name("Processing of “Night ferry”")
    studio = pg.get(StudioService)
    for percent, step in ((12.0, 1), (37.4, 2), (61.0, 3)):
        await studio.record_progress(converting, Progress("run", "Converting to 480p", step, 4, percent, 30.0))
        await expect(bar).to_have_attribute("aria-valuenow", str(round(percent)))
    await expect(bar).to_have_attribute("aria-valuemin", "0")
    await expect(bar).to_have_attribute("aria-valuemax", "100")
    await expect(bar).to_have_attribute("aria-valuetext", "61%, Converting to 480p (3 of 4), about 0:30 left")
    await page.wait_for_timeout(500)
    assert await heard(page) == []

    # A new state is news.
    await price_and_publish(pg, creator.id, ready, rent_day=50, rent_month=None, lifetime=None)
    await expect(page.locator(f"#video-{ready.id}")).to_have_attribute("data-state", "published")
    await page.wait_for_function("() => window.__heard.length >= 1")
    assert await heard(page) == ["“Harbour lights”: published"]

    # A sale and a tip, as a viewer makes them.
    await pg.get(UnlockService).unlock(viewer.id, ready.public_id, "rent_day", "live-region-unlock-01", "50")
    await page.wait_for_function("() => window.__heard.length >= 2")
    await pg.get(TipService).tip(viewer, ready.public_id, 10, "Lovely light", "live-region-tip-0001")
    await page.wait_for_function("() => window.__heard.length >= 3")
    await page.wait_for_timeout(500)
    assert await heard(page) == [
        "“Harbour lights”: published",
        "New sale. Today: 1 sale, 50 points sold.",
        "New tip: 10 points from Sam on Harbour lights: “Lovely light”",
    ]


async def test_the_upload_bar_is_a_progressbar_that_says_how_far_it_is_and_announces_the_end(
    context: BrowserContext, live_server: str, pg: Injector, tmp_path: Path
) -> None:
    creator = await person(pg, "Mira", creator=True)
    video = await pg.get(StudioService).create_video(creator.id, "First film")
    clip = make_clip(tmp_path / "first-film.mp4", seconds=1.0)
    await log_in(context, live_server, await session_token(pg, creator))
    page = await context.new_page()
    await page.goto(f"/studio/videos/{video.id}/upload")
    await page.evaluate(LISTEN)
    bar = page.locator("#source-form").get_by_role("progressbar", include_hidden=True)
    await expect(bar).to_have_attribute("aria-valuenow", "0")
    await page.evaluate(
        """() => { window.__values = [];
        const meter = document.querySelector('[data-role=meter]');
        new MutationObserver(() => window.__values.push(meter.getAttribute('aria-valuetext')))
          .observe(meter, {attributes: true, attributeFilter: ['aria-valuetext']}); }"""
    )
    await page.get_by_label("Video file").set_input_files(clip)
    await page.get_by_role("button", name="Upload", exact=True).click()
    await expect(bar).to_have_attribute("aria-valuenow", "100")
    await expect(bar).to_have_attribute("aria-valuetext", "100%, uploaded")
    await expect(bar).to_be_visible()
    await expect(bar).to_have_accessible_name("Upload progress")
    values: list[str] = await page.evaluate("window.__values")
    assert values[0].startswith("0%, 0 bytes of "), values  # "0%, 0 bytes of 99.1 KB uploaded"
    assert "100%, uploaded" in values[-1]
    await page.wait_for_function("() => window.__heard.join(' ').includes('Upload complete')")
    await page.wait_for_timeout(500)
    said = " ".join(await heard(page))
    # The end once, the tile's new states once each, and not one percentage on the way.
    assert said.count("Upload complete. The video's tile shows what happens next.") == 1, said
    assert said.count("“First film”: uploading") <= 1, said
    assert said.count("“First film”: waiting") <= 1, said
    assert "%" not in said, said


async def test_a_refused_file_is_announced_as_refused_and_never_as_an_upload_complete(
    context: BrowserContext, live_server: str, pg: Injector, tmp_path: Path
) -> None:
    """The tile said "rejected. This file is not a video…", then the upload form said "Upload complete":
    the last word a screen reader spoke read as a success."""
    creator = await person(pg, "Mira", creator=True)
    video = await pg.get(StudioService).create_video(creator.id, "Not a film")
    junk = tmp_path / "not-a-film.mp4"
    junk.write_bytes(b"this is no video at all " * 4000)
    await log_in(context, live_server, await session_token(pg, creator))
    page = await context.new_page()
    await page.goto(f"/studio/videos/{video.id}/upload")
    await page.evaluate(LISTEN)
    await page.get_by_label("Video file").set_input_files(junk)
    await page.get_by_role("button", name="Upload", exact=True).click()
    tile = page.get_by_test_id("video-tile").filter(has_text="Not a film")
    await expect(tile).to_have_attribute("data-state", "rejected")
    await expect(page.locator("#source-form [data-role=status]")).to_have_text(
        "Uploaded, but refused: the tile below says why."
    )
    await page.wait_for_timeout(500)
    said = " ".join(await heard(page))
    assert "rejected. This file is not a video" in said, said
    assert "Upload complete" not in said, said


# Keyboard focus must show: an outline of at least 2 px or a focus ring (box-shadow).
FOCUS_SHOWS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2;
  const ring = style.boxShadow && style.boxShadow !== 'none';
  return {what: el.outerHTML.slice(0, 80), shows: outline || !!ring};
}"""

# Targets a pointer must hit: every visible control but links inside running text (WCAG 2.5.8's
# inline exception). Returns those smaller than 24 × 24 CSS px.
SMALL_TARGETS = """() => {
  // (from the parent: a link that is itself small print, standing alone, is no link in running text)
  const text = 'p, li, td, dd, q, .help, .small, .muted, .flash';
  const inText = el => el.tagName === 'A' && el.parentElement.closest(text);
  const controls = 'a[href], button, input:not([type=hidden]), select, textarea, summary, [role=button]';
  return [...document.querySelectorAll(controls)]
    .filter(el => el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden' && !inText(el))
    .map(el => ({what: el.outerHTML.slice(0, 90), box: el.getBoundingClientRect()}))
    .filter(t => t.box.width < 24 || t.box.height < 24)
    .map(t => `${t.what} (${Math.round(t.box.width)}×${Math.round(t.box.height)})`);
}"""


@pytest.fixture
async def watch_pages(pg: Injector) -> dict[str, Any]:
    creator = await person(pg, "Mira", creator=True)
    viewer = await person(pg, "Sam")
    await fund(pg, viewer.id, 300)
    owned = (await add_synthetic_video(pg, creator.id, title="Tides at dawn")).video
    await price_and_publish(pg, creator.id, owned)
    locked = (await add_synthetic_video(pg, creator.id, title="Harbour lights")).video
    await price_and_publish(pg, creator.id, locked)
    await add_synthetic_video(pg, creator.id, title="Night ferry", state=VideoState.CONVERTING)
    await pg.get(UnlockService).unlock(viewer.id, owned.public_id, "rent_day", "target-size-unlock-01", "50")
    draft = await pg.get(StudioService).create_video(creator.id, "A draft with no file yet", "")
    return {
        "viewer": (
            await session_token(pg, viewer),
            [
                "/",
                "/search",
                f"/v/{locked.public_id}",
                f"/v/{owned.public_id}",
                f"/c/{creator.id}",
                "/wallet",
                "/me",
                "/me/favourites",
                "/me/delete",
            ],
        ),
        "creator": (
            await session_token(pg, creator),
            [
                "/studio",
                f"/studio/videos/{draft.id}/upload",
                "/studio/dashboard",
                "/studio/analytics",
                "/studio/payouts",
                f"/v/{locked.public_id}/pricing",
            ],
        ),
        "anon": (None, ["/", "/login", "/signup", f"/v/{locked.public_id}"]),
    }


@pytest.mark.parametrize("width", [1280, 390, 320])
async def test_every_control_is_at_least_24_px_and_shows_keyboard_focus(
    chromium: Browser, live_server: str, watch_pages: dict[str, Any], width: int
) -> None:
    small: list[str] = []
    unfocused: list[str] = []
    for token, urls in watch_pages.values():
        context = await chromium.new_context(base_url=live_server, viewport={"width": width, "height": 844})
        try:
            if token:
                await log_in(context, live_server, token)
            page = await context.new_page()
            for url in urls:
                await page.goto(url)
                await page.wait_for_function("() => !document.querySelector('.htmx-request')")
                small += [f"{url}: {target}" for target in await page.evaluate(SMALL_TARGETS)]
                for _ in range(12):  # the header's controls and the page's first ones
                    await page.keyboard.press("Tab")
                    focus = await page.evaluate(FOCUS_SHOWS)
                    if focus is not None and not focus["shows"]:
                        unfocused.append(f"{url}: {focus['what']}")
        finally:
            await context.close()
    assert small == [], "\n".join(small)
    assert unfocused == [], "\n".join(unfocused)
