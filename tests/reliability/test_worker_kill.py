"""A real `hypha worker` process SIGKILLed in the middle of a transcode: its saq job is swept and
retried by the next worker, which resumes from the checkpoints and publishes the video once.

(tests/integration/test_transcode_resume.py and test_studio_postgres.py stop a run inside the test
process; here the whole worker process dies, its database connections and ffmpeg child included.)

The studio queues transcodes with a two-minute heartbeat; to keep this test short the job is queued
here with a two-second one (same function, key and arguments), so a dead worker's job is stuck after
two seconds and the next worker sweeps it at start-up.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from uuid import UUID

import pytest
from injector import Binder, Injector, Module

from core.db import Database
from core.di import bind_port, build_injector, get_port
from core.jobs import JobQueue, MemoryJobQueue
from core.pipeline import CheckpointStore
from core.settings import Settings
from features.accounts.service import AccountService
from features.bootstrap import features_for
from features.studio.model import Video, VideoState
from features.studio.service import StudioService
from tests.support.media import make_clip

ROOT = Path(__file__).resolve().parents[2]


class HeldJobs(Module):
    """Jobs the studio queues are only recorded: the test queues the transcode itself."""

    def configure(self, binder: Binder) -> None:
        bind_port(binder, JobQueue, MemoryJobQueue())


@pytest.fixture
async def studio_without_queue(pg: Injector, settings: Settings) -> AsyncIterator[Injector]:
    injector = build_injector(settings, features_for(settings), HeldJobs())
    db = injector.get(Database)
    await db.start()
    try:
        yield injector
    finally:
        await db.stop()


class Workers:
    def __init__(self, settings: Settings) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "DATA_DIR": settings.data_dir,
            "SECRET_KEY": settings.secret_key,
            "WORKER_CONCURRENCY": "1",
        }
        self.started: list[subprocess.Popen[bytes]] = []
        self.logs = Path(tempfile.mkdtemp(prefix="hypha-worker-log-"))

    def start(self) -> subprocess.Popen[bytes]:
        log = (self.logs / f"worker-{len(self.started)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "features.bootstrap", "worker"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its ffmpeg children form one group, killed with it
        )
        self.started.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def output(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.logs.glob("*.log")))

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture
def workers(settings: Settings) -> Iterator[Workers]:
    running = Workers(settings)
    try:
        yield running
    finally:
        running.stop_all()


async def uploaded_video(injector: Injector) -> UUID:
    studio = injector.get(StudioService)
    owner = (await injector.get(AccountService).sign_up("killed@example.com", "long enough password")).id
    video = await studio.create_video(owner, "Killed mid-way")
    with tempfile.TemporaryDirectory() as tmp:
        data = make_clip(Path(tmp) / "clip.mp4", width=640, height=480, seconds=6.0).read_bytes()
    upload = await studio.create_upload(owner, video.public_id, len(data))

    async def body() -> AsyncIterator[bytes]:
        yield data

    await studio.receive(owner, upload.id, 0, body())
    return video.id


async def wait_for(what: str, check: Callable[[], Awaitable[bool]], workers: Workers, within: float) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await check():
        assert loop.time() < deadline, f"{what} within {within}s; worker output:\n{workers.output()}"
        await asyncio.sleep(0.05)


async def test_a_sigkilled_worker_s_transcode_is_swept_retried_and_published_once(
    pg: Injector, studio_without_queue: Injector, settings: Settings, workers: Workers
) -> None:
    video_id = await uploaded_video(studio_without_queue)
    studio = pg.get(StudioService)
    checkpoints = get_port(pg, CheckpointStore)
    await get_port(pg, JobQueue).enqueue(
        "transcode_video", key=f"transcode:{video_id}", timeout=600, heartbeat=2, retries=3, video_id=str(video_id)
    )

    async def converting_with_checkpoints() -> bool:
        video = await studio.get_video(video_id)
        assert video is not None
        assert video.state is not VideoState.READY, "finished before it could be killed: use a longer clip"
        return video.state is VideoState.CONVERTING and len(await checkpoints.completed(str(video_id))) >= 2

    first = workers.start()
    await wait_for("the first worker converts", converting_with_checkpoints, workers, within=60)
    done_before_kill = set(await checkpoints.completed(str(video_id)))
    workers.kill(first)
    assert (await studio.get_video(video_id)).state is VideoState.CONVERTING  # type: ignore[union-attr]

    await asyncio.sleep(2.5)  # the dead worker's heartbeat lapses
    workers.start()

    async def ready() -> bool:
        video = await studio.get_video(video_id)
        assert video is not None
        assert video.state is not VideoState.FAILED, video.failure_reason
        return video.state is VideoState.READY

    await wait_for("the second worker finishes the video", ready, workers, within=90)
    video: Video | None = await studio.get_video(video_id)
    assert video is not None
    assert video.playlist is not None
    assert done_before_kill <= set(await checkpoints.completed(str(video_id)))

    attempts = await pg.get(Database).fetchval(
        "SELECT (convert_from(job, 'UTF8')::jsonb ->> 'attempts')::int FROM saq_jobs WHERE key = $1",
        f"transcode:{video_id}",
    )
    assert attempts is not None
    assert attempts >= 2, "the job was not retried"

    store = Path(settings.data_dir) / "ipfs"
    stored = sorted(p for p in store.rglob("*") if p.is_file())
    assert not [p for p in stored if p.name.startswith(".incoming-")]
    names = [p.name for p in stored]
    assert len(names) == len(set(names))
    assert set(video.manifest.values()) <= set(names)
    assert not (Path(settings.data_dir) / "work" / str(video_id)).exists()
