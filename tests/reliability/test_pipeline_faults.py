"""Faults inside the pipeline: ffmpeg crashing, the disk filling up. The video ends FAILED with a
reason a creator can read, and nothing of it is half-published (no CIDs recorded for it, nothing in
the content store); the work left behind does not stop a retry from finishing.

The faults come in through the injector: a fake ffmpeg executable (Settings.ffmpeg_binary) that
fails while a flag file says so and otherwise runs the real one, and a content store whose disk is
full after a few files.
"""

from __future__ import annotations

import errno
import shutil
import stat
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import msgspec
import pytest
from injector import Binder, Injector, Module

from core.db import Database
from core.di import bind_port, build_injector, get_port
from core.settings import Settings
from features.accounts.service import AccountService
from features.bootstrap import features_for
from features.pipeline.content_store import LocalContentStore
from features.pipeline.ports import ContentStore
from features.studio.model import Video, VideoState
from features.studio.service import StudioService
from tests.support.media import FFMPEG, make_clip

FAKE_FFMPEG = """#!/bin/sh
# Fails like ffmpeg would while {flag} exists (its text goes to stderr); otherwise the real ffmpeg.
if [ -f "{flag}" ]; then
    for last; do :; done
    case "$last" in *.m3u8|*.ts|*.m4a|*.mp4|*.jpg) printf 'partial' > "$last" 2>/dev/null ;; esac
    cat "{flag}" >&2
    exit 1
fi
exec "{real}" "$@"
"""


class FullDiskContentStore(LocalContentStore):
    """The local content store on a disk that fills up after `room` files."""

    def __init__(self, root: Path, room: int) -> None:
        super().__init__(root)
        self.room = room

    async def put_file(self, path: Path) -> str:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        self.room -= 1
        return await super().put_file(path)


@dataclass
class Faulty:
    injector: Injector
    root: Path
    flag: Path

    @property
    def store(self) -> Path:
        return self.root / "data" / "ipfs"

    @property
    def work(self) -> Path:
        return self.root / "data" / "work"

    def published_files(self) -> list[Path]:
        return [p for p in self.store.rglob("*") if p.is_file()] if self.store.exists() else []


@pytest.fixture
def root() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="hypha-faults-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def faulty_app(root: Path, settings: Settings, *overrides: Module) -> AsyncIterator[Faulty]:
    flag = root / "ffmpeg-fails"
    fake = root / "ffmpeg"
    fake.write_text(FAKE_FFMPEG.format(flag=flag, real=FFMPEG))
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    own = msgspec.structs.replace(settings, data_dir=str(root / "data"), ffmpeg_binary=str(fake))
    injector = build_injector(own, features_for(own), *overrides)
    db = injector.get(Database)
    await db.start()
    try:
        yield Faulty(injector, root, flag)
    finally:
        await db.stop()


@pytest.fixture
async def crashing(pg: Injector, settings: Settings, root: Path) -> AsyncIterator[Faulty]:
    async for faulty in faulty_app(root, settings):
        yield faulty


@pytest.fixture
async def full_disk(pg: Injector, settings: Settings, root: Path) -> AsyncIterator[Faulty]:
    store = FullDiskContentStore(root / "data" / "ipfs", room=2)

    class FullDisk(Module):
        def configure(self, binder: Binder) -> None:
            bind_port(binder, ContentStore, store)

    async for faulty in faulty_app(root, settings, FullDisk()):
        yield faulty


async def uploaded_video(faulty: Faulty, email: str) -> tuple[UUID, UUID]:
    """(owner, video) with a one-second clip uploaded and waiting to be processed."""
    studio = faulty.injector.get(StudioService)
    owner = (await faulty.injector.get(AccountService).sign_up(email, "long enough password")).id
    video = await studio.create_video(owner, "Fragile")
    data = make_clip(faulty.root / "clip.mp4", seconds=1.0).read_bytes()
    upload = await studio.create_upload(owner, video.public_id, len(data))

    async def body() -> AsyncIterator[bytes]:
        yield data

    await studio.receive(owner, upload.id, 0, body())
    return owner, video.id


def assert_failed_and_unpublished(video: Video | None, *words: str) -> Video:
    assert video is not None
    assert video.state is VideoState.FAILED
    assert video.failure_reason
    for word in words:
        assert word in video.failure_reason, video.failure_reason
    assert video.playlist is None
    assert not video.manifest
    assert video.fallback_cover_image is None
    assert not video.video_tracks
    return video


async def retry_to_ready(faulty: Faulty, owner: UUID, video_id: UUID) -> Video:
    studio = faulty.injector.get(StudioService)
    await studio.retry(owner, video_id)
    done = await studio.process(video_id)
    assert done is not None
    assert done.state is VideoState.READY, done.failure_reason
    assert done.playlist is not None
    assert not (faulty.work / str(video_id)).exists()
    return done


async def test_ffmpeg_crashing_fails_the_video_with_its_message_and_publishes_nothing(crashing: Faulty) -> None:
    owner, video_id = await uploaded_video(crashing, "crash@example.com")
    crashing.flag.write_text("Conversion failed: simulated encoder crash\n")

    failed = await crashing.injector.get(StudioService).process(video_id)

    assert_failed_and_unpublished(failed, "simulated encoder crash")
    assert crashing.published_files() == []

    crashing.flag.unlink()  # ffmpeg works again: the creator retries, the leftovers do not get in the way
    done = await retry_to_ready(crashing, owner, video_id)
    assert set(done.manifest.values()) <= {p.name for p in crashing.published_files()}


async def test_ffmpeg_running_out_of_disk_fails_the_video_with_the_reason_and_publishes_nothing(
    crashing: Faulty,
) -> None:
    owner, video_id = await uploaded_video(crashing, "enospc@example.com")
    crashing.flag.write_text("Error writing trailer: No space left on device\n")

    failed = await crashing.injector.get(StudioService).process(video_id)

    assert_failed_and_unpublished(failed, "No space left on device")
    assert crashing.published_files() == []
    crashing.flag.unlink()
    await retry_to_ready(crashing, owner, video_id)


async def test_a_full_disk_while_publishing_fails_the_video_and_records_no_cids(full_disk: Faulty) -> None:
    owner, video_id = await uploaded_video(full_disk, "full@example.com")

    failed = await full_disk.injector.get(StudioService).process(video_id)

    assert_failed_and_unpublished(failed, "No space left on device")
    # The files stored before the disk filled stay as unreferenced blobs (a content-addressed store
    # cannot tell whether another video shares them); no video points at them, and a retry reuses them.
    orphans = {p.name for p in full_disk.published_files()}
    assert len(orphans) <= 2

    get_port(full_disk.injector, ContentStore).room = 1_000  # type: ignore[attr-defined]
    done = await retry_to_ready(full_disk, owner, video_id)
    assert orphans <= set(done.manifest.values())
