"""A conversion's CPU time is bounded by the video's duration × TRANSCODE_CPU_MULTIPLE: real ffmpeg
children are stopped by the kernel (RLIMIT_CPU) and the run fails permanently with a readable reason."""

from __future__ import annotations

import time
from pathlib import Path

import imageio_ffmpeg
import pytest

from core.pipeline import MemoryCheckpointStore, UnitFailed
from features.pipeline.adapters import MemoryKeyStore, SubprocessFfmpeg
from features.pipeline.content_store import LocalContentStore
from features.pipeline.model import TranscodeRequest
from features.pipeline.ports import FfmpegFailed
from features.pipeline.service import TranscodeService
from tests.support.media import make_clip

# Minutes of synthetic 1080p through x264's slowest preset: far more CPU than any budget below allows.
BURN = [
    "-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30", "-t", "600",
    "-c:v", "libx264", "-preset", "veryslow", "-f", "null", "-",
]  # fmt: skip


async def test_an_ffmpeg_run_past_its_cpu_budget_is_stopped_with_a_reason_naming_the_budget() -> None:
    runner = SubprocessFfmpeg(imageio_ffmpeg.get_ffmpeg_exe(), cpu_multiple=1.0, min_cpu_seconds=1)
    started = time.monotonic()
    with pytest.raises(FfmpegFailed) as stopped:
        await runner.run(BURN, duration=1.0)
    took = time.monotonic() - started

    assert stopped.value.permanent
    assert "CPU-time budget of 1 s" in stopped.value.reason
    assert "1 × the video's 1.0 s" in stopped.value.reason
    assert took < 20  # stopped after ~1 CPU-second, not after the 600 s of media


async def test_without_a_duration_or_a_multiple_there_is_no_budget() -> None:
    assert SubprocessFfmpeg("ffmpeg", cpu_multiple=20).cpu_budget(None) is None
    assert SubprocessFfmpeg("ffmpeg").cpu_budget(10.0) is None
    assert SubprocessFfmpeg("ffmpeg", cpu_multiple=20).cpu_budget(12.5) == 250
    assert SubprocessFfmpeg("ffmpeg", cpu_multiple=20).cpu_budget(0.01) == 5  # the floor for start-up


async def test_a_pipeline_whose_budget_is_too_small_fails_its_unit_permanently(tmp_path: Path) -> None:
    # 1080p with a 1 s budget (the kernel's smallest): converting it needs several CPU-seconds
    clip = make_clip(tmp_path / "clip.mp4", width=1920, height=1080, seconds=4.0, tone=False)
    runner = SubprocessFfmpeg(imageio_ffmpeg.get_ffmpeg_exe(), cpu_multiple=0.001, min_cpu_seconds=1)
    service = TranscodeService(MemoryCheckpointStore(), MemoryKeyStore(), LocalContentStore(tmp_path / "ipfs"), runner)
    request = TranscodeRequest(run_id="budget", source=clip, work_dir=tmp_path / "work", key_uri="/v/x/key")

    with pytest.raises(UnitFailed) as failed:
        await service.transcode(request)

    assert failed.value.permanent
    assert "CPU-time budget" in failed.value.reason
    assert str(tmp_path) not in failed.value.reason  # no server paths in what the creator reads


async def test_a_generous_budget_lets_a_real_clip_convert(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", seconds=1.0)
    runner = SubprocessFfmpeg(imageio_ffmpeg.get_ffmpeg_exe(), cpu_multiple=20.0)
    service = TranscodeService(MemoryCheckpointStore(), MemoryKeyStore(), LocalContentStore(tmp_path / "ipfs"), runner)
    request = TranscodeRequest(run_id="ok", source=clip, work_dir=tmp_path / "work", key_uri="/v/x/key")
    result = await service.transcode(request)
    assert result.master_playlist_cid
