"""Quotas per creator and the fair transcoding queue, on in-memory adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from uuid import UUID

import pytest
from injector import Injector

from core.clock import Clock, FrozenClock
from core.di import get_port
from core.events import EventBus, MemoryEventBus
from core.ids import uuid7
from core.pipeline import UnitFailed
from core.storage import BlobStorage, MemoryBlobStorage
from features.studio.adapters import MemoryQuotaRepository, MemoryTranscoder, fake_media
from features.studio.model import QuotaExceeded, SourceMeta, Video, VideoState, size_text
from features.studio.ports import QuotaRepository, UploadRepository
from features.studio.service import StudioService, job_key_for

HD = SourceMeta(12.0, 1280, 720, "h264", "aac", 2_000_000, 25.0, True, 0, "mov,mp4")
MB = 1024 * 1024


@pytest.fixture
def studio(memory: Injector) -> StudioService:
    return memory.get(StudioService)


@pytest.fixture
def clock(memory: Injector) -> FrozenClock:
    found = get_port(memory, Clock)
    assert isinstance(found, FrozenClock)
    return found


async def chunks_of(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def uploaded(studio: StudioService, clock: FrozenClock, owner: UUID, title: str, padding: int = 0) -> Video:
    clock.advance(timedelta(seconds=1))
    video = await studio.create_video(owner, title)
    data = fake_media(HD, padding=padding)
    upload = await studio.create_upload(owner, video.public_id, len(data), "clip.mp4")
    await studio.receive(owner, upload.id, 0, chunks_of(data), len(data))
    found = await studio.get_video(video.id)
    assert found is not None
    assert found.state is VideoState.UPLOADED
    return found


async def pick_order(studio: StudioService, count: int) -> list[UUID]:
    """Run `count` transcode jobs the way the worker does and list the videos they converted."""
    picked = []
    for _ in range(count):
        done = await studio.process_next(job_key_for(uuid7()))
        assert done is not None
        assert done.state is VideoState.READY
        picked.append(done.id)
    assert await studio.process_next(job_key_for(uuid7())) is None
    return picked


# -- fair processing ------------------------------------------------------------------------------


async def test_another_creators_first_upload_is_picked_after_at_most_one_of_a_busy_creators(
    studio: StudioService, clock: FrozenClock
) -> None:
    ada, bob = uuid7(), uuid7()
    adas = [await uploaded(studio, clock, ada, f"Ada {n}") for n in range(8)]
    bobs = await uploaded(studio, clock, bob, "Bob's first")

    order = await pick_order(studio, 9)

    assert order.index(bobs.id) <= 1
    assert [v for v in order if v != bobs.id] == [v.id for v in adas]  # Ada's own videos keep their order


async def test_a_creator_arriving_while_the_queue_is_busy_is_next(studio: StudioService, clock: FrozenClock) -> None:
    ada, bob = uuid7(), uuid7()
    for n in range(6):
        await uploaded(studio, clock, ada, f"Ada {n}")
    await pick_order_partial(studio, 3)  # three of Ada's are done, three wait
    bobs = await uploaded(studio, clock, bob, "Bob's first")

    assert (await studio.tile(bobs)).queue_position == 0
    [first] = await pick_order_partial(studio, 1)
    assert first == bobs.id


async def pick_order_partial(studio: StudioService, count: int) -> list[UUID]:
    picked = []
    for _ in range(count):
        done = await studio.process_next(job_key_for(uuid7()))
        assert done is not None
        picked.append(done.id)
    return picked


async def test_queue_positions_on_tiles_are_the_order_videos_are_then_picked_in(
    studio: StudioService, clock: FrozenClock
) -> None:
    ada, bob, cy = uuid7(), uuid7(), uuid7()
    videos = [await uploaded(studio, clock, ada, f"Ada {n}") for n in range(5)]
    videos.append(await uploaded(studio, clock, bob, "Bob 1"))
    videos.append(await uploaded(studio, clock, bob, "Bob 2"))
    videos.append(await uploaded(studio, clock, cy, "Cy 1"))
    positions = {v.id: (await studio.tile(v)).queue_position for v in videos}

    order = await pick_order(studio, len(videos))

    assert sorted(positions.values()) == list(range(len(videos)))  # each position once, no gaps
    assert {video_id: index for index, video_id in enumerate(order)} == positions


async def test_a_retried_job_resumes_the_video_it_claimed_not_the_next_in_line(
    studio: StudioService, clock: FrozenClock, memory: Injector
) -> None:
    memory.get(MemoryTranscoder).fail_next = ["ffmpeg exited with status 1"]
    ada, bob = uuid7(), uuid7()
    first = await uploaded(studio, clock, ada, "Ada 1")
    await uploaded(studio, clock, ada, "Ada 2")
    job = job_key_for(uuid7())
    with pytest.raises(UnitFailed):
        await studio.process_next(job, last_attempt=False)
    claimed = await studio.get_video(first.id)
    assert claimed is not None
    assert claimed.state is VideoState.CONVERTING
    await uploaded(studio, clock, bob, "Bob 1")  # would be next in line for a new job

    resumed = await studio.process_next(job, last_attempt=True)

    assert resumed is not None
    assert resumed.id == first.id
    assert resumed.state is VideoState.READY


# -- quotas -----------------------------------------------------------------------------------------


async def test_a_create_past_the_storage_quota_is_refused_naming_quota_and_usage_and_stores_nothing(
    studio: StudioService, clock: FrozenClock, memory: Injector
) -> None:
    ada = uuid7()
    first = await uploaded(studio, clock, ada, "Kept", padding=3 * MB)
    used = first.source_size
    assert used is not None
    await studio.set_quota(ada, storage_bytes=used + MB, daily_upload_bytes=None)
    video = await studio.create_video(ada, "Too much")

    with pytest.raises(QuotaExceeded) as refused:
        await studio.create_upload(ada, video.public_id, MB + 1, "big.mp4")

    assert "storage quota" in refused.value.message
    assert f"you use {size_text(used)} of {size_text(used + MB)}" in refused.value.message
    uploads = get_port(memory, UploadRepository)
    assert await uploads.for_video(video.id) == []
    blobs = get_port(memory, BlobStorage)
    assert isinstance(blobs, MemoryBlobStorage)
    assert [k for k in blobs.blobs if k.startswith("uploads/")] == [first.source_key]
    still = await studio.get_video(video.id)
    assert still is not None
    assert still.state is VideoState.DRAFT
    assert (await studio.quota_usage(ada)).stored_bytes == used


async def test_an_upload_exactly_at_the_quota_is_accepted_and_one_byte_more_is_not(studio: StudioService) -> None:
    ada = uuid7()
    await studio.set_quota(ada, storage_bytes=10 * MB, daily_upload_bytes=None)
    one, two = await studio.create_video(ada, "One"), await studio.create_video(ada, "Two")
    await studio.create_upload(ada, one.public_id, 10 * MB - 1000)
    with pytest.raises(QuotaExceeded):
        await studio.create_upload(ada, two.public_id, 1001)
    await studio.create_upload(ada, two.public_id, 1000)
    usage = await studio.quota_usage(ada)
    assert usage.stored_bytes == usage.quota.storage_bytes == 10 * MB
    assert usage.storage_percent == 100


async def test_the_daily_allowance_counts_declared_lengths_over_a_rolling_24_hours(
    studio: StudioService, clock: FrozenClock
) -> None:
    ada = uuid7()
    await studio.set_quota(ada, storage_bytes=None, daily_upload_bytes=5 * MB)
    videos = [await studio.create_video(ada, f"V{n}") for n in range(3)]
    await studio.create_upload(ada, videos[0].public_id, 4 * MB)
    with pytest.raises(QuotaExceeded) as refused:
        await studio.create_upload(ada, videos[1].public_id, 2 * MB)
    assert "daily upload allowance" in refused.value.message
    assert "4 MB of 5 MB" in refused.value.message

    clock.advance(timedelta(hours=23, minutes=59))
    with pytest.raises(QuotaExceeded):
        await studio.create_upload(ada, videos[1].public_id, 2 * MB)
    clock.advance(timedelta(minutes=2))
    await studio.create_upload(ada, videos[1].public_id, 2 * MB)


async def test_a_terminated_upload_gives_its_reservation_and_allowance_back(studio: StudioService) -> None:
    ada = uuid7()
    await studio.set_quota(ada, storage_bytes=4 * MB, daily_upload_bytes=4 * MB)
    one, two = await studio.create_video(ada, "One"), await studio.create_video(ada, "Two")
    upload = await studio.create_upload(ada, one.public_id, 3 * MB)
    with pytest.raises(QuotaExceeded):
        await studio.create_upload(ada, two.public_id, 2 * MB)
    await studio.terminate_upload(ada, upload.id)
    await studio.create_upload(ada, two.public_id, 2 * MB)


async def test_staff_override_raises_one_creators_quota_and_clearing_it_restores_the_default(
    studio: StudioService,
) -> None:
    ada, bob = uuid7(), uuid7()
    default = (await studio.quota_usage(ada)).quota
    raised = await studio.set_quota(ada, storage_bytes=default.storage_bytes * 2, daily_upload_bytes=7)
    assert raised.overridden
    assert raised.quota.storage_bytes == default.storage_bytes * 2
    assert raised.quota.daily_upload_bytes == 7
    assert (await studio.quota_usage(bob)).quota == default
    cleared = await studio.set_quota(ada, storage_bytes=None, daily_upload_bytes=None)
    assert not cleared.overridden
    assert cleared.quota == default


# -- the CPU-time budget --------------------------------------------------------------------------


async def test_a_spent_cpu_budget_fails_the_video_at_once_with_its_reason_instead_of_retrying(
    studio: StudioService, clock: FrozenClock, memory: Injector
) -> None:
    reason = "Processing needed more than its CPU-time budget of 240 s (20 × the video's 12.0 s) and was stopped."
    memory.get(MemoryTranscoder).fail_permanently = reason
    ada = uuid7()
    video = await uploaded(studio, clock, ada, "Heavy")

    failed = await studio.process_next(job_key_for(video.id), last_attempt=False)  # not the last attempt

    assert failed is not None
    assert failed.state is VideoState.FAILED
    assert failed.failure_reason == f"ConvertVideoTo480p: {reason}"


async def test_tiles_pushed_back_by_another_creators_first_upload_hear_their_new_position(
    studio: StudioService, clock: FrozenClock, memory: Injector
) -> None:
    ada, bob = uuid7(), uuid7()
    adas = [await uploaded(studio, clock, ada, f"Ada {n}") for n in range(3)]
    bus = get_port(memory, EventBus)
    assert isinstance(bus, MemoryEventBus)
    async with bus.subscribe([f"user:{ada}"]) as adas_pages:
        await uploaded(studio, clock, bob, "Bob's first")
        moved = []
        while (event := await adas_pages.next(timeout=0.01)) is not None:
            if "queue_position" in event.data:
                moved.append((event.data["video_id"], event.data["queue_position"]))
    assert moved == [(str(adas[1].id), 2), (str(adas[2].id), 3)]
    assert [(await studio.tile(v)).queue_position for v in adas] == [0, 2, 3]


async def test_the_sweep_drops_allowance_records_once_they_no_longer_count(
    studio: StudioService, clock: FrozenClock, memory: Injector
) -> None:
    ada = uuid7()
    video = await studio.create_video(ada, "One")
    await studio.create_upload(ada, video.public_id, 3 * MB)
    quotas = get_port(memory, QuotaRepository)
    assert isinstance(quotas, MemoryQuotaRepository)
    await studio.sweep()
    assert len(quotas.allowance) == 1
    clock.advance(timedelta(hours=24, seconds=1))
    await studio.sweep()
    assert quotas.allowance == {}
    assert (await studio.quota_usage(ada)).uploaded_bytes == 0
