"""Subtitles added after the upload (issue 14, friction 3): a ready or published video takes a new language
at once — converted to WebVTT and published as one more subtitles rendition of a new master playlist —
without its video or audio being converted again. A bad file answers 422 with the form and its error."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import m3u8
import pytest
from injector import Injector

from core.di import get_port
from core.identity import Principal
from core.settings import Settings
from core.web import SESSION_COOKIE
from features.pipeline.hls import add_subtitle_rendition
from features.pipeline.service import TranscodeService
from features.studio.model import VideoState
from features.studio.ports import VideoRepository
from features.studio.service import StudioService
from tests.conftest import app_client
from tests.support.videos import add_synthetic_video, person, price_and_publish, session_token
from tests.support.web import csrf_token

SRT = b"1\r\n00:00:01,000 --> 00:00:02,500\r\nBonjour la mer\r\n\r\n2\r\n00:00:04,000 --> 00:00:05,000\r\nAu revoir\r\n"


@asynccontextmanager
async def browser_of(pg: Injector, settings: Settings, who: Principal) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(pg, settings) as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, who))
        await csrf_token(client, "/studio")
        yield client


async def add_subtitles(
    client: httpx.AsyncClient, video_id: Any, data: bytes, language: str, label: str
) -> httpx.Response:
    return await client.post(
        f"/studio/videos/{video_id}/subtitles",
        data={"language": language, "label": label},
        files={"file": ("subs.srt", data, "application/x-subrip")},
        headers={"x-csrftoken": client.cookies["csrftoken"], "hx-request": "true"},
    )


async def fetch(client: httpx.AsyncClient, public_id: str, path: str) -> str:
    response = await client.get(f"/v/{public_id}/hls/{path}")
    assert response.status_code == 200, (path, response.status_code)
    return response.text


@pytest.mark.parametrize("published", [False, True], ids=["ready", "published"])
async def test_a_language_added_after_processing_is_published_without_converting_the_video_again(
    pg: Injector, settings: Settings, published: bool
) -> None:
    creator = await person(pg, "Mira", creator=True)
    video = (await add_synthetic_video(pg, creator.id, title="Tides at dawn")).video
    if published:
        video = await price_and_publish(pg, creator.id, video)
    before = dict(video.manifest)

    async with browser_of(pg, settings, creator) as client:
        response = await add_subtitles(client, video.id, SRT, "fr", "Français")
        assert response.status_code == 200, response.text
        assert "Français subtitles published" in response.text
        assert 'id="f-sub-file"' in response.text  # the form stays for the next language

        after = await get_port(pg, VideoRepository).get(video.id)
        assert after is not None
        assert after.state is (VideoState.PUBLISHED if published else VideoState.READY)
        assert after.playlist != video.playlist
        assert after.playlist == after.manifest["master.m3u8"]
        # Every file already published is still the same file: nothing was converted again.
        assert {p: c for p, c in after.manifest.items() if p != "master.m3u8"} == {
            **{p: c for p, c in before.items() if p != "master.m3u8"},
            "subs/1-fr.vtt": after.manifest["subs/1-fr.vtt"],
            "subs/1-fr.m3u8": after.manifest["subs/1-fr.m3u8"],
        }
        assert [t["language"] for t in after.subtitle_tracks] == ["en", "fr"]

        master = m3u8.loads(await fetch(client, video.public_id, "master.m3u8"))
        subtitles = [(m.language, m.name, m.uri) for m in master.media if m.type == "SUBTITLES"]
        assert subtitles == [("en", "English", "subs/en.m3u8"), ("fr", "Français", "subs/1-fr.m3u8")]
        assert all(p.stream_info.subtitles == "subs" for p in master.playlists)
        playlist = m3u8.loads(await fetch(client, video.public_id, "subs/1-fr.m3u8"))
        assert [s.uri for s in playlist.segments] == ["1-fr.vtt"]
        vtt = await fetch(client, video.public_id, "subs/1-fr.vtt")
        assert vtt.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:")
        assert "00:00:01.000 --> 00:00:02.500\nBonjour la mer" in vtt


@pytest.mark.parametrize(
    ("data", "language", "message"),
    [
        (b"\x89PNG\r\n\x1a\nnot subtitles at all", "fr", "SRT or WebVTT"),
        (b"WEBVTT\n\n", "fr", ""),
        (SRT, "en", "There is already a subtitle file in “en”"),
        (SRT, "../../etc", ""),
        (SRT, "", ""),
    ],
    ids=["not-subtitles", "no-cue", "language-taken", "bad-language", "no-language"],
)
async def test_a_bad_late_subtitle_file_answers_422_with_the_form_and_changes_nothing(
    pg: Injector, settings: Settings, data: bytes, language: str, message: str
) -> None:
    creator = await person(pg, "Mira", creator=True)
    video = (await add_synthetic_video(pg, creator.id, title="Tides at dawn")).video
    async with browser_of(pg, settings, creator) as client:
        response = await add_subtitles(client, video.id, data, language, "Whatever")
    assert response.status_code == 422
    assert 'data-testid="subtitle-error"' in response.text
    assert message in response.text
    assert 'id="f-sub-file"' in response.text  # the form is still there, with what was typed
    assert 'value="Whatever"' in response.text
    after = await get_port(pg, VideoRepository).get(video.id)
    assert after is not None
    assert (after.playlist, after.manifest, after.subtitle_tracks) == (
        video.playlist,
        video.manifest,
        video.subtitle_tracks,
    )


async def test_another_creator_cannot_add_subtitles_to_a_video(pg: Injector, settings: Settings) -> None:
    creator = await person(pg, "Mira", creator=True)
    other = await person(pg, "Olga", creator=True)
    video = (await add_synthetic_video(pg, creator.id, title="Tides at dawn")).video
    async with browser_of(pg, settings, other) as client:
        response = await add_subtitles(client, video.id, SRT, "fr", "Français")
    assert response.status_code == 404
    after = await get_port(pg, VideoRepository).get(video.id)
    assert after is not None
    assert after.manifest == video.manifest


def test_a_master_without_subtitles_gets_the_group_on_every_variant() -> None:
    master = (
        "#EXTM3U\n#EXT-X-VERSION:4\n"
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Original",DEFAULT=YES,AUTOSELECT=YES,URI="audio/index.m3u8"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=500000,RESOLUTION=854x480,CODECS="avc1.4d401f,mp4a.40.2",AUDIO="audio"\n'
        "480p/index.m3u8\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",AUDIO="audio"\n'
        "720p/index.m3u8\n"
    )
    parsed = m3u8.loads(add_subtitle_rendition(master, "Deutsch", "de", "subs/0-de.m3u8"))
    assert [(m.type, m.language, m.uri, m.default) for m in parsed.media] == [
        ("AUDIO", None, "audio/index.m3u8", "YES"),
        ("SUBTITLES", "de", "subs/0-de.m3u8", "NO"),
    ]
    assert [(p.uri, p.stream_info.subtitles, p.stream_info.audio) for p in parsed.playlists] == [
        ("480p/index.m3u8", "subs", "audio"),
        ("720p/index.m3u8", "subs", "audio"),
    ]


async def test_two_languages_added_at_once_both_reach_the_master_playlist(pg: Injector) -> None:
    creator = await person(pg, "Mira", creator=True)
    video = (await add_synthetic_video(pg, creator.id, title="Tides at dawn")).video
    studio = pg.get(StudioService)
    await asyncio.gather(
        studio.add_subtitle(creator.id, video.id, SRT, "fr", "Français"),
        studio.add_subtitle(creator.id, video.id, SRT, "de", "Deutsch"),
    )
    after = await get_port(pg, VideoRepository).get(video.id)
    assert after is not None
    assert sorted(t["language"] for t in after.subtitle_tracks) == ["de", "en", "fr"]
    master = m3u8.loads((await pg.get(TranscodeService).read_published(after.playlist or "")).decode())
    assert sorted(m.language for m in master.media if m.type == "SUBTITLES") == ["de", "en", "fr"]
    assert {p for p in after.manifest if p.startswith("subs/")} == {
        "subs/en.vtt",
        "subs/en.m3u8",
        "subs/1-fr.vtt",
        "subs/1-fr.m3u8",
        "subs/2-de.vtt",
        "subs/2-de.m3u8",
    } or {p for p in after.manifest if p.startswith("subs/")} == {
        "subs/en.vtt",
        "subs/en.m3u8",
        "subs/1-de.vtt",
        "subs/1-de.m3u8",
        "subs/2-fr.vtt",
        "subs/2-fr.m3u8",
    }
