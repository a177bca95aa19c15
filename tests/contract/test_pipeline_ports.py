"""The pipeline's ports, each run against its real and its in-memory (or recording) adapter."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import imageio_ffmpeg
import pytest
from injector import Injector

from core.db import Database
from features.pipeline.adapters import (
    KeySealer,
    KeySealError,
    MemoryKeyStore,
    PostgresKeyStore,
    RecordingFfmpeg,
    SubprocessFfmpeg,
)
from features.pipeline.model import VideoKey
from features.pipeline.ports import FfmpegFailed, FfmpegRunner, KeyStore

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


@pytest.fixture(params=["memory", "postgres"])
def keys(request: pytest.FixtureRequest) -> KeyStore:
    if request.param == "memory":
        return MemoryKeyStore()
    pg: Injector = request.getfixturevalue("pg")  # only the PostgreSQL param pays for emptying the database
    return PostgresKeyStore(pg.get(Database), KeySealer("contract secret"))


def key(seed: int) -> VideoKey:
    return VideoKey(bytes([seed]) * 16, bytes([seed + 1]) * 16)


async def test_the_first_key_of_a_run_is_kept_and_later_candidates_are_ignored(keys: KeyStore) -> None:
    assert await keys.get("run-1") is None
    assert await keys.ensure("run-1", key(1)) == key(1)
    assert await keys.ensure("run-1", key(7)) == key(1)
    assert await keys.get("run-1") == key(1)
    assert await keys.get("run-2") is None


async def test_concurrent_callers_of_one_run_all_get_the_same_key(keys: KeyStore) -> None:
    got = await asyncio.gather(*(keys.ensure("run-c", key(n)) for n in range(0, 40, 4)))
    assert len(set(got)) == 1
    assert await keys.get("run-c") == got[0]


async def test_a_deleted_key_is_gone_and_deleting_twice_is_fine(keys: KeyStore) -> None:
    await keys.ensure("run-d", key(3))
    await keys.delete("run-d")
    await keys.delete("run-d")
    assert await keys.get("run-d") is None
    assert await keys.ensure("run-d", key(9)) == key(9)


async def test_stored_keys_are_sealed_and_open_only_with_the_same_secret(pg: Injector) -> None:
    db = pg.get(Database)
    store = PostgresKeyStore(db, KeySealer("the secret"))
    await store.ensure("run-s", key(5))
    row = await db.fetchrow("SELECT key, iv, sealed FROM video_keys WHERE run_id = 'run-s'")
    assert row is not None
    assert row["key"] is None
    assert row["iv"] is None
    assert key(5).key not in bytes(row["sealed"])
    assert await PostgresKeyStore(db, KeySealer("the secret")).get("run-s") == key(5)  # another process
    with pytest.raises(KeySealError, match="another key-encryption key"):
        await PostgresKeyStore(db, KeySealer("another secret")).get("run-s")


async def test_a_sealed_key_moved_to_another_run_does_not_open(pg: Injector) -> None:
    db = pg.get(Database)
    store = PostgresKeyStore(db, KeySealer("the secret"))
    await store.ensure("run-a", key(1))
    await store.ensure("run-b", key(2))
    await db.execute(
        "UPDATE video_keys SET sealed = (SELECT sealed FROM video_keys WHERE run_id = 'run-a') WHERE run_id = 'run-b'"
    )
    with pytest.raises(KeySealError, match="altered or moved"):
        await store.get("run-b")


async def test_a_key_stored_before_sealing_still_opens_and_is_sealed_on_first_read(pg: Injector) -> None:
    db = pg.get(Database)
    await db.execute("INSERT INTO video_keys (run_id, key, iv) VALUES ('run-old', $1, $2)", key(4).key, key(4).iv)
    store = PostgresKeyStore(db, KeySealer("the secret"))
    assert await store.get("run-old") == key(4)
    row = await db.fetchrow("SELECT key, sealed FROM video_keys WHERE run_id = 'run-old'")
    assert row is not None
    assert row["key"] is None
    assert row["sealed"] is not None
    assert await store.get("run-old") == key(4)


def test_sealing_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="KEY_ENCRYPTION_KEY"):
        KeySealer("")


def test_a_key_and_an_iv_are_sixteen_bytes() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        VideoKey(b"short", bytes(16))


# --------------------------------------------------------------------------
# ffmpeg
# --------------------------------------------------------------------------


@pytest.fixture(params=["subprocess", "recording"])
def ffmpeg(request: pytest.FixtureRequest) -> FfmpegRunner:
    real = SubprocessFfmpeg(FFMPEG, grace=1.0)
    return real if request.param == "subprocess" else RecordingFfmpeg(real)


async def test_ffmpeg_reports_progress_up_to_the_end(ffmpeg: FfmpegRunner, tmp_path: Path) -> None:
    seen: list[float] = []

    async def report(fraction: float) -> None:
        seen.append(fraction)

    out = tmp_path / "tone.wav"
    await ffmpeg.run(["-f", "lavfi", "-i", "sine=duration=2", str(out)], duration=2.0, on_progress=report)
    assert out.stat().st_size > 0
    assert seen
    assert seen == sorted(seen)
    assert seen[-1] == pytest.approx(1.0, abs=0.05)


async def test_a_failing_ffmpeg_says_why(ffmpeg: FfmpegRunner, tmp_path: Path) -> None:
    with pytest.raises(FfmpegFailed, match="No such file") as failure:
        await ffmpeg.run(["-i", str(tmp_path / "missing.mp4"), str(tmp_path / "out.mp4")])
    assert failure.value.returncode not in (0, None)


def ffmpeg_processes_writing(path: Path) -> list[str]:
    listing = subprocess.run(["ps", "-eww", "-o", "pid,args"], capture_output=True, text=True, check=True).stdout
    return [line for line in listing.splitlines() if str(path) in line and "ps -eww" not in line]


async def test_cancelling_stops_the_ffmpeg_process(ffmpeg: FfmpegRunner, tmp_path: Path) -> None:
    out = tmp_path / "endless.wav"
    started = asyncio.Event()

    async def report(_fraction: float) -> None:
        started.set()

    task = asyncio.create_task(
        ffmpeg.run(["-re", "-f", "lavfi", "-i", "sine", str(out)], duration=3600.0, on_progress=report)
    )
    await asyncio.wait_for(started.wait(), 10)
    assert ffmpeg_processes_writing(out)
    began = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - began < 5
    assert ffmpeg_processes_writing(out) == []


async def test_a_progress_callback_that_raises_stops_ffmpeg_too(ffmpeg: FfmpegRunner, tmp_path: Path) -> None:
    out = tmp_path / "endless.wav"

    async def refuse(_fraction: float) -> None:
        raise RuntimeError("no more")

    with pytest.raises(RuntimeError, match="no more"):
        await ffmpeg.run(["-re", "-f", "lavfi", "-i", "sine", str(out)], duration=3600.0, on_progress=refuse)
    assert ffmpeg_processes_writing(out) == []


def test_the_recording_runner_remembers_the_commands() -> None:
    recording = RecordingFfmpeg(SubprocessFfmpeg(FFMPEG))
    asyncio.run(recording.run(["-f", "lavfi", "-i", "sine=duration=0.1", "-f", "null", "-"]))
    assert recording.calls == [["-f", "lavfi", "-i", "sine=duration=0.1", "-f", "null", "-"]]
