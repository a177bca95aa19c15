"""Seek previews and chapters in a real Chromium: hovering the seek bar shows the storyboard frame under
the cursor (a sprite the server made from the real clip), the keyboard shows it too, a chapter link
seeks the player, `?t=` starts there, and the watch page with its chapters and preview passes axe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from injector import Injector
from playwright.async_api import BrowserContext, Page, expect

from features.studio.service.chapters import ChapterService
from tests.support.browser import settle
from tests.support.videos import person, price_and_publish, transcode_video

pytestmark = pytest.mark.e2e

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21aa", "wcag22aa"]


async def serious_axe_findings(page: Page) -> list[dict[str, Any]]:
    await settle(page)
    result: dict[str, Any] = await page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
            return result.violations.map(
                v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}));
        }""",
        TAGS,
    )
    return [v for v in result if v["impact"] in ("serious", "critical")]


async def current_time(page: Page) -> float:
    return float(await page.locator("video.hls-player").evaluate("v => v.currentTime"))


async def test_hovering_the_seek_bar_shows_the_frame_and_chapters_seek(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    creator = await person(pg, "Ines", creator=True)
    video = await transcode_video(pg, creator.id, seconds=25.0)
    await price_and_publish(pg, creator.id, video, free=True)
    await pg.get(ChapterService).set_chapters(creator.id, video.id, "0:00 Opening\n0:12 The middle\n0:20 Closing")
    await context.add_init_script(path=AXE)  # through DevTools: the page's CSP stays in force
    page = await context.new_page()
    await page.goto(f"/v/{video.public_id}")

    bar = page.get_by_test_id("seekbar")
    await expect(bar).to_be_visible()
    await expect(bar).to_have_attribute("data-thumbnails", "13")
    await expect(bar).to_have_attribute("data-chapters", "3")
    await expect(bar.locator(".seek-mark")).to_have_count(2)  # 0:12 and 0:20 (0:00 is the bar's start)

    # Hover: the thumbnail of the time under the cursor, cut from a sprite the browser loads.
    seek = page.get_by_test_id("seek-range")
    box = await seek.bounding_box()
    assert box is not None
    preview = page.get_by_test_id("seek-preview")
    async with page.expect_response(lambda r: "/storyboard/sprite_" in r.url) as loaded:
        await page.mouse.move(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
        await expect(preview).to_be_visible()
    sprite = await loaded.value
    assert sprite.status == 200
    assert sprite.headers["content-type"] == "image/jpeg"
    thumb = page.get_by_test_id("seek-thumb")
    background = await thumb.evaluate("t => getComputedStyle(t).backgroundImage")
    assert f"/v/{video.public_id}/storyboard/sprite_001.jpg" in background  # ~22 s: the second sprite
    size = await thumb.evaluate("t => [t.offsetWidth, t.offsetHeight]")
    assert size == [160, 120]
    await expect(preview).to_contain_text("Closing")
    await page.mouse.move(box["x"] + box["width"] * 0.1, box["y"] + box["height"] / 2)
    await expect(preview).to_contain_text("Opening")
    assert "sprite_000.jpg" in await thumb.evaluate("t => getComputedStyle(t).backgroundImage")
    assert await serious_axe_findings(page) == []  # with the preview showing
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] - 200)
    await expect(preview).to_be_hidden()

    # The keyboard seeks and shows the preview too; the slider names the time and chapter.
    await seek.focus()
    for _ in range(13):
        await page.keyboard.press("ArrowRight")
    await expect(preview).to_be_visible()
    await expect(seek).to_have_attribute("aria-valuetext", "0:13 of 0:25, The middle")
    assert abs(await current_time(page) - 13) < 0.6

    # A chapter link seeks the player (and plays).
    await page.get_by_role("link", name="0:20 Closing").click()
    await page.wait_for_function("() => document.querySelector('video.hls-player').currentTime >= 19.9")
    await expect(page.locator("video.hls-player")).to_be_focused()
    assert await serious_axe_findings(page) == []

    # Without the script the same link is /v/<id>?t=20: opened, the player starts there.
    second = await context.new_page()
    await second.goto(f"/v/{video.public_id}?t=12")
    await second.wait_for_function("() => document.querySelector('video.hls-player').currentTime >= 11.9")
    chapters = second.get_by_test_id("chapters")
    await expect(chapters.get_by_role("link")).to_have_count(3)
    assert await chapters.get_by_role("link").nth(1).get_attribute("href") == f"/v/{video.public_id}?t=12"


async def test_a_preview_visitor_sees_only_thumbnails_inside_the_preview(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    creator = await person(pg, "Oren", creator=True)
    video = await transcode_video(pg, creator.id, seconds=25.0)
    await price_and_publish(pg, creator.id, video, preview=20)
    await context.add_init_script(path=AXE)  # through DevTools: the page's CSP stays in force
    page = await context.new_page()
    refused: list[str] = []
    page.on("response", lambda r: refused.append(r.url) if "/storyboard/" in r.url and r.status != 200 else None)
    await page.goto(f"/v/{video.public_id}")
    bar = page.get_by_test_id("seekbar")
    await expect(bar).to_have_attribute("data-thumbnails", "10")  # the first sprite: 0–20 s
    box = await page.get_by_test_id("seek-range").bounding_box()
    assert box is not None
    thumb = page.get_by_test_id("seek-thumb")
    # The preview's player ends at 20 s, and so does its seek bar: every thumbnail on it is the preview's.
    await page.wait_for_function("() => document.querySelector('video.hls-player').duration > 0")
    assert await page.locator("video.hls-player").evaluate("v => Math.round(v.duration)") == 20
    for fraction in (0.2, 0.97):
        await page.mouse.move(box["x"] + box["width"] * fraction, box["y"] + box["height"] / 2)
        await expect(thumb).to_be_visible()
        assert "sprite_000.jpg" in await thumb.evaluate("t => getComputedStyle(t).backgroundImage")
    # What the server refuses cannot be asked for from the page either.
    assert (await page.request.get(f"/v/{video.public_id}/storyboard/sprite_001.jpg")).status == 403
    assert refused == []
    assert await serious_axe_findings(page) == []
