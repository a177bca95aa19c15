"""The free preview in a real Chromium through the app: hls.js plays the cut playlists, the subtitle
tracks it loads hold only cues inside the window (cut at its end), the visitor's browser gets a signed
device cookie with its first playlist, and its heartbeats are stored under one view."""

from __future__ import annotations

import asyncio

import pytest
from injector import Injector
from playwright.async_api import BrowserContext, expect

from core.db import Database
from tests.support.videos import person, price_and_publish, transcode_video

pytestmark = pytest.mark.e2e

PREVIEW = 3


def vtt(language: str) -> str:
    return (
        "WEBVTT\n\n"
        f"00:00:00.200 --> 00:00:02.000\ninside-{language}\n\n"
        f"00:00:02.500 --> 00:00:04.500\nstraddling-{language}\n\n"
        f"00:00:05.000 --> 00:00:06.000\nafter-{language}\n\n"
        f"00:00:07.000 --> 00:00:08.500\nlate-{language}\n"
    )


async def test_a_visitor_watches_the_preview_with_subtitles_cut_at_its_end(
    context: BrowserContext, live_server: str, pg: Injector
) -> None:
    creator = await person(pg, "Mira", creator=True)
    video = await transcode_video(pg, creator.id, seconds=9.0, subtitles={"en": vtt("en"), "fr": vtt("fr")})
    await price_and_publish(pg, creator.id, video, preview=PREVIEW)
    page = await context.new_page()
    await page.goto(f"/v/{video.public_id}")
    player = page.locator("video.hls-player")
    await expect(player).to_have_attribute("data-src", f"/v/{video.public_id}/preview/master.m3u8")
    await player.evaluate("video => { video.muted = true; return video.play().catch(() => null); }")
    await page.wait_for_function(
        "() => { const v = document.querySelector('video.hls-player'); return v && v.currentTime > 1; }"
    )
    assert any(c["name"] == "hypha_device" and c["httpOnly"] for c in await context.cookies())

    # every subtitle track hls.js offers, loaded the way a viewer's selection loads it
    cues: dict[str, list[tuple[float, float, str]]] = {}
    for language in ("en", "fr"):
        await page.evaluate(
            """language => {
                for (const track of document.querySelector('video.hls-player').textTracks) {
                    track.mode = track.language === language ? 'showing' : 'disabled';
                }
            }""",
            language,
        )
        await page.wait_for_function(
            """language => [...document.querySelector('video.hls-player').textTracks]
                .some(t => t.language === language && t.cues && t.cues.length > 0)""",
            arg=language,
        )
        cues[language] = await page.evaluate(
            """language => {
                const track = [...document.querySelector('video.hls-player').textTracks]
                    .find(t => t.language === language);
                return [...track.cues].map(c => [c.startTime, c.endTime, c.text]);
            }""",
            language,
        )
    for language, found in cues.items():
        texts = {text for _, _, text in found}
        assert f"inside-{language}" in texts
        assert not {f"after-{language}", f"late-{language}"} & texts, found
        assert f"straddling-{language}" in texts  # it starts inside the window: shown, and cut at its end
        # hls.js places cues on the stream's own first timestamp, a frame or two after MPEG-TS 126000
        assert all(end <= PREVIEW + 0.25 for _, end, _ in found), found

    await player.evaluate("video => video.pause()")  # pausing sends a heartbeat
    db = pg.get(Database)
    for _ in range(50):
        if await db.fetchval("SELECT count(*) FROM playback_heartbeats WHERE video_id = $1", video.id):
            break
        await asyncio.sleep(0.1)
    views = await db.fetch("SELECT viewer_key, preview FROM playback_views WHERE video_id = $1", video.id)
    assert [(v["viewer_key"].split(":")[0], v["preview"]) for v in views] == [("device", True)]
