"""Several audio tracks on the watch page, in a real Chromium: a video made by the real studio and
pipeline from a source with English and French sound offers an accessible audio menu; choosing French
switches hls.js's audio track (and what plays); a video with one audio track shows no menu."""

from __future__ import annotations

from pathlib import Path

import pytest
from injector import Injector
from playwright.async_api import BrowserContext, expect

from core.web import SESSION_COOKIE
from tests.e2e.test_accessibility_browser import AXE, axe_findings, settled
from tests.support.media import make_multilingual_clip, make_still, make_tone
from tests.support.videos import person, price_and_publish, session_token, transcode_video

pytestmark = pytest.mark.e2e


def two_languages(path: Path) -> Path:
    return make_multilingual_clip(path, width=320, height=240, seconds=6, subtitles=None)


async def test_the_watch_page_offers_the_audio_languages_and_switches_hls_js_audio_track(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    creator = await person(pg, "Mira", creator=True)
    video = await transcode_video(pg, creator.id, title="Deux langues", clip=two_languages)
    assert [t["language"] for t in video.audio_tracks] == ["en", "fr"]
    await price_and_publish(pg, creator.id, video, free=True)
    viewer = await person(pg, "Sam")
    token = await session_token(pg, viewer)
    await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": live_server, "httpOnly": True}])
    await context.add_init_script(path=AXE)

    page = await context.new_page()
    await page.goto(f"/v/{video.public_id}")
    menu = page.get_by_test_id("audio-menu")
    await expect(menu).to_be_visible()
    select = page.get_by_label("Audio", exact=True)
    await expect(select).to_have_value("0")
    options = select.locator("option")
    await expect(options).to_have_text(["English", "Français"])
    await expect(options.nth(1)).to_have_attribute("lang", "fr")
    player = page.locator("video.hls-player")
    await player.evaluate("video => { video.muted = true; return video.play().catch(() => null); }")
    await page.wait_for_function(
        "() => { const v = document.querySelector('video.hls-player'); return v && v.currentTime > 0.5; }"
    )
    state = (
        "video => { const hls = video._hypha.hls;"
        " return { track: hls.audioTrack, lang: hls.audioTracks[hls.audioTrack].lang }; }"
    )
    assert await player.evaluate(state) == {"track": 0, "lang": "en"}

    await select.select_option(label="Français")
    await page.wait_for_function(
        """() => {
            const hls = document.querySelector('video.hls-player')._hypha.hls;
            return hls.audioTrack === 1 && hls.audioTracks[1].lang === 'fr';
        }"""
    )
    # The French track is the one that loads from now on, and playback goes on.
    await page.wait_for_function(
        """() => performance.getEntriesByType('resource').some(e => e.name.includes('/hls/audio-1/seg_'))"""
    )
    await page.wait_for_function(
        "() => { const v = document.querySelector('video.hls-player'); return v.currentTime > 2 && !v.error; }"
    )
    await expect(select).to_have_value("1")

    await settled(page)
    assert await axe_findings(page) == []


async def test_a_video_with_one_audio_track_shows_no_audio_menu(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    creator = await person(pg, "Mira", creator=True)
    video = await transcode_video(pg, creator.id, title="One voice", seconds=3.0)
    await price_and_publish(pg, creator.id, video, free=True)
    token = await session_token(pg, await person(pg, "Sam"))
    await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": live_server, "httpOnly": True}])
    page = await context.new_page()
    await page.goto(f"/v/{video.public_id}")
    player = page.locator("video.hls-player")
    await page.wait_for_function(
        "() => { const v = document.querySelector('video.hls-player'); return v._hypha.hls.audioTracks.length === 1; }"
    )
    assert await player.evaluate("video => video._hypha.hls.levels.length") >= 1
    await expect(page.get_by_test_id("audio-menu")).to_have_count(0)


async def test_a_creator_adds_an_audio_track_from_the_studio_and_viewers_get_the_menu(
    context: BrowserContext, live_server: str, pg: Injector, tmp_path: Path
) -> None:
    creator = await person(pg, "Mira", creator=True)
    video = await transcode_video(pg, creator.id, title="One voice", seconds=4.0)
    await price_and_publish(pg, creator.id, video, free=True)
    token = await session_token(pg, creator)
    await context.add_cookies([{"name": SESSION_COOKIE, "value": token, "url": live_server, "httpOnly": True}])
    await context.add_init_script(path=AXE)
    page = await context.new_page()
    await page.goto(f"/studio/videos/{video.id}/upload")
    section = page.get_by_test_id("audio-tracks")
    await section.locator("xpath=ancestor::details").evaluate("details => { details.open = true; }")
    await expect(section).to_be_visible()

    # Not audio: the form says why, in place, and keeps what was typed.
    await page.get_by_label("Audio file").set_input_files(make_still(tmp_path / "still.png"))
    await page.locator("#f-audio-lang").fill("fr")
    await page.locator("#f-audio-name").fill("Français")
    await page.get_by_role("button", name="Publish audio track").click()
    await expect(page.get_by_test_id("audio-error")).to_contain_text("not audio")
    await expect(page.locator("#f-audio-name")).to_have_value("Français")
    await settled(page)
    assert await axe_findings(page) == []

    await page.get_by_label("Audio file").set_input_files(make_tone(tmp_path / "fr.m4a", seconds=4.0))
    await page.get_by_role("button", name="Publish audio track").click()
    await expect(page.get_by_test_id("audio-status")).to_contain_text("Français audio published")
    await expect(section.locator("li")).to_have_count(2)
    await settled(page)
    assert await axe_findings(page) == []

    await page.goto(f"/v/{video.public_id}")
    select = page.get_by_label("Audio", exact=True)
    await expect(select.locator("option")).to_have_text(["Original", "Français"])
    await select.select_option(label="Français")
    await page.wait_for_function("() => document.querySelector('video.hls-player')._hypha.hls.audioTrack === 1")
