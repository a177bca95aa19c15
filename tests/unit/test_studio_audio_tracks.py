"""Adding an audio track to a video, the studio's rules on in-memory adapters: only once the video is
ready, never a name it already has, at most AUDIO_TRACKS_PER_VIDEO, only the owner; the creator's file is
never kept (its temporary copy is gone whatever happens)."""

from __future__ import annotations

from pathlib import Path

import pytest
from injector import Injector

from core.errors import Conflict
from core.ids import uuid7
from features.studio.adapters import fake_media
from features.studio.adapters.transcoders import FAKE_AUDIO_MAGIC
from features.studio.model import (
    AUDIO_TRACKS_PER_VIDEO,
    InvalidAudioTrack,
    VideoNotFound,
    VideoState,
)
from features.studio.service import StudioService
from tests.unit.test_studio_service import HD, upload_file

SOUND = FAKE_AUDIO_MAGIC + b"\0" * 64


@pytest.fixture
def studio(memory: Injector) -> StudioService:
    return memory.get(StudioService)


def temporary_files(studio: StudioService) -> list[Path]:
    root = studio.policy.work_root
    return sorted(root.rglob("added-audio-*")) if root.exists() else []


async def test_a_ready_video_takes_audio_tracks_and_swaps_its_master_playlist(studio: StudioService) -> None:
    owner = uuid7()
    video = await studio.create_video(owner, "Tides")
    with pytest.raises(Conflict):  # a draft has nothing published to add a track to
        await studio.add_audio_track(owner, video.id, SOUND, "fr", "Français")
    video = await upload_file(studio, owner, video, fake_media(HD))
    done = await studio.process(video.id)
    assert done is not None
    assert done.state is VideoState.READY

    after = await studio.add_audio_track(owner, done.id, SOUND, "fr", "Français")
    assert [t["name"] for t in after.audio_tracks] == ["Stereo", "Français"]
    assert after.playlist != done.playlist
    assert after.playlist == after.manifest["master.m3u8"]
    assert after.manifest["audio-1/index.m3u8"].startswith("fake-audio-")
    stored = await studio.get_video(done.id)
    assert stored is not None
    assert stored.audio_tracks == after.audio_tracks
    assert temporary_files(studio) == []

    with pytest.raises(InvalidAudioTrack, match="already has an audio track named"):
        await studio.add_audio_track(owner, done.id, SOUND, "fr", "Français")
    with pytest.raises(InvalidAudioTrack, match="not audio"):
        await studio.add_audio_track(owner, done.id, b"not sound at all", "de", "Deutsch")
    with pytest.raises(InvalidAudioTrack, match="language"):
        await studio.add_audio_track(owner, done.id, SOUND, "  ", "Deutsch")
    with pytest.raises(VideoNotFound):
        await studio.add_audio_track(uuid7(), done.id, SOUND, "de", "Deutsch")
    assert temporary_files(studio) == []
    unchanged = await studio.get_video(done.id)
    assert unchanged is not None
    assert unchanged.manifest == after.manifest

    for number in range(AUDIO_TRACKS_PER_VIDEO - 2):
        await studio.add_audio_track(owner, done.id, SOUND, "de", f"Deutsch {number}")
    with pytest.raises(InvalidAudioTrack, match=f"at most {AUDIO_TRACKS_PER_VIDEO}"):
        await studio.add_audio_track(owner, done.id, SOUND, "it", "Italiano")
