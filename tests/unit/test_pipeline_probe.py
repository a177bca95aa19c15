"""Probing sources: facts about real clips, and a readable reason for everything that is not a video."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

from core.pipeline import MemoryCheckpointStore
from features.pipeline.adapters import MemoryKeyStore, SubprocessFfmpeg
from features.pipeline.content_store import MemoryContentStore
from features.pipeline.model import ProbeError, SourceInfo
from features.pipeline.service import TranscodeService
from tests.support.media import FFMPEG, make_clip, make_still, make_tone

service = TranscodeService(
    MemoryCheckpointStore(),
    MemoryKeyStore(),
    MemoryContentStore(),
    SubprocessFfmpeg(imageio_ffmpeg.get_ffmpeg_exe()),
)


async def test_a_clip_with_a_tone_is_described(tmp_path: Path) -> None:
    info = await service.probe(make_clip(tmp_path / "clip.mp4", width=320, height=240, seconds=1))
    assert info.width == 320
    assert info.height == 240
    assert info.duration == pytest.approx(1.0, abs=0.1)
    assert info.video_codec == "h264"
    assert info.has_audio
    assert info.audio_codec == "aac"
    assert info.frame_rate == pytest.approx(25.0)
    assert info.bit_rate
    assert info.rotation == 0
    assert "mp4" in info.format_name
    assert SourceInfo.from_dict(info.to_dict()) == info


async def test_a_silent_clip_has_no_audio(tmp_path: Path) -> None:
    info = await service.probe(make_clip(tmp_path / "silent.mp4", seconds=1, tone=False))
    assert not info.has_audio
    assert info.audio_codec is None


async def test_a_rotated_phone_clip_displays_portrait(tmp_path: Path) -> None:
    info = await service.probe(make_clip(tmp_path / "phone.mp4", width=320, height=180, seconds=1, rotation=90))
    assert (info.width, info.height) == (320, 180)
    assert info.rotation in (90, 270)
    assert (info.display_width, info.display_height) == (180, 320)
    assert info.is_portrait


async def test_a_text_file_is_not_a_video(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("these are not the frames you are looking for\n" * 20)
    with pytest.raises(ProbeError, match="not a video"):
        await service.probe(text)


async def test_an_audio_file_has_no_video_stream(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="no video stream"):
        await service.probe(make_tone(tmp_path / "tone.m4a"))


async def test_a_still_image_is_not_a_video(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="still image"):
        await service.probe(make_still(tmp_path / "picture.png"))


async def test_a_gif_of_one_picture_is_a_still_image_and_a_gif_loop_a_video(tmp_path: Path) -> None:
    still = tmp_path / "still.gif"
    subprocess.run(
        [FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48", "-frames:v", "1", str(still)], check=True
    )
    with pytest.raises(ProbeError, match="still image"):
        await service.probe(still)
    loop = tmp_path / "loop.gif"
    subprocess.run(
        [FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=1.5", str(loop)], check=True
    )
    info = await service.probe(loop)
    assert info.duration == pytest.approx(1.5)
    assert not info.has_audio


async def test_a_truncated_file_is_unreadable(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=1)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[:4000])
    with pytest.raises(ProbeError):
        await service.probe(truncated)


async def test_an_empty_or_missing_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(ProbeError, match="empty"):
        await service.probe(empty)
    with pytest.raises(ProbeError, match="missing"):
        await service.probe(tmp_path / "nowhere.mp4")


async def test_a_stream_without_a_duration_in_its_header_is_measured_from_its_frames(tmp_path: Path) -> None:
    """A bare H.264 stream (a camera's or a drone's export) has no container to say how long it is, and
    no timestamps: its frames over its frame rate. A live WebM (what a browser records) has timestamps."""
    raw = tmp_path / "camera.h264"
    pattern = ["-f", "lavfi", "-i", "testsrc2=size=64x64:rate=25", "-frames:v", "10"]
    subprocess.run([FFMPEG, "-v", "error", *pattern, "-c:v", "libx264", "-f", "h264", str(raw)], check=True)
    assert (await service.probe(raw)).duration == pytest.approx(0.4)
    live = tmp_path / "recorded.webm"
    pattern = ["-f", "lavfi", "-i", "testsrc2=size=64x64:rate=30:duration=1.5", "-c:v", "libvpx", "-live", "1"]
    subprocess.run([FFMPEG, "-v", "error", *pattern, str(live)], check=True)
    assert (await service.probe(live)).duration == pytest.approx(1.5, abs=0.05)
