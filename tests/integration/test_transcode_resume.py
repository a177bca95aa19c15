"""A worker killed in the middle of a transcode: the retry resumes where it stopped and leaves no debris.

The "crashes" are Unit subclasses carrying the real units' names (so they share checkpoints with
them) that fail partway, composed into the pipeline in place of the real ones — no patching.
Checkpoints and keys are the real PostgreSQL adapters.
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest
from injector import Injector

from core.db import Database
from core.pipeline import CheckpointStore, MemoryCheckpointStore, Output, Pipeline, UnitContext, UnitFailed
from core.postgres import PostgresCheckpointStore
from features.pipeline import units
from features.pipeline.adapters import KeySealer, MemoryKeyStore, PostgresKeyStore, RecordingFfmpeg, SubprocessFfmpeg
from features.pipeline.content_store import LocalContentStore, MemoryContentStore
from features.pipeline.ffmpeg_args import DEINTERLACE
from features.pipeline.ipfs import cid_of_file
from features.pipeline.model import SubtitleSource, TranscodeRequest
from features.pipeline.service import TranscodeService
from features.pipeline.units import TRANSCODE
from tests.support.media import make_clip


class WorkerKilled(Exception):
    """Stands for SIGKILL: the unit stops where it is."""


class ConvertVideoTo480p(units.ConvertVideoTo480p):
    """Dies during the encode, at its first progress report."""

    async def run(self, ctx: UnitContext) -> Output:
        async def report(_fraction: float) -> None:
            raise WorkerKilled("killed while encoding 480p")

        return await super().run(dataclasses.replace(ctx, report=report))


class Publish480p(units.Publish480p):
    """Dies after publishing two files."""

    async def run(self, ctx: UnitContext) -> Output:
        published = 0

        async def report(fraction: float) -> None:
            nonlocal published
            published += 1
            if published == 2:
                raise WorkerKilled("killed while publishing")
            await ctx.report(fraction)

        return await super().run(dataclasses.replace(ctx, report=report))


def with_unit(pipeline: Pipeline, replacement: units.Unit) -> Pipeline:
    return Pipeline(tuple(replacement if u.name == replacement.name else u for u in pipeline.units))


def ffmpeg_processes(under: Path) -> list[str]:
    """ffmpeg processes writing under `under` (other tests may run ffmpeg at the same time)."""
    listing = subprocess.run(["ps", "-eww", "-o", "pid,args"], capture_output=True, text=True, check=True).stdout
    return [line for line in listing.splitlines() if "ffmpeg" in line and str(under.resolve()) in line]


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def test_a_killed_transcode_resumes_at_the_unit_it_was_in_and_leaves_no_orphans(
    pg: Injector, tmp_path: Path
) -> None:
    db = pg.get(Database)
    checkpoints: CheckpointStore = PostgresCheckpointStore(db)
    keys = PostgresKeyStore(db, KeySealer("test secret"))
    store = LocalContentStore(tmp_path / "ipfs")
    source = make_clip(tmp_path / "clip.mp4", width=320, height=240, seconds=3)
    srt = tmp_path / "clip.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nHi\n")
    request = TranscodeRequest(
        run_id="video-42",
        source=source,
        work_dir=tmp_path / "work",
        subtitles=(SubtitleSource(srt, "en", "English"),),
        key_uri="/v/42/key",
    )
    binary = imageio_ffmpeg.get_ffmpeg_exe()

    # 1. Killed while encoding 480p: the units before it stay done, its partial output is gone.
    first = RecordingFfmpeg(SubprocessFfmpeg(binary))
    service = TranscodeService(checkpoints, keys, store, first, with_unit(TRANSCODE, ConvertVideoTo480p()))
    with pytest.raises(UnitFailed) as failure:
        await service.transcode(request)
    assert failure.value.unit == "ConvertVideoTo480p"
    assert "killed while encoding 480p" in failure.value.reason
    assert set(await checkpoints.completed("video-42")) == {"ConvertingInitial", "ConvertSubtitles", "ConvertBaseAudio"}
    assert len(first.calls) == 2  # audio, then the 480p encode that died
    out = request.work_dir / "out"
    assert sorted(p.name for p in out.iterdir()) == ["audio", "subs"]
    assert not ffmpeg_processes(tmp_path)
    # A hard kill leaves debris a clean cancellation would not: a half-written partial rendition.
    (out / ".480p.partial").mkdir()
    (out / ".480p.partial" / "seg_00000.ts").write_bytes(b"half a segment")

    # 2. Resumed, then killed while publishing: nothing before 480p runs again.
    second = RecordingFfmpeg(SubprocessFfmpeg(binary))
    service = TranscodeService(checkpoints, keys, store, second, with_unit(TRANSCODE, Publish480p()))
    with pytest.raises(UnitFailed, match="killed while publishing"):
        await service.transcode(request)
    filters = [call[call.index("-vf") + 1].removeprefix(f"{DEINTERLACE},") for call in second.calls if "-vf" in call]
    assert [graph.split(":")[0] for graph in filters] == [
        "scale=320",  # the 480p rendition
        "scale=320",  # the cover
        r"select='isnan(prev_selected_t)+gte(t-prev_selected_t\,1.75)',scale=160",  # the storyboard
    ]
    assert not any("0:a:0" in call for call in second.calls)  # the audio was not encoded again
    half_published = {p.name for p in files_under(store.root)}
    assert 1 <= len(half_published) < 10

    # 3. Resumed again: only publishing is left, and it finishes the job.
    third = RecordingFfmpeg(SubprocessFfmpeg(binary))
    service = TranscodeService(checkpoints, keys, store, third)
    result = await service.transcode(request)
    assert third.calls == []
    assert set(result.manifest) >= {"master.m3u8", "480p/index.m3u8", "audio/index.m3u8", "subs/0-en.vtt"}
    stored = files_under(store.root)
    assert {p.name for p in stored} == set(result.manifest.values())  # no orphans, no duplicates
    assert half_published <= set(result.manifest.values())  # the same key gave the same bytes again
    assert all(cid_of_file(p) == p.name for p in stored)
    assert not request.work_dir.exists()
    assert set(await checkpoints.completed("video-42")) == set(TRANSCODE.names)


async def test_forget_starts_a_run_over_but_keeps_its_key(pg: Injector, tmp_path: Path) -> None:
    db = pg.get(Database)
    checkpoints = PostgresCheckpointStore(db)
    keys = PostgresKeyStore(db, KeySealer("test secret"))
    ffmpeg = RecordingFfmpeg(SubprocessFfmpeg(imageio_ffmpeg.get_ffmpeg_exe()))
    store = LocalContentStore(tmp_path / "ipfs")
    service = TranscodeService(checkpoints, keys, store, ffmpeg, with_unit(TRANSCODE, Publish480p()))
    request = TranscodeRequest("video-7", make_clip(tmp_path / "c.mp4", seconds=1), tmp_path / "work")
    with pytest.raises(UnitFailed):
        await service.transcode(request)
    key = await service.key_for("video-7")
    assert key is not None
    assert request.work_dir.exists()

    await service.forget("video-7")

    assert await checkpoints.completed("video-7") == {}
    assert not request.work_dir.exists()
    assert await service.key_for("video-7") == key
    calls = len(ffmpeg.calls)
    result = await TranscodeService(checkpoints, keys, store, ffmpeg).transcode(request)
    assert len(ffmpeg.calls) == calls * 2  # every encode ran again
    assert {p.name for p in files_under(store.root)} == set(result.manifest.values())


async def test_a_cancelled_transcode_stops_ffmpeg_and_removes_the_partial_rendition(tmp_path: Path) -> None:
    started = asyncio.Event()

    class ConvertBaseAudio(units.ConvertBaseAudio):
        async def run(self, ctx: UnitContext) -> Output:
            async def report(fraction: float) -> None:
                started.set()
                await ctx.report(fraction)

            return await super().run(dataclasses.replace(ctx, report=report))

    ffmpeg = SubprocessFfmpeg(imageio_ffmpeg.get_ffmpeg_exe())
    service = TranscodeService(
        MemoryCheckpointStore(),
        MemoryKeyStore(),
        MemoryContentStore(),
        ffmpeg,
        with_unit(TRANSCODE, ConvertBaseAudio()),
    )
    # A long silent source keeps the audio encode busy long enough to be cancelled in its middle.
    source = make_clip(tmp_path / "long.mp4", width=64, height=64, seconds=600, rate=1, tone=False)
    task = asyncio.create_task(service.transcode(TranscodeRequest("video-c", source, tmp_path / "work")))
    await asyncio.wait_for(started.wait(), 20)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not ffmpeg_processes(tmp_path)
    assert sorted(p.name for p in (tmp_path / "work" / "out").iterdir()) == []


async def test_two_deliveries_of_one_job_at_once_take_turns_and_agree(tmp_path: Path) -> None:
    ffmpeg = RecordingFfmpeg(SubprocessFfmpeg(imageio_ffmpeg.get_ffmpeg_exe()))
    store = LocalContentStore(tmp_path / "ipfs")
    service = TranscodeService(MemoryCheckpointStore(), MemoryKeyStore(), store, ffmpeg)
    request = TranscodeRequest("video-twice", make_clip(tmp_path / "c.mp4", seconds=2), tmp_path / "work")

    first, second = await asyncio.gather(service.transcode(request), service.transcode(request))

    assert first == second
    assert len(ffmpeg.calls) == 4  # audio, 480p, cover, storyboard: once
    assert {p.name for p in files_under(store.root)} == set(first.manifest.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.mp4", "ipfs"]  # no work dir, no lock file


async def test_a_retry_on_a_machine_without_the_work_files_starts_over(tmp_path: Path) -> None:
    checkpoints = MemoryCheckpointStore()
    keys = MemoryKeyStore()
    store = LocalContentStore(tmp_path / "ipfs")
    ffmpeg = RecordingFfmpeg(SubprocessFfmpeg(imageio_ffmpeg.get_ffmpeg_exe()))
    request = TranscodeRequest("video-moved", make_clip(tmp_path / "c.mp4", seconds=2), tmp_path / "work")
    crashing = TranscodeService(checkpoints, keys, store, ffmpeg, with_unit(TRANSCODE, Publish480p()))
    with pytest.raises(UnitFailed):
        await crashing.transcode(request)
    first_run = len(ffmpeg.calls)
    shutil.rmtree(request.work_dir)  # the retry runs where these files never were

    result = await TranscodeService(checkpoints, keys, store, ffmpeg).transcode(request)

    assert len(ffmpeg.calls) == 2 * first_run
    # Every published address is stored. The crashed run's files stay in the content store: a
    # re-encode elsewhere is usually byte-identical (same CIDs) but x264/JPEG output is not
    # guaranteed to be under load, and a content-addressed store cannot tell whose file is whose.
    assert set(result.manifest.values()) <= {p.name for p in files_under(store.root)}
