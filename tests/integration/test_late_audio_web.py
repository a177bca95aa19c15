"""An audio track added to a ready or published video from the studio (issue 18, item 5): the sound file
is probed, encoded and sealed by the real pipeline and published with a new master playlist — the video
is not converted again, and the row swaps to the new master in one update. A file that is not audio
answers 422 with the form and its error, and leaves nothing behind."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import m3u8
import pytest
from injector import Injector

from core.di import get_port
from core.settings import Settings
from features.pipeline.hls import decrypt_bytes
from features.pipeline.service import TranscodeService
from features.studio.model import VideoState
from features.studio.ports import VideoRepository
from features.studio.service import StudioService
from tests.integration.test_late_subtitles_web import browser_of, fetch
from tests.support.media import make_clip, make_still, make_tone
from tests.support.videos import add_synthetic_video, person, price_and_publish


async def add_audio(
    client: httpx.AsyncClient, video_id: object, data: bytes, language: str, name: str, filename: str = "a.m4a"
) -> httpx.Response:
    return await client.post(
        f"/studio/videos/{video_id}/audio",
        data={"language": language, "name": name},
        files={"file": (filename, data, "audio/mp4")},
        headers={"x-csrftoken": client.cookies["csrftoken"], "hx-request": "true"},
    )


def leftovers(settings: Settings) -> list[str]:
    work = settings.data_path / "work"
    return sorted(p.name for p in work.rglob("added-audio-*")) if work.exists() else []


@pytest.mark.parametrize("published", [False, True], ids=["ready", "published"])
async def test_an_audio_track_added_later_is_published_without_converting_the_video_again(
    pg: Injector, settings: Settings, published: bool, tmp_path: Path
) -> None:
    creator = await person(pg, "Mira", creator=True)
    video = (await add_synthetic_video(pg, creator.id, title="Tides at dawn")).video
    if published:
        video = await price_and_publish(pg, creator.id, video)
    before = dict(video.manifest)
    tone = make_tone(tmp_path / "fr.m4a", seconds=3).read_bytes()

    async with browser_of(pg, settings, creator) as client:
        response = await add_audio(client, video.id, tone, "fra", "Version française")
        assert response.status_code == 200, response.text
        assert "Version française audio published" in response.text
        assert 'id="f-audio-file"' in response.text  # the form stays for the next track

        after = await get_port(pg, VideoRepository).get(video.id)
        assert after is not None
        assert after.state is (VideoState.PUBLISHED if published else VideoState.READY)
        assert after.playlist != video.playlist
        assert after.playlist == after.manifest["master.m3u8"]
        # Every file already published is still the same file: nothing was converted again.
        kept = {p: c for p, c in after.manifest.items() if p in before and p != "master.m3u8"}
        assert kept == {p: c for p, c in before.items() if p != "master.m3u8"}
        added = sorted(p for p in after.manifest if p not in before)
        assert added[0] == "audio-1/index.m3u8"
        assert all(p.startswith("audio-1/seg_") for p in added[1:])
        assert len(added) >= 2
        assert after.published_bytes > video.published_bytes  # the creator's storage counts the new track
        assert [(t["name"], t["language"]) for t in after.audio_tracks] == [
            ("Original", "und"),
            ("Version française", "fr"),
        ]

        master = m3u8.loads(await fetch(client, video.public_id, "master.m3u8"))
        audio = [(m.language, m.name, m.uri, m.default) for m in master.media if m.type == "AUDIO"]
        assert audio == [
            (None, "Original", "audio/index.m3u8", "YES"),
            ("fr", "Version française", "audio-1/index.m3u8", "NO"),
        ]
        assert all(p.stream_info.audio == "audio" for p in master.playlists)
        playlist = m3u8.loads(await fetch(client, video.public_id, "audio-1/index.m3u8"))
        segment = playlist.segments[0]
        assert segment.key.uri == f"/v/{video.public_id}/key"
        sealed = (await client.get(f"/v/{video.public_id}/hls/audio-1/{segment.uri}")).content
        key = await pg.get(TranscodeService).key_for(str(video.id))
        assert key is not None
        clear = decrypt_bytes(sealed, key.key, bytes.fromhex(segment.key.iv.removeprefix("0x")))
        assert clear[0] == 0x47  # MPEG-TS, sealed with the video's own key
    assert leftovers(settings) == []


@pytest.mark.parametrize(
    ("kind", "language", "name", "message"),
    [
        ("picture", "fr", "Français", "not audio"),
        ("silent-video", "fr", "Français", "not audio"),
        ("text", "fr", "Français", "not audio"),
        ("tone", "../../etc", "Français", "language code"),
        ("tone", "", "Français", "language code"),
        ("tone", "en", "Original", "already has an audio track named"),
        ("none", "fr", "Français", "Choose a sound file"),
    ],
    ids=["picture", "silent-video", "text", "bad-language", "no-language", "name-taken", "no-file"],
)
async def test_a_file_that_is_not_usable_audio_answers_422_with_the_form_and_changes_nothing(
    pg: Injector, settings: Settings, tmp_path: Path, kind: str, language: str, name: str, message: str
) -> None:
    creator = await person(pg, "Mira", creator=True)
    video = (await add_synthetic_video(pg, creator.id, title="Tides at dawn")).video
    files = {
        "picture": lambda: make_still(tmp_path / "x.png").read_bytes(),
        "silent-video": lambda: make_clip(tmp_path / "x.mp4", tone=False).read_bytes(),
        "text": lambda: b"1\n00:00:01,000 --> 00:00:02,000\nnot sound\n",
        "tone": lambda: make_tone(tmp_path / "x.m4a").read_bytes(),
    }
    stored_before = sorted(p.name for p in (settings.data_path).rglob("*") if p.is_file())
    async with browser_of(pg, settings, creator) as client:
        if kind == "none":
            response = await client.post(
                f"/studio/videos/{video.id}/audio",
                data={"language": language, "name": name},
                files={"file": ("", b"", "application/octet-stream")},
                headers={"x-csrftoken": client.cookies["csrftoken"], "hx-request": "true"},
            )
        else:
            response = await add_audio(client, video.id, files[kind](), language, name)
    assert response.status_code == 422, response.text
    assert 'data-testid="audio-error"' in response.text
    assert message in response.text
    assert f'value="{name}"' in response.text  # the form is still there, with what was typed
    after = await get_port(pg, VideoRepository).get(video.id)
    assert after is not None
    assert (after.playlist, after.manifest, after.audio_tracks) == (video.playlist, video.manifest, video.audio_tracks)
    assert leftovers(settings) == []
    assert sorted(p.name for p in (settings.data_path).rglob("*") if p.is_file()) == stored_before


async def test_another_creator_cannot_add_an_audio_track(pg: Injector, settings: Settings, tmp_path: Path) -> None:
    creator = await person(pg, "Mira", creator=True)
    other = await person(pg, "Olga", creator=True)
    video = (await add_synthetic_video(pg, creator.id, title="Tides at dawn")).video
    async with browser_of(pg, settings, other) as client:
        response = await add_audio(client, video.id, make_tone(tmp_path / "x.m4a").read_bytes(), "fr", "Français")
    assert response.status_code == 404
    after = await get_port(pg, VideoRepository).get(video.id)
    assert after is not None
    assert after.manifest == video.manifest
    assert leftovers(settings) == []


async def test_two_tracks_added_at_once_both_reach_the_master_playlist(pg: Injector, tmp_path: Path) -> None:
    creator = await person(pg, "Mira", creator=True)
    video = (await add_synthetic_video(pg, creator.id, title="Tides at dawn")).video
    studio = pg.get(StudioService)
    tone = make_tone(tmp_path / "x.m4a", seconds=2).read_bytes()
    await asyncio.gather(
        studio.add_audio_track(creator.id, video.id, tone, "fr", "Français"),
        studio.add_audio_track(creator.id, video.id, tone, "de", "Deutsch"),
    )
    after = await get_port(pg, VideoRepository).get(video.id)
    assert after is not None
    assert sorted(t["name"] for t in after.audio_tracks) == ["Deutsch", "Français", "Original"]
    master = m3u8.loads((await pg.get(TranscodeService).read_published(after.playlist or "")).decode())
    audio = [m for m in master.media if m.type == "AUDIO"]
    assert sorted(m.name for m in audio) == ["Deutsch", "Français", "Original"]
    assert len({m.uri for m in audio}) == 3
    assert [m.default for m in audio].count("YES") == 1
