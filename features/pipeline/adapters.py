"""Pipeline adapters: ffmpeg as a subprocess (and a recording wrapper), keys in PostgreSQL or memory."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import math
import os
import resource
import signal
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from piccolo.columns import Column

from core.db import Database
from core.numbers import whole_or_none
from core.settings import Settings
from features.pipeline.model import VideoKey
from features.pipeline.ports import FfmpegFailed, FfmpegRunner, KeyStore, ProgressCallback
from features.pipeline.tables import VideoKeyTable

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------
# ffmpeg
# --------------------------------------------------------------------------


MIN_CPU_SECONDS = 5  # ffmpeg's start-up alone; tiny clips still get this much


def _limit_cpu(seconds: int) -> None:
    """In the forked child, before exec: the kernel kills it after `seconds` of CPU time.

    Soft = hard limit on purpose: the kernel then sends SIGKILL at once. (ffmpeg catches SIGXCPU, the
    soft limit's signal, and exits 255 like any other error — the budget would not be recognisable.)"""
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds))


class SubprocessFfmpeg:
    """Runs the ffmpeg binary with `asyncio.create_subprocess_exec` (no shell).

    Progress comes from `-progress pipe:1` (key=value lines on stdout, `out_time_us` measured
    against the expected duration); stderr is drained concurrently and its last lines become the
    failure reason. Cancellation sends SIGTERM, waits `grace` seconds, then SIGKILL.

    CPU time: a run that knows its media's `duration` gets RLIMIT_CPU = duration × `cpu_multiple`
    seconds (at least MIN_CPU_SECONDS), set in the child before ffmpeg starts. The kernel counts the
    child's own user + system time across all its threads and kills it (SIGKILL) at the limit; such a
    run fails permanently with a reason naming the budget.
    """

    def __init__(
        self,
        binary: str,
        *,
        grace: float = 3.0,
        cpu_multiple: float | None = None,
        min_cpu_seconds: int = MIN_CPU_SECONDS,
    ) -> None:
        self.binary = binary
        self.grace = grace
        self.cpu_multiple = cpu_multiple
        self.min_cpu_seconds = min_cpu_seconds

    def cpu_budget(self, duration: float | None) -> int | None:
        """CPU seconds one ffmpeg run over media of `duration` seconds may use, or None (no limit)."""
        if not self.cpu_multiple or not duration or duration <= 0:
            return None
        return max(self.min_cpu_seconds, math.ceil(duration * self.cpu_multiple))

    async def run(
        self, args: Sequence[str], *, duration: float | None = None, on_progress: ProgressCallback | None = None
    ) -> None:
        budget = self.cpu_budget(duration)
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
            preexec_fn=None if budget is None else functools.partial(_limit_cpu, budget),
        )
        assert process.stdout is not None
        assert process.stderr is not None
        stderr_tail: deque[str] = deque(maxlen=8)
        drain = asyncio.create_task(_collect_lines(process.stderr, stderr_tail))
        try:
            async for raw in process.stdout:
                key, _, value = raw.decode(errors="replace").strip().partition("=")
                micros = whole_or_none(value, signed=True) if key == "out_time_us" else None
                if micros is not None and on_progress is not None and duration:
                    await on_progress(min(1.0, max(0.0, micros / 1_000_000 / duration)))
            returncode = await process.wait()
            await drain
        except BaseException:
            await self._stop(process)
            drain.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drain
            raise
        if budget is not None and returncode in (-signal.SIGXCPU, -signal.SIGKILL):
            raise FfmpegFailed(
                f"Processing needed more than its CPU-time budget of {budget} s "
                f"({self.cpu_multiple:g} × the video's {duration:.1f} s) and was stopped.",
                returncode,
                permanent=True,
            )
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


class KeySealer:
    """Seals video keys with AES-256-GCM under a key-encryption key derived (HKDF-SHA256) from a secret
    that is not in the database — KEY_ENCRYPTION_KEY, else SECRET_KEY — so a copy of the database
    alone does not open the videos. The run id is the associated data: a sealed key moved to another
    run does not open."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("sealing video keys needs a secret (KEY_ENCRYPTION_KEY or SECRET_KEY)")
        kek = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"hypha video keys v1").derive(secret.encode())
        self._aead = AESGCM(kek)
        self.kek_id = hashlib.sha256(b"kek-id:" + kek).hexdigest()[:16]

    @classmethod
    def from_settings(cls, settings: Settings) -> KeySealer:
        return cls(settings.key_encryption_key or settings.secret_key)

    def seal(self, run_id: str, key: VideoKey) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, key.key + key.iv, run_id.encode())

    def open(self, run_id: str, sealed: bytes) -> VideoKey:
        try:
            plain = self._aead.decrypt(sealed[:12], sealed[12:], run_id.encode())
        except InvalidTag as error:
            raise KeySealError(f"the key of {run_id} does not open: it was altered or moved") from error
        return VideoKey(plain[:16], plain[16:])


class KeySealError(Exception):
    """A stored video key cannot be opened with this process's key-encryption key."""


class PostgresKeyStore:
    """Keys in the `video_keys` table (migrations/0200, 0910), one row per run, sealed by a KeySealer."""

    def __init__(self, db: Database, sealer: KeySealer) -> None:
        self.db = db
        self.sealer = sealer

    async def ensure(self, run_id: str, candidate: VideoKey) -> VideoKey:
        sealed = VideoKeyTable(run_id=run_id, sealed=self.sealer.seal(run_id, candidate), kek_id=self.sealer.kek_id)
        await VideoKeyTable.insert(sealed).on_conflict(target=VideoKeyTable.run_id, action="DO NOTHING")
        stored = await self.get(run_id)
        assert stored is not None
        return stored

    async def get(self, run_id: str) -> VideoKey | None:
        # SQL: measured hot path (every key fetch): Piccolo's select costs ≈ 300–500 µs more CPU per call here
        row = await self.db.fetchrow("SELECT key, iv, sealed, kek_id FROM video_keys WHERE run_id = $1", run_id)
        if row is None:
            return None
        if row["sealed"] is None:  # written before keys were sealed: seal it now
            key = VideoKey(bytes(row["key"]), bytes(row["iv"]))
            resealed: dict[Column | str, Any] = {
                VideoKeyTable.sealed: self.sealer.seal(run_id, key),
                VideoKeyTable.kek_id: self.sealer.kek_id,
                VideoKeyTable.key: None,
                VideoKeyTable.iv: None,
            }
            await VideoKeyTable.update(resealed).where(
                (VideoKeyTable.run_id == run_id) & VideoKeyTable.sealed.is_null()
            )
            return key
        if row["kek_id"] != self.sealer.kek_id:
            raise KeySealError(
                f"the key of {run_id} was sealed under another key-encryption key ({row['kek_id']});"
                " start every process with the same KEY_ENCRYPTION_KEY / SECRET_KEY"
            )
        return self.sealer.open(run_id, bytes(row["sealed"]))

    async def delete(self, run_id: str) -> None:
        await VideoKeyTable.delete().where(VideoKeyTable.run_id == run_id)


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
    return [PostgresKeyStore(db, KeySealer("x")), MemoryKeyStore()], [runner, RecordingFfmpeg(runner)]
