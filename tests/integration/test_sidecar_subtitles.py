"""Subtitle files creators attach before the upload, as their tools write them: a BOM, Latin-1 or
UTF-16 text, Windows or old Mac line ends, overlapping cues, WebVTT, SRT with dots in its times. Each
is either published as WebVTT with the video, or refused at once with a reason — never accepted
first and then failing the video's processing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from injector import Injector

from core.identity import Principal
from core.settings import Settings
from core.web import SESSION_COOKIE
from features.studio.service import StudioService
from tests.conftest import app_client
from tests.support.videos import person, session_token, transcode_video
from tests.support.web import csrf_token

ACCEPTED = {
    "en": ("\ufeff1\n00:00:00,200 --> 00:00:00,900\nWith a byte-order mark\n".encode(), "With a byte-order mark"),
    "fr": (b"1\n00:00:00,200 --> 00:00:00,900\nCaf\xe9 cr\xe8me, d\xe9j\xe0 vu\n", "Café crème, déjà vu"),
    "de": (b"1\r\n00:00:00,200 --> 00:00:00,900\r\nZeile eins\r\nZeile zwei\r\n\r\n", "Zeile eins\nZeile zwei"),
    "es": (b"1\r00:00:00,200 --> 00:00:00,900\rMac cl\xc3\xa1sico\r", "Mac clásico"),
    "it": (
        b"1\n00:00:00,100 --> 00:00:00,900\nSopra\n\n2\n00:00:00,300 --> 00:00:00,600\nSotto\n",
        "00:00:00.300 --> 00:00:00.600\nSotto",
    ),
    "nl": (b"WEBVTT\n\nNOTE made by hand\n\n00:00.200 --> 00:00.900 line:0\nBovenaan\n", "line:0\nBovenaan"),
    "pt": ("1\n00:00:00,200 --> 00:00:00,900\nCoração\n".encode("utf-16"), "Coração"),
    "sv": (b"1\n00:00:00.200 --> 00:00:00.900\nPunkter i tiderna\n", "00:00:00.200 --> 00:00:00.900\nPunkter"),
}


async def test_subtitle_files_in_every_common_encoding_and_layout_are_published_with_the_video(pg: Injector) -> None:
    creator = await person(pg, "Sol", creator=True)
    video = await transcode_video(
        pg, creator.id, seconds=1, subtitles={language: data for language, (data, _) in ACCEPTED.items()}
    )
    tracks = {track["language"]: track["playlist"] for track in video.subtitle_tracks}
    assert set(tracks) == set(ACCEPTED)
    studio = pg.get(StudioService)
    for language, (_, expected) in ACCEPTED.items():
        vtt_path = tracks[language].removesuffix(".m3u8") + ".vtt"
        published = await studio.transcoder.published_file(video.manifest[vtt_path])
        assert published is not None
        vtt = published.decode("utf-8")
        assert vtt.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:")
        assert expected in vtt, language


@asynccontextmanager
async def browser_of(pg: Injector, settings: Settings, who: Principal) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(pg, settings) as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, who))
        await csrf_token(client, "/studio")
        yield client


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The subtitle file is empty."),
        (b" \r\n\r\n\t\n", "The subtitle file is empty."),
        (b"1\n00:00:02,000 --> 00:00:01,000\nEnds before it starts\n", "This subtitle file has no cues."),
        (b"WEBVTT\n\nNOTE nothing to show\n", "This subtitle file has no cues."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "Subtitles must be an SRT or WebVTT text file."),
        (b"Dear diary, these are not subtitles.\n", "Subtitles must be an SRT or WebVTT text file."),
    ],
    ids=["empty", "blank", "backwards-cue", "webvtt-without-cues", "picture", "prose"],
)
async def test_a_subtitle_file_the_pipeline_cannot_use_is_refused_when_it_is_attached(
    pg: Injector, settings: Settings, data: bytes, message: str
) -> None:
    creator = await person(pg, "Rui", creator=True)
    studio = pg.get(StudioService)
    video = await studio.create_video(creator.id, "Before the upload", "")
    async with browser_of(pg, settings, creator) as client:
        response = await client.post(
            f"/studio/videos/{video.id}/subtitles",
            data={"language": "pt", "label": "Português"},
            files={"file": ("legendas.srt", data, "application/x-subrip")},
            headers={"x-csrftoken": client.cookies["csrftoken"], "hx-request": "true"},
        )
    assert response.status_code == 422
    assert message in response.text
    after = await studio.get_video(video.id)
    assert after is not None
    assert after.subtitle_sources == []


async def test_an_empty_cover_file_is_called_empty_not_missing(pg: Injector, settings: Settings) -> None:
    creator = await person(pg, "Ines", creator=True)
    studio = pg.get(StudioService)
    video = await studio.create_video(creator.id, "Before the upload", "")
    async with browser_of(pg, settings, creator) as client:
        response = await client.post(
            f"/studio/videos/{video.id}/cover",
            files={"file": ("cover.jpg", b"", "image/jpeg")},
            headers={"x-csrftoken": client.cookies["csrftoken"], "hx-request": "true"},
        )
    assert response.status_code == 422
    assert "The image file is empty." in response.text
