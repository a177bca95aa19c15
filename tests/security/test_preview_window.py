"""The free preview serves nothing past its window: no subtitle cue, no audio or video segment, on any track.

Subtitles are published as one WebVTT file spanning the whole video, so the preview must cut a copy at
the window rather than allow "the first segment" of every playlist (issue 11, item 3).
"""

from __future__ import annotations

import re

import m3u8
import pytest
from injector import Injector

from core.settings import Settings
from features.playback.model import media_segments
from tests.conftest import app_client
from tests.support.videos import add_synthetic_video, person, price_and_publish
from tests.support.web import csrf_token

PREVIEW = 5  # seconds; the synthetic video has 3 segments of 4 s per track: 0–4, 4–8, 8–12
_TIMING = re.compile(r"^(\S+)\s+-->\s+(\S+)")


def vtt(language: str) -> str:
    """Cues inside the window, one straddling its end, and several past it (each text names its language)."""
    return (
        "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:126000,LOCAL:00:00:00.000\n\n"
        f"00:00:00.500 --> 00:00:01.500\ninside-{language}\n\n"
        f"straddle\n00:00:04.000 --> 00:00:06.500 line:0\nstraddling-{language}\n\n"
        f"00:00:05.000 --> 00:00:06.000\nat-the-edge-{language}\n\n"
        f"NOTE spoiler-note-{language}\n\n"
        f"00:00:07.250 --> 00:00:08.000\n<v Narrator>after-{language}</v>\n\n"
        f"01:00.000 --> 01:02.000\nlong-after-{language}\n"
    )


def seconds(stamp: str) -> float:
    parts = [float(p) for p in stamp.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0.0)
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


def cue_times(text: str) -> list[tuple[float, float]]:
    return [(seconds(m.group(1)), seconds(m.group(2))) for m in map(_TIMING.match, text.splitlines()) if m]


@pytest.fixture
async def previewed(pg: Injector) -> str:
    creator = await person(pg, "Creator", creator=True)
    made = await add_synthetic_video(pg, creator.id, subtitles={lang: vtt(lang) for lang in ("en", "fr", "pt-BR")})
    await price_and_publish(pg, creator.id, made.video, preview=PREVIEW)
    return made.video.public_id


async def test_every_subtitle_track_of_the_preview_holds_only_cues_inside_the_window(
    pg: Injector, settings: Settings, previewed: str
) -> None:
    async with app_client(pg, settings) as client:
        await csrf_token(client, "/login")
        master = m3u8.loads((await client.get(f"/v/{previewed}/preview/master.m3u8")).text)
        tracks = [m for m in master.media if m.type == "SUBTITLES"]
        assert sorted(t.language for t in tracks) == ["en", "fr", "pt-BR"]
        for track in tracks:
            playlist = await client.get(f"/v/{previewed}/preview/{track.uri}")
            assert playlist.status_code == 200
            parsed = m3u8.loads(playlist.text)
            assert sum(s.duration for s in parsed.segments) <= PREVIEW + 1e-6
            folder = track.uri.rsplit("/", 1)[0]
            for segment in parsed.segments:
                served = await client.get(f"/v/{previewed}/preview/{folder}/{segment.uri}")
                assert served.status_code == 200
                text = served.text
                language = track.language
                assert text.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:126000,LOCAL:00:00:00.000\n")
                assert f"inside-{language}" in text
                assert f"straddling-{language}" in text  # shown during the preview, but cut at its end
                for past in ("at-the-edge", "after", "long-after", "spoiler-note"):
                    assert f"{past}-{language}" not in text, (language, past)
                times = cue_times(text)
                assert times == [(0.5, 1.5), (4.0, PREVIEW)]
                assert "00:00:04.000 --> 00:00:05.000 line:0" in text  # the cue keeps its settings


async def test_no_file_of_the_video_reaches_past_the_window_through_the_preview(
    pg: Injector, settings: Settings, previewed: str
) -> None:
    """Walk every path the video publishes: what the preview serves starts inside the window."""
    async with app_client(pg, settings) as client:
        await csrf_token(client, "/login")
        master_text = (await client.get(f"/v/{previewed}/preview/master.m3u8")).text
        master = m3u8.loads(master_text)
        playlists = [p.uri for p in master.playlists] + [m.uri for m in master.media if m.uri]
        allowed: set[str] = set()
        for uri in playlists:
            cut = (await client.get(f"/v/{previewed}/preview/{uri}")).text
            folder = uri.rsplit("/", 1)[0]
            for segment in media_segments(cut):
                assert segment.start < PREVIEW
                allowed.add(f"{folder}/{segment.uri}")
        assert allowed >= {"480p/seg_00000.ts", "480p/seg_00001.ts", "audio/seg_00000.ts", "audio/seg_00001.ts"}
        for track in ("480p", "audio"):
            for index in range(3):
                path = f"{track}/seg_{index:05d}.ts"
                status = (await client.get(f"/v/{previewed}/preview/{path}")).status_code
                assert status == (200 if index < 2 else 403), path
        for language in ("en", "fr", "pt-BR"):
            text = (await client.get(f"/v/{previewed}/preview/subs/{language}.vtt")).text
            assert all(end <= PREVIEW for _, end in cue_times(text)), language
            assert f"after-{language}" not in text
        for other in ("cover.jpg", "subs/xx.vtt", "480p/seg_00002.ts"):
            assert (await client.get(f"/v/{previewed}/preview/{other}")).status_code in (403, 404), other
