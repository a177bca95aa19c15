"""Quotas and the fair transcoding queue on real PostgreSQL: over HTTP (tus 413, the usage bar, the
staff form) and where concurrency matters (parallel creates, parallel workers claiming videos)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from injector import Injector

from core.db import Database
from core.di import get_port
from core.ids import uuid7
from core.settings import Settings
from core.uow import UnitOfWork
from core.web import SESSION_COOKIE
from features.accounts.service import AccountService
from features.studio.model import QuotaExceeded, Video, VideoState
from features.studio.ports import VideoRepository
from features.studio.service import StudioService, job_key_for
from tests.conftest import app_client
from tests.support.media import make_clip
from tests.support.studio import create_upload, create_video, sign_up_creator
from tests.support.videos import session_token, staff_person
from tests.support.web import post_form

MB = 1024 * 1024


async def creator(pg: Injector, email: str) -> UUID:
    accounts = pg.get(AccountService)
    user = await accounts.sign_up(email, "long enough password")
    return (await accounts.become_creator(user.id)).id


async def one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def uploaded(studio: StudioService, owner: UUID, title: str, clip: bytes) -> Video:
    video = await studio.create_video(owner, title)
    upload = await studio.create_upload(owner, video.public_id, len(clip), "clip.mp4")
    await studio.receive(owner, upload.id, 0, one_chunk(clip), len(clip))
    found = await studio.get_video(video.id)
    assert found is not None
    assert found.state is VideoState.UPLOADED, found.failure_reason
    return found


async def claim(pg: Injector, job_key: str) -> Video | None:
    """What a transcode job does first (StudioService.process_next): claim the next video, mark it converting."""
    async with get_port(pg, UnitOfWork).atomic():
        video = await get_port(pg, VideoRepository).claim_next(job_key)
        if video is None:
            return None
        video.start_converting(video.updated_at)
        await get_port(pg, VideoRepository).save(video)
    return video


async def test_a_second_creators_video_is_picked_after_at_most_one_of_the_first_creators(
    pg: Injector, tmp_path: Path
) -> None:
    studio = pg.get(StudioService)
    clip = make_clip(tmp_path / "clip.mp4", seconds=0.5).read_bytes()
    ada, bob = await creator(pg, "ada@example.com"), await creator(pg, "bob@example.com")
    adas = [await uploaded(studio, ada, f"Ada {n}", clip) for n in range(6)]
    bobs = await uploaded(studio, bob, "Bob's first", clip)
    positions = {v.id: (await studio.tile(v)).queue_position for v in [*adas, bobs]}
    assert positions[bobs.id] == 1  # FIFO would say 6

    # two workers claim at once: SKIP LOCKED hands them different videos
    first, second = await asyncio.gather(claim(pg, job_key_for(uuid7())), claim(pg, job_key_for(uuid7())))
    assert first is not None
    assert second is not None
    assert {first.id, second.id} == {adas[0].id, bobs.id}
    rest = [await claim(pg, job_key_for(uuid7())) for _ in range(5)]
    assert [v.id for v in rest if v is not None] == [v.id for v in adas[1:]]
    assert await claim(pg, job_key_for(uuid7())) is None
    order = {v.id: positions[v.id] for v in rest if v is not None}
    assert list(order.values()) == sorted(order.values())


async def test_a_job_delivered_again_resumes_the_video_it_claimed(pg: Injector, tmp_path: Path) -> None:
    studio = pg.get(StudioService)
    clip = make_clip(tmp_path / "clip.mp4", seconds=0.5).read_bytes()
    ada = await creator(pg, "ada@example.com")
    one = await uploaded(studio, ada, "One", clip)
    await uploaded(studio, ada, "Two", clip)
    job = job_key_for(one.id)
    claimed = await claim(pg, job)
    assert claimed is not None
    again = await claim(pg, job)  # the worker died; saq delivers the same job again
    assert again is not None
    assert again.id == claimed.id
    stored = await studio.get_video(claimed.id)
    assert stored is not None
    assert stored.transcode_job == job


async def test_concurrent_creates_never_jointly_pass_the_storage_quota(pg: Injector) -> None:
    studio = pg.get(StudioService)
    ada = await creator(pg, "ada@example.com")
    await studio.set_quota(ada, storage_bytes=10 * MB, daily_upload_bytes=None)
    videos = [await studio.create_video(ada, f"V{n}") for n in range(6)]

    results = await asyncio.gather(
        *(studio.create_upload(ada, v.public_id, 3 * MB) for v in videos), return_exceptions=True
    )

    accepted = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, QuotaExceeded)]
    assert (len(accepted), len(refused)) == (3, 3)
    reserved = await pg.get(Database).fetchval("SELECT sum(length) FROM tus_uploads WHERE owner_id = $1", ada)
    assert reserved == 9 * MB
    assert (await studio.quota_usage(ada)).stored_bytes == 9 * MB


async def test_a_tus_create_over_quota_is_a_413_naming_the_quota_and_nothing_is_stored(
    client: httpx.AsyncClient, pg: Injector, settings: Settings
) -> None:
    await sign_up_creator(client, "grace@example.com")
    db = pg.get(Database)
    owner = await db.fetchval("SELECT id FROM users WHERE email = 'grace@example.com'")
    await pg.get(StudioService).set_quota(owner, storage_bytes=5 * MB, daily_upload_bytes=8 * MB)
    video = await create_video(client)
    blobs_before = sorted(p.relative_to(settings.data_path) for p in settings.data_path.rglob("*") if p.is_file())

    refused = await create_upload(client, video, 5 * MB + 1)

    assert refused.status_code == 413
    assert refused.headers["content-type"].startswith("text/plain")
    assert "storage quota" in refused.text
    assert "0 bytes of 5 MB" in refused.text
    assert await db.fetchval("SELECT count(*) FROM tus_uploads") == 0
    assert await db.fetchval("SELECT count(*) FROM upload_allowance") == 0
    blobs_after = sorted(p.relative_to(settings.data_path) for p in settings.data_path.rglob("*") if p.is_file())
    assert blobs_after == blobs_before
    assert (await pg.get(StudioService).get_video(video.id)).state is VideoState.DRAFT  # type: ignore[union-attr]

    at_edge = await create_upload(client, video, 5 * MB)
    assert at_edge.status_code == 201
    page = await client.get("/studio")
    bar = r'role="progressbar"[^>]*aria-labelledby="quota-(\w+)-label"[^>]*aria-valuenow="(\d+)"'
    bars = re.findall(bar, page.text)
    assert ("storage", "100") in bars
    assert ("daily", "62") in bars  # 5 of 8 MB
    assert "5 MB of 5 MB" in page.text


async def test_staff_override_a_creators_quota_with_a_form_that_rejects_bad_figures(
    client: httpx.AsyncClient, pg: Injector, settings: Settings
) -> None:
    ada = await creator(pg, "ada@example.com")
    async with app_client(pg, settings) as staff:
        staff.cookies.set(SESSION_COOKIE, await session_token(pg, await staff_person(pg)))
        await staff.get("/")
        page = await staff.get(f"/staff/quotas/{ada}")
        assert page.status_code == 200
        assert 'role="progressbar"' in page.text

        bad = await post_form(staff, f"/staff/quotas/{ada}", {"storage_mb": "-5", "daily_upload_mb": "1e9"})
        assert bad.status_code == 422
        assert "Storage must be a whole number of megabytes" in bad.text
        assert "Daily uploads must be a whole number of megabytes" in bad.text
        assert (await pg.get(StudioService).quota_usage(ada)).overridden is False

        saved = await post_form(staff, f"/staff/quotas/{ada}", {"storage_mb": "2048", "daily_upload_mb": ""})
        assert saved.status_code == 303
        usage = await pg.get(StudioService).quota_usage(ada)
        assert usage.quota.storage_bytes == 2048 * MB
        assert usage.quota.daily_upload_bytes == settings.quota_daily_upload_bytes

        nobody = await post_form(staff, f"/staff/quotas/{uuid7()}", {"storage_mb": "1"})
        assert nobody.status_code == 404


async def test_the_daily_allowance_rolls_over_24_hours_and_the_sweep_prunes_what_no_longer_counts(
    pg: Injector,
) -> None:
    studio = pg.get(StudioService)
    ada = await creator(pg, "ada@example.com")
    await studio.set_quota(ada, storage_bytes=None, daily_upload_bytes=4 * MB)
    one, two = await studio.create_video(ada, "One"), await studio.create_video(ada, "Two")
    first = await studio.create_upload(ada, one.public_id, 3 * MB)
    with pytest.raises(QuotaExceeded):
        await studio.create_upload(ada, two.public_id, 2 * MB)
    db = pg.get(Database)
    await db.execute("UPDATE upload_allowance SET created_at = created_at - interval '24 hours 1 second'")
    await studio.sweep()
    assert await db.fetchval("SELECT count(*) FROM upload_allowance") == 0
    await studio.terminate_upload(ada, first.id)  # frees the storage reservation too
    await studio.create_upload(ada, two.public_id, 4 * MB)
