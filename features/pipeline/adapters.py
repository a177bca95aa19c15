"""Pipeline adapters: ffmpeg as a subprocess (and a recording wrapper), keys in PostgreSQL or memory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.db import Database
from features.pipeline.model import VideoKey
from features.pipeline.ports import FfmpegFailed, FfmpegRunner, KeyStore, ProgressCallback

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------
# ffmpeg
# --------------------------------------------------------------------------


class SubprocessFfmpeg:
    """Runs the ffmpeg binary with `asyncio.create_subprocess_exec` (no shell).

    Progress comes from `-progress pipe:1` (key=value lines on stdout, `out_time_us` measured
    against the expected duration); stderr is drained concurrently and its last lines become the
    failure reason. Cancellation sends SIGTERM, waits `grace` seconds, then SIGKILL.
    """

    def __init__(self, binary: str, *, grace: float = 3.0) -> None:
        self.binary = binary
        self.grace = grace

    async def run(
        self, args: Sequence[str], *, duration: float | None = None, on_progress: ProgressCallback | None = None
    ) -> None:
        process = await asyncio.create_subprocess_exec(
            self.binary,
            "-hide_banner",
            "-nostdin",
            "-nostats",
            "-loglevel",
            "error",
            "-progress",
            "pipe:1",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        assert process.stderr is not None
        stderr_tail: deque[str] = deque(maxlen=8)
        drain = asyncio.create_task(_collect_lines(process.stderr, stderr_tail))
        try:
            async for raw in process.stdout:
                key, _, value = raw.decode(errors="replace").strip().partition("=")
                if key == "out_time_us" and on_progress is not None and duration and value.lstrip("-").isdigit():
                    await on_progress(min(1.0, max(0.0, int(value) / 1_000_000 / duration)))
            returncode = await process.wait()
            await drain
        except BaseException:
            await self._stop(process)
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
            raise
        if returncode != 0:
            detail = " / ".join(line for line in stderr_tail if line) or "no error message"
            raise FfmpegFailed(f"ffmpeg exited with code {returncode}: {detail}", returncode)

    async def _stop(self, process: asyncio.subprocess.Process) -> None:
        if process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(asyncio.shield(process.wait()), self.grace)
        except TimeoutError:
            log.warning("ffmpeg (pid %s) ignored SIGTERM; killing it", process.pid)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


async def _collect_lines(stream: asyncio.StreamReader, tail: deque[str]) -> None:
    async for raw in stream:
        tail.append(raw.decode(errors="replace").strip())


@dataclass
class RecordingFfmpeg:
    """Wraps another runner and records every command it is asked to run (for tests and benchmarks)."""

    inner: FfmpegRunner
    calls: list[list[str]] = field(default_factory=list)

    async def run(
        self, args: Sequence[str], *, duration: float | None = None, on_progress: ProgressCallback | None = None
    ) -> None:
        self.calls.append(list(args))
        await self.inner.run(args, duration=duration, on_progress=on_progress)


# --------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------


class PostgresKeyStore:
    """Keys in the `video_keys` table (migrations/0200_pipeline.sql), one row per run."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def ensure(self, run_id: str, candidate: VideoKey) -> VideoKey:
        await self.db.execute(
            "INSERT INTO video_keys (run_id, key, iv) VALUES ($1, $2, $3) ON CONFLICT (run_id) DO NOTHING",
            run_id,
            candidate.key,
            candidate.iv,
        )
        stored = await self.get(run_id)
        assert stored is not None
        return stored

    async def get(self, run_id: str) -> VideoKey | None:
        row = await self.db.fetchrow("SELECT key, iv FROM video_keys WHERE run_id = $1", run_id)
        return VideoKey(bytes(row["key"]), bytes(row["iv"])) if row else None

    async def delete(self, run_id: str) -> None:
        await self.db.execute("DELETE FROM video_keys WHERE run_id = $1", run_id)


class MemoryKeyStore:
    def __init__(self) -> None:
        self._keys: dict[str, VideoKey] = {}

    async def ensure(self, run_id: str, candidate: VideoKey) -> VideoKey:
        return self._keys.setdefault(run_id, candidate)

    async def get(self, run_id: str) -> VideoKey | None:
        return self._keys.get(run_id)

    async def delete(self, run_id: str) -> None:
        self._keys.pop(run_id, None)


def _implementations(db: Database, runner: SubprocessFfmpeg) -> tuple[list[KeyStore], list[FfmpegRunner]]:
    """Checked by mypy: every adapter satisfies its port."""
    return [PostgresKeyStore(db), MemoryKeyStore()], [runner, RecordingFfmpeg(runner)]
