"""Abandoned tus uploads expire (issue 13 item 3, issue 11 item 8): the tus `expiration` extension.

Time is moved with a frozen clock on the real database and the real (filesystem) blob storage; the
cron job is called as the worker would call it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx
import pytest
from injector import Binder, Injector, InstanceProvider, Module

from core.clock import Clock, FrozenClock
from core.db import Database
from core.di import bind_port, build_injector, get_port
from core.events import EventBus
from core.postgres import PostgresEventBus, PostgresRateLimiter
from core.ratelimit import RateLimiter
from core.settings import Settings, SettingsError, load_settings
from core.storage import BlobStorage
from core.uow import UnitOfWork
from core.web import SESSION_COOKIE
from core.worker import build_worker
from features.bootstrap import features_for
from features.studio.jobs import expire_uploads
from features.studio.model import VideoState
from features.studio.module import FEATURE as STUDIO
from features.studio.service import StudioService
from tests.conftest import app_client
from tests.support.media import make_clip
from tests.support.studio import TUS, CreatedVideo, create_upload, create_video, tus_headers
from tests.support.videos import person, session_token
from tests.support.web import csrf_token

DAY = timedelta(hours=24)  # UPLOAD_EXPIRY's default
OFFSET_STREAM = "application/offset+octet-stream"


class FrozenTime(Module):
    """The shared database and a clock the test moves; everything else as in production."""

    def __init__(self, db: Database, clock: FrozenClock) -> None:
        self.db = db
        self.clock = clock

    def configure(self, binder: Binder) -> None:
        binder.bind(Database, to=InstanceProvider(self.db))
        bind_port(binder, UnitOfWork, self.db)
        bind_port(binder, Clock, self.clock)
        bind_port(binder, EventBus, PostgresEventBus(self.db))
        bind_port(binder, RateLimiter, PostgresRateLimiter(self.db, self.clock))


@pytest.fixture
def frozen(pg: Injector, settings: Settings) -> tuple[Injector, FrozenClock]:
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    return build_injector(settings, features_for(settings), FrozenTime(pg.get(Database), clock)), clock


@asynccontextmanager
async def creator_browser(injector: Injector, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    who = await person(injector, "Creator", creator=True)
    async with app_client(injector, settings) as client:
        client.cookies.set(SESSION_COOKIE, await session_token(injector, who))
        await csrf_token(client, "/login")
        yield client


async def send(client: httpx.AsyncClient, location: str, data: bytes, offset: int = 0) -> httpx.Response:
    headers = tus_headers(client, **{"Upload-Offset": str(offset), "Content-Type": OFFSET_STREAM})
    return await client.patch(location, content=data, headers=headers)


def expires(response: httpx.Response) -> datetime:
    value = response.headers["upload-expires"]
    assert value.endswith(" GMT")  # RFC 7231 IMF-fixdate
    return parsedate_to_datetime(value)


async def video_state(injector: Injector, video: CreatedVideo) -> tuple[VideoState, str | None]:
    found = await injector.get(StudioService).get_video(video.id)
    assert found is not None
    return found.state, found.failure_reason


async def test_an_abandoned_upload_is_deleted_with_its_bytes_and_a_fresh_one_is_kept(
    frozen: tuple[Injector, FrozenClock], settings: Settings
) -> None:
    injector, clock = frozen
    storage = get_port(injector, BlobStorage)
    async with creator_browser(injector, settings) as client:
        old_video, fresh_video = await create_video(client, "Abandoned"), await create_video(client, "Fresh")
        old = (await create_upload(client, old_video, 5000)).headers["location"]
        assert (await send(client, old, b"a" * 1000)).status_code == 204
        old_key = f"uploads/{old.rsplit('/', 1)[1]}"
        assert await storage.size(old_key) == 1000

        clock.advance(DAY - timedelta(hours=1))
        fresh = (await create_upload(client, fresh_video, 5000)).headers["location"]
        assert (await send(client, fresh, b"b" * 700)).status_code == 204
        fresh_key = f"uploads/{fresh.rsplit('/', 1)[1]}"

        clock.advance(timedelta(hours=1, seconds=1))  # the first one has had no byte for 24 h
        gone = await client.head(old, headers=TUS)
        assert gone.status_code == 410  # expired, even before the cron job runs
        assert "expired" in gone.text or gone.text == ""
        refused = await send(client, old, b"a" * 10, offset=1000)
        assert refused.status_code == 410

        assert await expire_uploads({"injector": injector}) == 1
        assert not await storage.exists(old_key)  # the bytes are gone
        assert await injector.get(Database).fetchval("SELECT count(*) FROM tus_uploads WHERE id = $1", old[9:]) == 0
        assert (await client.head(old, headers=TUS)).status_code in (404, 410)
        state, reason = await video_state(injector, old_video)
        assert state is VideoState.DRAFT
        assert reason is not None
        assert "did not finish in time" in reason

        assert await storage.size(fresh_key) == 700  # the fresh one is untouched
        kept = await client.head(fresh, headers=TUS)
        assert kept.status_code == 200
        assert kept.headers["upload-offset"] == "700"
        assert (await video_state(injector, fresh_video))[0] is VideoState.UPLOADING

        # the studio tile says what happened, and the creator can upload again
        page = await client.get("/studio")
        assert "did not finish in time" in page.text
        again = await create_upload(client, old_video, 5000)
        assert again.status_code == 201
        state, reason = await video_state(injector, old_video)
        assert (state, reason) == (VideoState.UPLOADING, None)


async def test_bytes_arriving_keep_an_upload_alive_and_move_upload_expires(
    frozen: tuple[Injector, FrozenClock], settings: Settings
) -> None:
    injector, clock = frozen
    async with creator_browser(injector, settings) as client:
        options = await client.options("/uploads/")
        assert "expiration" in options.headers["tus-extension"].split(",")
        video = await create_video(client, "Slow line")
        created = await create_upload(client, video, 3000)
        assert created.status_code == 201
        assert expires(created) == clock.now() + DAY
        location = created.headers["location"]
        for step in range(3):  # a byte now and then: 20 h apart, 60 h in all
            clock.advance(timedelta(hours=20))
            sent = await send(client, location, b"x" * 100, offset=step * 100)
            assert sent.status_code == 204
            assert expires(sent) == clock.now() + DAY
            assert await expire_uploads({"injector": injector}) == 0
        head = await client.head(location, headers=TUS)
        assert head.status_code == 200
        assert expires(head) == clock.now() + DAY
        assert head.headers["upload-offset"] == "300"


async def test_a_finished_upload_answers_head_until_it_expires_and_its_bytes_stay_the_source(
    frozen: tuple[Injector, FrozenClock], settings: Settings, tmp_path: Path
) -> None:
    injector, clock = frozen
    storage = get_port(injector, BlobStorage)
    clip = make_clip(tmp_path / "clip.mp4", seconds=1.0).read_bytes()
    async with creator_browser(injector, settings) as client:
        video = await create_video(client, "Finished")
        location = (await create_upload(client, video, len(clip))).headers["location"]
        done = await send(client, location, clip)
        assert done.status_code == 204
        assert (await video_state(injector, video))[0] is VideoState.UPLOADED

        clock.advance(DAY - timedelta(minutes=1))
        head = await client.head(location, headers=TUS)
        assert head.status_code == 200
        assert head.headers["upload-offset"] == head.headers["upload-length"] == str(len(clip))
        repeat = await send(client, location, b"", offset=len(clip))  # a retried last PATCH: nothing to do
        assert repeat.status_code == 204
        assert repeat.headers["upload-offset"] == str(len(clip))

        clock.advance(timedelta(minutes=2))
        assert (await client.head(location, headers=TUS)).status_code == 410
        assert await expire_uploads({"injector": injector}) == 1
        assert (await client.head(location, headers=TUS)).status_code == 404
        found = await injector.get(StudioService).get_video(video.id)
        assert found is not None
        assert found.state is VideoState.UPLOADED  # the video keeps its file
        assert found.source_key is not None
        assert await storage.read(found.source_key) == clip


async def test_terminating_a_finished_upload_forgets_it_but_keeps_the_videos_file(
    client: httpx.AsyncClient, pg: Injector, tmp_path: Path
) -> None:
    from tests.support.studio import sign_up_creator

    await sign_up_creator(client, "keep@example.com")
    video = await create_video(client, "Keep")
    clip = make_clip(tmp_path / "clip.mp4", seconds=1.0).read_bytes()
    location = (await create_upload(client, video, len(clip))).headers["location"]
    assert (await send(client, location, clip)).status_code == 204
    assert (await client.delete(location, headers=tus_headers(client))).status_code == 204
    assert (await client.head(location, headers=TUS)).status_code == 404
    found = await pg.get(StudioService).get_video(video.id)
    assert found is not None
    assert found.state is VideoState.UPLOADED
    assert found.source_key is not None
    assert await get_port(pg, BlobStorage).read(found.source_key) == clip


def test_the_expiry_cron_job_is_registered_with_the_worker(settings: Settings, real_injector: Injector) -> None:
    specs = {spec.function: spec for spec in STUDIO.cron_jobs}
    assert expire_uploads in specs
    assert specs[expire_uploads].cron == "*/15 * * * *"
    worker = build_worker(settings, real_injector, features_for(settings))
    assert any(cron.function is expire_uploads for cron in worker.cron_jobs)


@pytest.mark.parametrize("value", ["abc", "²", "10", "-5", str(10**9)])
def test_a_bad_upload_expiry_stops_start_up_naming_the_setting(value: str) -> None:
    with pytest.raises(SettingsError, match="UPLOAD_EXPIRY"):
        load_settings({"UPLOAD_EXPIRY": value})


def test_upload_expiry_is_read_in_seconds() -> None:
    assert load_settings({}).upload_expiry == 24 * 3600
    assert load_settings({"UPLOAD_EXPIRY": "3600"}).upload_expiry == 3600
