"""What the pipeline needs from the outside: ffmpeg, a key store and a content-addressed store.

`ContentStore` lives in `features.pipeline.content_store` beside its adapters and is re-exported here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from features.pipeline.content_store import ContentStore
from features.pipeline.model import VideoKey

__all__ = ["ContentStore", "FfmpegFailed", "FfmpegRunner", "KeyStore", "ProgressCallback"]

ProgressCallback = Callable[[float], Awaitable[None]]


class FfmpegFailed(Exception):
    """ffmpeg exited with an error; `reason` holds the last lines it wrote on stderr."""

    def __init__(self, reason: str, returncode: int | None = None, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.returncode = returncode
        self.permanent = permanent  # running it again cannot succeed (its CPU-time budget ran out)


class FfmpegRunner(Protocol):
    """Runs one ffmpeg command to completion."""

    async def run(
        self, args: Sequence[str], *, duration: float | None = None, on_progress: ProgressCallback | None = None
    ) -> None:
        """Run ffmpeg with `args` (everything after the global options; no shell is involved).

        Reports the fraction done (0..1, from ffmpeg's `-progress` output measured against
        `duration` seconds) to `on_progress`. Raises FfmpegFailed when ffmpeg exits non-zero — a
        permanent one when it used more CPU time than `duration` × the runner's allowed multiple. If the
        caller is cancelled, or `on_progress` raises, the process is terminated (then killed) before
        the exception propagates; the caller removes partial outputs.
        """
        ...


class KeyStore(Protocol):
    """Keeps each video's AES-128 key and IV, out of reach of anything that is published."""

    async def ensure(self, run_id: str, candidate: VideoKey) -> VideoKey:
        """The key of `run_id`: `candidate` stored if none exists yet, else the one already stored.

        Idempotent and safe under concurrency: every caller for a run gets the same key.
        """
        ...

    async def get(self, run_id: str) -> VideoKey | None:
        """The key of `run_id`, or None."""
        ...

    async def delete(self, run_id: str) -> None:
        """Forget the key of `run_id` (its segments become unreadable); no error if there is none."""
        ...
