"""A run's work directory on this machine's disk:

    <work_dir>/out/      clear files, one part per unit: subs/, audio/, 480p/, 720p/, 1080p/, cover.jpg,
                         master.m3u8 (rewritten as each rendition is published) —
                         each written under a `.<name>.partial` name and renamed when
                         complete, so a unit killed midway leaves nothing a re-run could mistake for
                         its output (the re-run clears the partial and starts the unit again)
    <work_dir>/sealed/   what is published: segments AES-128 encrypted, playlists with #EXT-X-KEY —
                         the base rendition with the audio and subtitles first, then each higher one

`<work_dir>.lock` beside it holds the run's lock, and `<work_dir>/.run` the token of the
ConvertingInitial that made it (see `work_dir_matches`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

from core.pipeline import Output
from features.pipeline.model import (
    TranscodeRequest,
)

RUN_MARKER = ".run"  # in the work dir: which ConvertingInitial made it (see `work_dir_matches`)
LOCK_POLL_SECONDS = 0.2


def out_dir(request: TranscodeRequest) -> Path:
    return request.work_dir.resolve() / "out"


def sealed_dir(request: TranscodeRequest) -> Path:
    return request.work_dir.resolve() / "sealed"


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """A fresh `.<name>.partial` directory beside `final`, renamed to `final` if the block succeeds.

    Any leftover partial from a killed attempt is removed first; on any exception (cancellation
    included) the partial is removed, so only complete outputs ever carry their final name.
    """
    partial = final.with_name(f".{final.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)


@contextlib.contextmanager
def staged_file(final: Path) -> Iterator[Path]:
    """Like `staged_dir`, for a single file: write to the yielded path; it replaces `final` on success."""
    partial = final.with_name(f".{final.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        yield partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if not partial.is_file():
        raise RuntimeError(f"{final.name} was not produced")
    os.replace(partial, final)


def work_dir_matches(outputs: Mapping[str, Output], request: TranscodeRequest) -> bool:
    """Whether the work dir still holds what the recorded units left there.

    Checkpoints live in the database, the work dir on one machine's disk: a retry that lands on
    another machine, or after the dir was wiped, finds the checkpoints but not the files. The run
    can resume only if the dir carries the token of the recorded ConvertingInitial — or if nothing
    in the dir is needed any more (everything is published).
    """
    initial = outputs.get("ConvertingInitial")
    if initial is None or "PublishToIPFS" in outputs or "Publish1080p" in outputs:
        return True
    try:
        return (request.work_dir / RUN_MARKER).read_text() == initial.get("work_token")
    except OSError:
        return False


@contextlib.asynccontextmanager
async def run_lock(work_dir: Path) -> AsyncIterator[None]:
    """Hold the run's lock (an flock'ed file beside its work dir) for the block; wait while another
    task or process on this machine holds it, so two deliveries of one job never share a work dir.

    The lock file is removed on release; a waiter that wins the lock on a file removed meanwhile
    notices (the path no longer names its inode) and tries again.
    """
    work_dir = work_dir.resolve()
    path = work_dir.with_name(work_dir.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(LOCK_POLL_SECONDS)
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                try:
                    yield
                finally:
                    path.unlink(missing_ok=True)
                return
        finally:
            os.close(fd)  # releases the lock
