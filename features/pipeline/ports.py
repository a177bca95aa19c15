"""What the pipeline needs from the outside: ffmpeg, a key store and a content-addressed store.

The content store's adapters are in `features.pipeline.content_store`; its errors (ContentStoreError,
ContentNotFound) in `features.pipeline.model`, where other features may catch them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

from features.pipeline.model import VideoKey

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


@runtime_checkable
class ContentStore(Protocol):
    """A place that keeps files by their IPFS CID.

    Implementations must agree on addresses: for the same bytes every store's
    :meth:`put_file` returns :func:`features.pipeline.ipfs.cid_of_file` of them.
    """

    async def put_file(self, path: Path) -> str:
        """Store the file at ``path`` and return its CID.

        Idempotent: putting the same bytes again returns the same CID and does
        not store a second copy.  Never returns a CID that was not computed
        locally from the bytes actually stored.

        Raises :class:`OSError` if ``path`` cannot be read and
        :class:`ContentStoreError` if the store fails or disagrees on the CID.
        """
        ...

    async def has(self, cid: str) -> bool:
        """Whether the store holds content under ``cid`` (``False`` for non-canonical CIDs).

        Raises :class:`ContentStoreError` only if the store cannot be asked.
        """
        ...

    async def read(self, cid: str, offset: int = 0, length: int | None = None) -> bytes:
        """Return the stored bytes ``[offset, offset + length)`` (to the end if ``length`` is ``None``).

        A range past the end is truncated (possibly to ``b""``), as for a file.
        Raises :class:`ContentNotFound` if the store does not hold ``cid``,
        :class:`ValueError` for a negative ``offset`` or ``length``, and
        :class:`ContentStoreError` if the store fails or returns bytes that do
        not match ``cid``.
        """
        ...

    async def size(self, cid: str) -> int:
        """Size in bytes of the file stored under ``cid``.

        Raises :class:`ContentNotFound` if the store does not hold ``cid`` and
        :class:`ContentStoreError` if the store fails.
        """
        ...

    async def remove(self, cid: str) -> None:
        """Stop keeping ``cid`` (a file nothing references any more, such as a superseded master
        playlist); a later :meth:`put_file` of the same bytes stores it again.

        Idempotent: an absent or non-canonical CID is no error. Raises
        :class:`ContentStoreError` if the store fails.
        """
        ...
