"""The studio's use cases on in-memory adapters: uploads, validation, processing, live figures."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from uuid import UUID

import pytest
from injector import Injector

from core.clock import Clock, FrozenClock
from core.di import get_port
from core.errors import Conflict
from core.events import EventBus, MemoryEventBus
from core.ids import uuid7
from core.jobs import JobQueue, MemoryJobQueue
from core.pipeline import UnitFailed
from core.storage import BlobStorage, MemoryBlobStorage
from features.studio.adapters import MemoryTranscoder, fake_media
from features.studio.model import (
    InvalidVideoDetails,
    SourceMeta,
    UploadOffsetMismatch,
    UploadTooLarge,
    Video,
    VideoNotFound,
    VideoState,
)
from features.studio.service import FLUSH_BYTES, StudioService
from tests.support.images import tiny_png

HD = SourceMeta(12.0, 1280, 720, "h264", "aac", 2_000_000, 25.0, True, 0, "mov,mp4")


@pytest.fixture
def studio(memory: Injector) -> StudioService:
    return memory.get(StudioService)


@pytest.fixture
def jobs(memory: Injector) -> MemoryJobQueue:
    queue = get_port(memory, JobQueue)
    assert isinstance(queue, MemoryJobQueue)
    return queue


@pytest.fixture
def bus(memory: Injector) -> MemoryEventBus:
    found = get_port(memory, EventBus)
    assert isinstance(found, MemoryEventBus)
    return found


@pytest.fixture
def blobs(memory: Injector) -> MemoryBlobStorage:
    found = get_port(memory, BlobStorage)
    assert isinstance(found, MemoryBlobStorage)
    return found


async def chunks_of(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def upload_file(studio: StudioService, owner: UUID, video: Video, data: bytes) -> Video:
    upload = await studio.create_upload(owner, video.public_id, len(data), "clip.mp4")
    await studio.receive(owner, upload.id, 0, chunks_of(data), len(data))
    found = await studio.get_video(video.id)
    assert found is not None
    return found


async def test_a_new_video_is_a_draft_of_its_owner(studio: StudioService) -> None:
    owner = uuid7()
    video = await studio.create_video(owner, "  Tides  ", "The sea, twice a day.")
    assert video.state is VideoState.DRAFT
    assert video.title == "Tides"
    assert await studio.video_by_public_id(video.public_id) == video
    assert await studio.list_for_owner(owner) == [video]
    assert await studio.list_for_owner(uuid7()) == []
    with pytest.raises(VideoNotFound):
        await studio.owned_video(uuid7(), video.id)


async def test_a_bad_title_stores_nothing(studio: StudioService) -> None:
    owner = uuid7()
    with pytest.raises(InvalidVideoDetails):
        await studio.create_video(owner, "", "")
    assert await studio.list_for_owner(owner) == []


async def test_a_complete_upload_is_probed_queued_and_announced(
    studio: StudioService, jobs: MemoryJobQueue, bus: MemoryEventBus, blobs: MemoryBlobStorage
) -> None:
    owner = uuid7()
    video = await studio.create_video(owner, "Tides")
    data = fake_media(HD, padding=3 * FLUSH_BYTES)
    video = await upload_file(studio, owner, video, data)

    assert video.state is VideoState.UPLOADED
    assert video.src_meta == HD.to_dict()
    assert video.source_key is not None
    assert video.source_key.startswith("uploads/")
    assert bytes(blobs.blobs[video.source_key]) == data
    [job] = jobs.jobs
    assert (job.function, job.key, job.kwargs) == (
        "transcode_video",
        f"transcode:{video.id}",
        {"video_id": str(video.id)},
    )
    assert job.timeout == 6 * 3600
    assert job.heartbeat > 0
    assert job.retries == 3
    states = [e.data["state"] for e in bus.events if e.topic == f"user:{owner}"]
    assert states == ["UPLOADING", "UPLOADED"]


async def test_bytes_go_to_storage_in_bounded_pieces(studio: StudioService, blobs: MemoryBlobStorage) -> None:
    owner = uuid7()
    video = await studio.create_video(owner, "Big")
    data = fake_media(HD, padding=5 * FLUSH_BYTES)
    upload = await studio.create_upload(owner, video.public_id, len(data))
    sizes: list[int] = []

    async def watched() -> AsyncIterator[bytes]:
        async for chunk in chunks_of(data):
            yield chunk
            sizes.append(len(blobs.blobs.get(upload.blob_key, b"")))

    await studio.receive(owner, upload.id, 0, watched())
    growth = [b - a for a, b in zip([0, *sizes], sizes, strict=False) if b != a]
    assert len(growth) >= 5
    assert max(growth) <= FLUSH_BYTES + 64 * 1024


async def test_a_file_that_is_not_a_video_is_rejected_and_its_bytes_deleted(
    studio: StudioService, jobs: MemoryJobQueue, blobs: MemoryBlobStorage
) -> None:
    owner = uuid7()
    video = await studio.create_video(owner, "Notes")
    video = await upload_file(studio, owner, video, b"just some notes, not a video\n" * 100)
    assert video.state is VideoState.REJECTED
    assert video.failure_reason == "This file is not a video we can read."
    assert blobs.blobs == {}
    assert jobs.jobs == []


async def test_a_source_over_the_limits_is_rejected_with_the_reason(
    studio: StudioService, blobs: MemoryBlobStorage
) -> None:
    owner = uuid7()
    video = await studio.create_video(owner, "Marathon")
    long = SourceMeta(5 * 3600.0, 1920, 1080, "h264", "aac", None, 25.0, True)
    video = await upload_file(studio, owner, video, fake_media(long))
    assert video.state is VideoState.REJECTED
    assert "longer than the limit" in (video.failure_reason or "")
    assert blobs.blobs == {}


async def test_uploads_refuse_a_wrong_offset_a_declared_excess_and_bytes_past_the_length(
    studio: StudioService, blobs: MemoryBlobStorage
) -> None:
    owner = uuid7()
    video = await studio.create_video(owner, "Strict")
    with pytest.raises(UploadTooLarge):
        await studio.create_upload(owner, video.public_id, 4 * 1024**3 + 1)
    upload = await studio.create_upload(owner, video.public_id, 100)
    with pytest.raises(UploadOffsetMismatch):
        await studio.receive(owner, upload.id, 10, chunks_of(b"x" * 10))
    with pytest.raises(UploadTooLarge):
        await studio.receive(owner, upload.id, 0, chunks_of(b"x" * 10), content_length=101)
    assert upload.blob_key not in blobs.blobs
    with pytest.raises(UploadTooLarge):
        await studio.receive(owner, upload.id, 0, chunks_of(b"x" * 150, size=40))
    # Cut at the declared 100 bytes, which were then judged (not a video) and deleted.
    judged = await studio.get_video(video.id)
    assert judged is not None
    assert judged.state is VideoState.REJECTED
    assert upload.blob_key not in blobs.blobs


async def test_another_creator_cannot_see_or_write_an_upload(studio: StudioService) -> None:
    owner, other = uuid7(), uuid7()
    video = await studio.create_video(owner, "Mine")
    with pytest.raises(VideoNotFound):
        await studio.create_upload(other, video.public_id, 10)
    upload = await studio.create_upload(owner, video.public_id, 10)
    with pytest.raises(VideoNotFound.__mro__[1]):  # NotFound
        await studio.upload_status(other, upload.id)


async def test_leftover_bytes_from_a_crash_move_the_offset_and_ask_the_client_to_look_again(
    studio: StudioService, blobs: MemoryBlobStorage
) -> None:
    owner = uuid7()
    video = await studio.create_video(owner, "Crash")
    data = fake_media(HD, padding=1000)
    upload = await studio.create_upload(owner, video.public_id, len(data))
    await blobs.append(upload.blob_key, data[:300])  # appended, but the offset update never happened
    with pytest.raises(UploadOffsetMismatch) as mismatch:
        await studio.receive(owner, upload.id, 0, chunks_of(data))
    assert mismatch.value.expected == 300
    assert (await studio.upload_status(owner, upload.id)).offset == 300
    await studio.receive(owner, upload.id, 300, chunks_of(data[300:]))
    assert (await studio.get_video(video.id)).state is VideoState.UPLOADED  # type: ignore[union-attr]
    assert bytes(blobs.blobs[upload.blob_key]) == data


async def test_terminating_an_upload_deletes_its_bytes_and_returns_to_draft(
    studio: StudioService, blobs: MemoryBlobStorage
) -> None:
    owner = uuid7()
    video = await studio.create_video(owner, "Oops")
    upload = await studio.create_upload(owner, video.public_id, 1000)
    await studio.receive(owner, upload.id, 0, chunks_of(b"y" * 400))
    await studio.terminate_upload(owner, upload.id)
    assert blobs.blobs == {}
    assert (await studio.get_video(video.id)).state is VideoState.DRAFT  # type: ignore[union-attr]


async def test_processing_publishes_figures_and_ends_ready_with_tracks(
    studio: StudioService, memory: Injector, bus: MemoryEventBus
) -> None:
    owner = uuid7()
    video = await studio.create_video(owner, "Tides")
    await studio.add_subtitle(owner, video.id, b"WEBVTT\n\n00:00.000 --> 00:01.000\nHi\n", "en", "English")
    video = await upload_file(studio, owner, video, fake_media(HD))
    figures: list[float] = []

    async def job_progress(figure: object) -> None:
        figures.append(figure.percent)  # type: ignore[attr-defined]

    done = await studio.process(video.id, on_progress=job_progress)
    assert done is not None
    assert done.state is VideoState.READY
    assert done.playlist is not None
    assert done.playlist.startswith("fake-master-")
    assert done.video_tracks[0]["name"] == "480p"
    assert done.subtitle_tracks == [{"language": "en", "label": "English", "playlist": "subs/en.m3u8"}]
    assert done.progress is not None
    assert done.progress.percent == 100.0
    assert figures[-1] == 100.0
    events = [e.data for e in bus.events if e.topic == f"user:{owner}"]
    ready = [e for e in events if e["state"] == "READY"]
    # READY once as news (playable: the owner's "ready" mail), then the finished run, which is not news again.
    assert ready == [
        {"video_id": str(video.id), "public_id": video.public_id, "state": "READY", "title": "Tides"},
        {"video_id": str(video.id), "public_id": video.public_id, "state": "READY", "title": "Tides", "upgrade": True},
    ]
    steps = [e.get("step") for e in events if "step" in e]
    assert steps[:2] == ["Converting subtitles", "Converting audio"]
    order = memory.get(MemoryTranscoder).runs[0]
    assert order.run_id == str(video.id)
    assert order.key_uri == f"/v/{video.public_id}/key"
    assert order.work_dir.name == str(video.id)
    assert [s.language for s in order.subtitles] == ["en"]
    # a second delivery of the same job does nothing
    assert await studio.process(video.id) is None


async def test_a_failing_unit_is_retried_by_the_queue_and_fails_the_video_on_the_last_attempt(
    studio: StudioService, memory: Injector, jobs: MemoryJobQueue
) -> None:
    transcoder = memory.get(MemoryTranscoder)
    transcoder.fail_next = ["ffmpeg exited with status 1", "ffmpeg exited with status 1"]
    owner = uuid7()
    video = await upload_file(studio, owner, await studio.create_video(owner, "Flaky"), fake_media(HD))
    with pytest.raises(UnitFailed):
        await studio.process(video.id, last_attempt=False)
    assert (await studio.get_video(video.id)).state is VideoState.CONVERTING  # type: ignore[union-attr]
    failed = await studio.process(video.id, last_attempt=True)
    assert failed is not None
    assert failed.state is VideoState.FAILED
    assert failed.failure_reason == "ConvertVideoTo480p: ffmpeg exited with status 1"

    jobs.jobs.clear()
    retried = await studio.retry(owner, video.id)
    assert retried.state is VideoState.UPLOADED
    assert [j.key for j in jobs.jobs] == [f"transcode:{video.id}"]
    assert (await studio.process(video.id)).state is VideoState.READY  # type: ignore[union-attr]


async def test_waiting_videos_know_how_many_are_ahead_and_hear_when_the_queue_moves(
    studio: StudioService, bus: MemoryEventBus
) -> None:
    ada, bob = uuid7(), uuid7()
    first = await upload_file(studio, ada, await studio.create_video(ada, "One"), fake_media(HD))
    second = await upload_file(studio, bob, await studio.create_video(bob, "Two"), fake_media(HD))
    third = await upload_file(studio, bob, await studio.create_video(bob, "Three"), fake_media(HD))
    positions = [(await studio.tile(v)).queue_position for v in (first, second, third)]
    assert positions == [0, 1, 2]

    async with bus.subscribe([f"user:{bob}"]) as bobs:
        await studio.process(first.id)
        moved = []
        while (event := await bobs.next(timeout=0.01)) is not None:
            if "queue_position" in event.data:
                moved.append((event.data["video_id"], event.data["queue_position"]))
    assert moved == [(str(second.id), 0), (str(third.id), 1)]
    now_converting = await studio.get_video(first.id)
    assert now_converting is not None
    assert (await studio.tile(now_converting)).queue_position is None


async def test_the_cover_is_the_creators_image_or_else_the_pipelines_frame(studio: StudioService) -> None:
    owner = uuid7()
    video = await studio.create_video(owner, "Covered")
    assert await studio.cover(video) is None
    png = tiny_png()
    video = await studio.set_cover(owner, video.id, png)
    assert await studio.cover(video) == (png, "image/png")
    other = await upload_file(studio, owner, await studio.create_video(owner, "Frame"), fake_media(HD))
    done = await studio.process(other.id)
    assert done is not None
    found = await studio.cover(done)
    assert found is not None
    assert found[1] == "image/jpeg"


async def test_published_pages_follow_each_other_for_the_catalog(studio: StudioService, memory: Injector) -> None:
    from datetime import timedelta

    from core.clock import Clock, FrozenClock

    clock = get_port(memory, Clock)
    assert isinstance(clock, FrozenClock)
    owner = uuid7()
    videos = []
    for i in range(3):
        videos.append(await studio.create_video(owner, f"Film {i}"))
        clock.advance(timedelta(seconds=1))
    for video in videos:
        stored = await upload_file(studio, owner, video, fake_media(HD))
        await studio.process(stored.id)
        await studio.mark_published(stored.id)
    first = await studio.published_page(None, 2)
    assert [v.title for v in first.items] == ["Film 2", "Film 1"]
    assert first.next is not None
    second = await studio.published_page(first.next, 2)
    assert [v.title for v in second.items] == ["Film 0"]
    assert second.next is None
    assert not second.first
    await studio.mark_unpublished(videos[0].id)
    assert [v.title for v in (await studio.published_page(None, 5)).items] == ["Film 2", "Film 1"]
    summaries = await studio.summaries_by_id([videos[0].id])
    assert summaries[videos[0].id].state is VideoState.READY
    assert summaries[videos[0].id].has_cover


async def test_the_sweep_requeues_forgotten_waiting_videos_and_fails_silent_conversions(
    studio: StudioService, memory: Injector, jobs: MemoryJobQueue
) -> None:
    from datetime import timedelta

    from core.clock import Clock, FrozenClock

    clock = get_port(memory, Clock)
    assert isinstance(clock, FrozenClock)
    owner = uuid7()
    waiting = await upload_file(studio, owner, await studio.create_video(owner, "Waiting"), fake_media(HD))
    stuck = await upload_file(studio, owner, await studio.create_video(owner, "Stuck"), fake_media(HD))
    async with studio.uow.atomic():
        video = await studio.videos.get(stuck.id, for_update=True)
        assert video is not None
        video.start_converting(clock.now())
        await studio.videos.save(video)
    jobs.jobs.clear()  # as if the queue lost them
    assert await studio.sweep() == 0
    clock.advance(timedelta(hours=1))
    assert await studio.sweep() == 2
    assert [j.key for j in jobs.jobs] == [f"transcode:{waiting.id}"]
    failed = await studio.get_video(stuck.id)
    assert failed is not None
    assert failed.state is VideoState.FAILED
    assert "stopped responding" in (failed.failure_reason or "")


@pytest.fixture
def upgrading(memory: Injector) -> MemoryTranscoder:
    """The in-memory transcoder converting 720p and 1080p after 480p, held before them until the test
    sets `hold_upgrades` (so it sees the video in between)."""
    transcoder = memory.get(MemoryTranscoder)
    transcoder.upgrades = ("720p", "1080p")
    transcoder.hold_upgrades = asyncio.Event()
    return transcoder


async def test_a_video_is_ready_at_480p_while_its_higher_renditions_convert(
    studio: StudioService, bus: MemoryEventBus, upgrading: MemoryTranscoder
) -> None:
    owner = uuid7()
    video = await upload_file(studio, owner, await studio.create_video(owner, "Early"), fake_media(HD))
    job = asyncio.create_task(studio.process(video.id))
    between = await _until(studio, video.id, lambda v: v.state is VideoState.READY)
    # Playable (and so publishable) at 480p; 720p and 1080p on the way; not FAILED, not converting.
    assert between.is_playable
    assert between.upgrading
    assert not between.is_complete
    assert [t["name"] for t in between.video_tracks] == ["480p"]
    assert between.pending_renditions == ["720p", "1080p"]
    assert set(between.manifest) == {"master.m3u8", "480p/index.m3u8"}
    # Late subtitles would be left out of the next master: refused until every rendition is done.
    with pytest.raises(Conflict, match="every quality"):
        await studio.add_subtitle(owner, video.id, b"WEBVTT\n\n00:00.000 --> 00:01.000\nHi\n", "fr", "French")
    assert upgrading.hold_upgrades is not None
    upgrading.hold_upgrades.set()
    done = await job
    assert done is not None
    assert done.state is VideoState.READY
    assert done.is_complete
    assert [t["name"] for t in done.video_tracks] == ["480p", "720p", "1080p"]
    assert done.playlist != between.playlist
    assert done.manifest["master.m3u8"] == done.playlist  # the master and its manifest changed together
    # Each master replaced by the next is removed from the content store; the one playing now stays.
    assert upgrading.removed == [between.playlist, f"{between.playlist}-720p"]
    ready = [e.data for e in bus.events if e.topic == f"user:{owner}" and e.data.get("state") == "READY"]
    assert [e.get("upgrade", False) for e in ready] == [False, True, True, True]  # news once: when playable
    assert ready[0]["pending"] == ["720p", "1080p"]
    assert "pending" not in ready[-1]


async def test_a_failed_upgrade_leaves_the_video_playable_and_can_be_retried(
    studio: StudioService, jobs: MemoryJobQueue, bus: MemoryEventBus, upgrading: MemoryTranscoder
) -> None:
    owner = uuid7()
    upgrading.hold_upgrades = None
    upgrading.fail_upgrades = "the encoder crashed"
    video = await upload_file(studio, owner, await studio.create_video(owner, "Halfway"), fake_media(HD))
    with pytest.raises(UnitFailed):
        await studio.process(video.id, last_attempt=False)  # the queue retries it
    retried = await studio.get_video(video.id)
    assert retried is not None
    assert retried.upgrading
    failed = await studio.process(video.id, last_attempt=True)
    assert failed is not None
    assert failed.state is VideoState.READY  # never FAILED for viewers: it plays at 480p
    assert failed.is_playable
    assert not failed.upgrading
    assert failed.upgrade_failure == "ConvertVideoTo720p: the encoder crashed"
    assert failed.pending_renditions == ["720p", "1080p"]
    told = [e.data for e in bus.events if e.topic == f"user:{owner}" and "upgrade_failure" in e.data]
    assert [(e["state"], e["title"]) for e in told] == [("READY", "Halfway")]  # the creator hears once

    upgrading.fail_upgrades = None
    jobs.jobs.clear()
    again = await studio.retry(owner, video.id)
    assert again.upgrading
    assert [j.key for j in jobs.jobs] == [f"transcode:{video.id}"]
    done = await studio.process_next("transcode:retry")
    assert done is not None
    assert done.id == video.id
    assert done.is_complete
    assert [t["name"] for t in done.video_tracks] == ["480p", "720p", "1080p"]
    with pytest.raises(Conflict):
        await studio.retry(owner, video.id)  # nothing left to retry


async def test_the_sweep_fails_a_stalled_upgrade_but_not_the_video(
    studio: StudioService, memory: Injector, upgrading: MemoryTranscoder
) -> None:
    owner = uuid7()
    clock = get_port(memory, Clock)
    assert isinstance(clock, FrozenClock)
    video = await upload_file(studio, owner, await studio.create_video(owner, "Stalled"), fake_media(HD))
    job = asyncio.create_task(studio.process(video.id))
    await _until(studio, video.id, lambda v: v.upgrading)
    clock.advance(timedelta(hours=1))
    assert await studio.sweep() == 1
    swept = await studio.get_video(video.id)
    assert swept is not None
    assert swept.state is VideoState.READY
    assert swept.is_playable
    assert "stopped responding" in (swept.upgrade_failure or "")
    job.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await job


async def _until(studio: StudioService, video_id: UUID, condition: Callable[[Video], bool]) -> Video:
    for _ in range(500):
        video = await studio.get_video(video_id)
        assert video is not None
        if condition(video):
            return video
        await asyncio.sleep(0.01)
    raise AssertionError("the video never reached the expected state")
