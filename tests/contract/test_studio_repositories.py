"""The studio's repositories, each run against its in-memory and its PostgreSQL adapter."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from injector import Injector

from core.db import Database
from core.ids import public_id, uuid7
from features.accounts.service import AccountService
from features.studio.adapters import (
    MemoryQuotaRepository,
    MemoryUploadRepository,
    MemoryVideoRepository,
    PiccoloUploadRepository,
    PiccoloVideoRepository,
    PostgresQuotaRepository,
)
from features.studio.model import (
    ProcessingProgress,
    SourceMeta,
    Subtitle,
    Transcoded,
    Upload,
    Video,
    VideoState,
)
from features.studio.ports import QuotaRepository, UploadRepository, VideoRepository

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
META = SourceMeta(12.5, 1920, 1080, "h264", "aac", 4_000_000, 25.0, True, 0, "mov,mp4")


@dataclass
class Store:
    videos: VideoRepository
    uploads: UploadRepository
    new_owner: Callable[[], Awaitable[UUID]]
    quotas: QuotaRepository


@pytest.fixture(params=["memory", "postgres"])
async def store(request: pytest.FixtureRequest, pg: Injector) -> Store:
    if request.param == "memory":

        async def memory_owner() -> UUID:
            return uuid7()

        videos, uploads = MemoryVideoRepository(), MemoryUploadRepository()
        return Store(videos, uploads, memory_owner, MemoryQuotaRepository(videos, uploads))
    db = pg.get(Database)
    accounts = pg.get(AccountService)

    async def real_owner() -> UUID:
        user = await accounts.sign_up(f"{public_id()}@example.com", "long enough password")
        return user.id

    return Store(PiccoloVideoRepository(db), PiccoloUploadRepository(db), real_owner, PostgresQuotaRepository(db))


def draft(owner: UUID, at: datetime = T0, title: str = "Night trains") -> Video:
    return Video(
        id=uuid7(),
        public_id=public_id(),
        owner_id=owner,
        title=title,
        description="A film about the last trains.",
        state=VideoState.DRAFT,
        created_at=at,
        updated_at=at,
    )


async def test_a_stored_video_reads_back_field_for_field(store: Store) -> None:
    owner = await store.new_owner()
    video = draft(owner)
    await store.videos.add(video)
    video.begin_upload(T0)
    video.add_subtitle(Subtitle("subtitles/x/en.vtt", "en", "English", "vtt"), T0)
    video.set_cover("covers/x", "image/png", T0)
    video.accept_source("uploads/abc", 1234, META, T0 + timedelta(seconds=1))
    video.start_converting(T0 + timedelta(seconds=2))
    video.record_progress(ProcessingProgress(40.0, "Converting to 480p", 3, 8, 12.5, T0 + timedelta(seconds=3)))
    video.finish_converting(
        Transcoded(
            playlist="bafy-master",
            manifest={"master.m3u8": "bafy-master", "480p/index.m3u8": "bafy-480"},
            video_tracks=({"name": "480p", "width": 854, "height": 480, "bandwidth": 1_400_000},),
            audio_tracks=({"name": "Stereo", "language": "und", "playlist": "audio/index.m3u8"},),
            subtitle_tracks=({"language": "en", "label": "English", "playlist": "subs/en.m3u8"},),
            cover="bafy-cover",
            duration=12.48,
        ),
        T0 + timedelta(seconds=4),
    )
    await store.videos.save(video)

    again = await store.videos.get(video.id)
    assert again == video
    assert await store.videos.by_public_id(video.public_id) == video
    assert await store.videos.get(uuid7()) is None
    assert await store.videos.by_public_id("nope") is None


async def test_changing_a_read_video_changes_nothing_until_it_is_saved(store: Store) -> None:
    owner = await store.new_owner()
    video = draft(owner)
    await store.videos.add(video)
    copy = await store.videos.get(video.id, for_update=True)
    assert copy is not None
    copy.title = "Changed"
    assert (await store.videos.get(video.id)).title == "Night trains"  # type: ignore[union-attr]
    await store.videos.save(copy)
    assert (await store.videos.get(video.id)).title == "Changed"  # type: ignore[union-attr]


async def test_progress_is_recorded_only_while_converting(store: Store) -> None:
    owner = await store.new_owner()
    video = draft(owner)
    await store.videos.add(video)
    figure = ProcessingProgress(12.0, "Converting audio", 2, 8, None, T0)
    assert not await store.videos.record_progress(video.id, figure)
    video.begin_upload(T0)
    video.accept_source("uploads/a", 10, META, T0)
    video.start_converting(T0)
    await store.videos.save(video)
    assert await store.videos.record_progress(video.id, figure)
    stored = await store.videos.get(video.id)
    assert stored is not None
    assert stored.progress == figure


async def test_an_owner_lists_their_videos_newest_first_and_only_theirs(store: Store) -> None:
    ada, bob = await store.new_owner(), await store.new_owner()
    first, second = draft(ada, T0, "First"), draft(ada, T0 + timedelta(minutes=1), "Second")
    for video in (first, second, draft(bob, T0, "Bob's")):
        await store.videos.add(video)
    assert [v.title for v in await store.videos.list_for_owner(ada)] == ["Second", "First"]
    assert [v.title for v in await store.videos.list_for_owner(ada, limit=1, offset=1)] == ["First"]
    assert await store.videos.list_for_owner(ada, states=frozenset({VideoState.READY})) == []


async def test_the_queue_counts_uploaded_videos_ahead_in_arrival_order(store: Store) -> None:
    owner = await store.new_owner()
    videos = [draft(owner, T0 + timedelta(seconds=i)) for i in range(3)]
    for index, video in enumerate(videos):
        await store.videos.add(video)
        video.begin_upload(T0)
        video.accept_source(f"uploads/{index}", 10, META, T0 + timedelta(seconds=index))
        await store.videos.save(video)
    assert [await store.videos.waiting_ahead_of(v) for v in videos] == [0, 1, 2]
    assert [v.id for v in await store.videos.waiting()] == [v.id for v in videos]

    videos[0].start_converting(T0 + timedelta(seconds=5))
    await store.videos.save(videos[0])
    assert [await store.videos.waiting_ahead_of(v) for v in videos[1:]] == [0, 1]


async def test_stalled_finds_videos_not_touched_since_a_time(store: Store) -> None:
    owner = await store.new_owner()
    old, fresh = draft(owner, T0), draft(owner, T0 + timedelta(hours=1))
    for video in (old, fresh):
        video.begin_upload(video.created_at)
        video.accept_source("uploads/x", 1, META, video.created_at)
        video.start_converting(video.created_at)
        await store.videos.add(video)
    found = await store.videos.stalled(frozenset({VideoState.CONVERTING}), T0 + timedelta(minutes=30))
    assert [v.id for v in found] == [old.id]


async def uploaded_video(store: Store) -> Video:
    owner = await store.new_owner()
    video = draft(owner)
    video.begin_upload(T0)
    await store.videos.add(video)
    return video


async def test_an_upload_is_stored_and_found_by_id_and_by_video(store: Store) -> None:
    video = await uploaded_video(store)
    upload = Upload("u1", video.id, video.owner_id, 1000, 0, T0, "holiday.mp4")
    await store.uploads.add(upload)
    assert await store.uploads.get("u1") == upload
    assert await store.uploads.for_video(video.id) == [upload]
    await store.uploads.delete("u1")
    assert await store.uploads.get("u1") is None
    assert await store.uploads.for_video(video.id) == []


async def test_only_one_writer_holds_an_upload_and_only_it_moves_the_offset(store: Store) -> None:
    video = await uploaded_video(store)
    await store.uploads.add(Upload("u2", video.id, video.owner_id, 1000, 0, T0))
    later = T0 + timedelta(seconds=60)
    assert not await store.uploads.claim("u2", 5, "a", T0, later)  # wrong offset
    assert await store.uploads.claim("u2", 0, "a", T0, later)
    assert not await store.uploads.claim("u2", 0, "b", T0, later)  # held by a
    assert not await store.uploads.advance("u2", "b", 100, later)
    assert await store.uploads.advance("u2", "a", 100, later)
    assert (await store.uploads.get("u2")).offset == 100  # type: ignore[union-attr]
    await store.uploads.release("u2", "b")  # not b's to release
    assert not await store.uploads.claim("u2", 100, "b", T0, later)
    await store.uploads.release("u2", "a")
    assert await store.uploads.claim("u2", 100, "b", T0, later)


async def test_an_expired_lease_can_be_taken_over(store: Store) -> None:
    video = await uploaded_video(store)
    await store.uploads.add(Upload("u3", video.id, video.owner_id, 1000, 0, T0))
    assert await store.uploads.claim("u3", 0, "a", T0, T0 + timedelta(seconds=60))
    assert await store.uploads.claim("u3", 0, "b", T0 + timedelta(seconds=61), T0 + timedelta(seconds=120))
    assert not await store.uploads.advance("u3", "a", 10, T0 + timedelta(seconds=200))
    assert not await store.uploads.claim("u9", 0, "a", T0, T0)  # unknown upload


async def test_uploads_expire_finished_ones_keep_answering_and_a_writer_holds_off_removal(store: Store) -> None:
    video = await uploaded_video(store)
    day = timedelta(hours=24)
    await store.uploads.add(Upload("e1", video.id, video.owner_id, 1000, 0, T0, expires_at=T0 + day))
    await store.uploads.add(Upload("e2", video.id, video.owner_id, 500, 0, T0, expires_at=T0 + 2 * day))
    assert (await store.uploads.get("e1")).expires_at == T0 + day  # type: ignore[union-attr]
    assert await store.uploads.expired(T0 + day - timedelta(seconds=1)) == []

    # bytes arrive: the holder of the lease moves the expiry with the offset
    lease_until = T0 + timedelta(hours=1, seconds=60)
    assert await store.uploads.claim("e1", 0, "a", T0 + timedelta(hours=1), lease_until)
    assert await store.uploads.advance("e1", "a", 100, lease_until, T0 + timedelta(hours=1) + day)
    moved = await store.uploads.get("e1")
    assert moved is not None
    assert (moved.offset, moved.expires_at) == (100, T0 + timedelta(hours=1) + day)
    assert await store.uploads.advance("e1", "a", 200, lease_until)  # no expiry given: kept
    assert (await store.uploads.get("e1")).expires_at == T0 + timedelta(hours=1) + day  # type: ignore[union-attr]

    # finished: offset = length, kept until its own expiry
    await store.uploads.finish("e2", T0 + timedelta(hours=2), T0 + timedelta(hours=2) + day)
    done = await store.uploads.get("e2")
    assert done is not None
    assert (done.offset, done.finished, done.finished_at) == (500, True, T0 + timedelta(hours=2))

    later = T0 + 3 * day
    assert [u.id for u in await store.uploads.expired(later)] == ["e1", "e2"]
    assert await store.uploads.remove_expired("e1", T0 + timedelta(hours=1)) is None  # not expired yet
    assert await store.uploads.claim("e1", 200, "b", later, later + timedelta(seconds=60))
    assert await store.uploads.remove_expired("e1", later) is None  # someone is writing right now
    await store.uploads.release("e1", "b")
    removed = await store.uploads.remove_expired("e1", later)
    assert removed is not None
    assert (removed.id, removed.offset, removed.finished) == ("e1", 200, False)
    assert await store.uploads.get("e1") is None
    assert await store.uploads.remove_expired("e1", later) is None  # once only
    finished = await store.uploads.remove_expired("e2", later)
    assert finished is not None
    assert finished.finished
    assert await store.uploads.expired(later) == []


async def published_video(store: Store, owner: UUID, title: str, at: datetime) -> Video:
    video = draft(owner, at, title)
    video.state = VideoState.PUBLISHED
    await store.videos.add(video)
    return video


async def test_published_lists_only_published_videos_newest_first_in_keyset_pages(store: Store) -> None:
    ada, bob = await store.new_owner(), await store.new_owner()
    old = await published_video(store, ada, "Old tides", T0)
    new = await published_video(store, ada, "New 100% tides", T0 + timedelta(minutes=1))
    bobs = await published_video(store, bob, "Bob_s film", T0 + timedelta(minutes=2))
    await store.videos.add(draft(ada, T0 + timedelta(minutes=3), "A draft"))

    assert [v.title for v in await store.videos.published(10)] == ["Bob_s film", "New 100% tides", "Old tides"]
    assert [v.id for v in await store.videos.published(10, before=(new.created_at, new.id))] == [old.id]
    assert [v.id for v in await store.videos.published(10, owner_ids=[ada])] == [new.id, old.id]
    assert [v.id for v in await store.videos.published(10, query="TIDES")] == [new.id, old.id]
    assert [v.id for v in await store.videos.published(10, query="100%")] == [new.id]
    assert [v.id for v in await store.videos.published(10, query="b_s")] == [bobs.id]
    assert [v.id for v in await store.videos.published(10, query="_")] == [bobs.id]
    assert [v.id for v in await store.videos.published(10, exclude_ids=[bobs.id, old.id])] == [new.id]
    assert [v.id for v in await store.videos.published(1)] == [bobs.id]
    summary = (await store.videos.published(1))[0]
    assert (summary.public_id, summary.owner_id, summary.state) == (bobs.public_id, bob, VideoState.PUBLISHED)


async def test_summaries_find_videos_by_id_in_any_state(store: Store) -> None:
    owner = await store.new_owner()
    shown = await published_video(store, owner, "Shown", T0)
    hidden = draft(owner, T0, "Hidden")
    await store.videos.add(hidden)
    found = await store.videos.summaries([shown.id, hidden.id, uuid7()])
    assert set(found) == {shown.id, hidden.id}
    assert found[hidden.id].state is VideoState.DRAFT
    assert found[shown.id].title == "Shown"
    assert not found[shown.id].hidden
    assert await store.videos.summaries([]) == {}


async def test_a_summary_read_by_id_says_whether_moderators_hid_the_video(store: Store) -> None:
    owner, other = await store.new_owner(), await store.new_owner()
    removed = await published_video(store, owner, "Removed", T0)
    suspended = await published_video(store, other, "Suspended", T0)
    await store.videos.set_taken_down(removed.id, "Spam", T0 + timedelta(minutes=1))
    await store.videos.set_owner_suspended(other, True, T0 + timedelta(minutes=1))
    found = await store.videos.summaries([removed.id, suspended.id])
    assert found[removed.id].hidden
    assert found[suspended.id].hidden
    await store.videos.set_taken_down(removed.id, None, T0 + timedelta(minutes=2))
    assert not (await store.videos.summaries([removed.id]))[removed.id].hidden


async def test_published_pages_break_ties_by_id_without_gaps_or_repeats(store: Store) -> None:
    owner = await store.new_owner()
    videos = [await published_video(store, owner, f"V{i}", T0 + timedelta(minutes=i // 2)) for i in range(5)]
    newest_first = sorted(videos, key=lambda v: (v.created_at, v.id), reverse=True)
    first = await store.videos.published(3)
    rest = await store.videos.published(3, before=(first[-1].created_at, first[-1].id))
    assert [v.id for v in first + rest] == [v.id for v in newest_first]
    assert await store.videos.published(3, before=(rest[-1].created_at, rest[-1].id)) == []
    assert await store.videos.published(3, owner_ids=[]) == []


async def test_a_take_down_and_a_suspension_change_only_their_columns_and_outlive_a_save(store: Store) -> None:
    owner = await store.new_owner()
    first, second = draft(owner), draft(owner, T0 + timedelta(seconds=1))
    await store.videos.add(first)
    await store.videos.add(second)
    stale = await store.videos.get(first.id)
    assert stale is not None

    assert await store.videos.set_taken_down(first.id, "Spam", T0 + timedelta(minutes=1))
    assert not await store.videos.set_taken_down(uuid7(), "Spam", T0)
    hidden = await store.videos.set_owner_suspended(owner, True, T0 + timedelta(minutes=2))
    assert sorted(hidden) == sorted([first.id, second.id])
    assert await store.videos.set_owner_suspended(owner, True, T0 + timedelta(minutes=3)) == []  # already hidden
    stale.title = "Renamed in another tab"
    await store.videos.save(stale)  # written from a copy read before the take-down

    stored = await store.videos.get(first.id)
    assert stored is not None
    assert (stored.title, stored.taken_down_reason, stored.owner_suspended) == ("Renamed in another tab", "Spam", True)
    assert await store.videos.set_taken_down(first.id, None, T0 + timedelta(minutes=4))
    assert await store.videos.set_owner_suspended(owner, False, T0 + timedelta(minutes=5)) != []
    assert not (await store.videos.get(first.id)).hidden  # type: ignore[union-attr]


async def test_converting_count_counts_only_converting_videos(store: Store) -> None:
    owner = await store.new_owner()
    before = await store.videos.converting_count()
    video = draft(owner)
    await store.videos.add(video)
    video.begin_upload(T0)
    video.accept_source("uploads/c", 10, META, T0)
    await store.videos.save(video)
    assert await store.videos.converting_count() == before
    video.start_converting(T0)
    await store.videos.save(video)
    assert await store.videos.converting_count() == before + 1


async def test_the_upload_allowance_counts_a_create_once_and_forgets_and_prunes(store: Store) -> None:
    owner = await store.new_owner()
    since = T0 - timedelta(hours=24)
    await store.quotas.record_upload("upload-a", owner, 1_000, T0)
    await store.quotas.record_upload("upload-a", owner, 1_000, T0)  # a retried create
    await store.quotas.record_upload("upload-b", owner, 500, T0)
    assert (await store.quotas.usage(owner, since))[1] == 1_500
    await store.quotas.forget_upload("upload-b")
    await store.quotas.forget_upload("never-recorded")
    assert (await store.quotas.usage(owner, since))[1] == 1_000

    long_ago = datetime(2001, 1, 1, tzinfo=UTC)
    await store.quotas.record_upload("upload-old", owner, 7, long_ago)
    assert await store.quotas.prune_allowance(long_ago + timedelta(days=1)) == 1
    assert await store.quotas.prune_allowance(long_ago + timedelta(days=1)) == 0
    assert (await store.quotas.usage(owner, long_ago - timedelta(days=1)))[1] == 1_000


async def test_a_staff_override_is_stored_replaced_and_removed(store: Store) -> None:
    owner = await store.new_owner()
    assert await store.quotas.override(owner) == (None, None)
    assert await store.quotas.set_override(owner, 5 * 1024**2, None, T0)
    assert await store.quotas.override(owner) == (5 * 1024**2, None)
    assert await store.quotas.set_override(owner, None, 0, T0)
    assert await store.quotas.override(owner) == (None, 0)
    assert await store.quotas.set_override(owner, None, None, T0)
    assert await store.quotas.override(owner) == (None, None)


def early(master: str, pending: tuple[str, ...]) -> Transcoded:
    return Transcoded(
        playlist=master,
        manifest={"master.m3u8": master, "480p/index.m3u8": "cid-480p"},
        video_tracks=({"name": "480p", "width": 854, "height": 480, "bandwidth": 1},),
        audio_tracks=(),
        subtitle_tracks=(),
        cover=None,
        duration=12.5,
        pending=pending,
    )


async def test_an_upgrading_video_is_resumed_by_its_job_and_watched_by_the_sweep(store: Store) -> None:
    owner = await store.new_owner()
    before = await store.videos.converting_count()
    video = draft(owner)
    await store.videos.add(video)
    video.begin_upload(T0)
    video.accept_source("uploads/u", 10, META, T0)
    await store.videos.save(video)
    claimed = await store.videos.claim_next("job-u")
    assert claimed is not None
    assert claimed.id == video.id
    claimed.start_converting(T0)
    await store.videos.save(claimed)
    claimed.publish_rendition(early("master-u-480p", ("720p", "1080p")), T0 + timedelta(seconds=5))
    await store.videos.save(claimed)

    stored = await store.videos.get(video.id)
    assert stored is not None
    assert (stored.state, stored.pending_renditions, stored.upgrade_failure) == (
        VideoState.READY,
        ["720p", "1080p"],
        None,
    )
    assert stored.upgrading
    assert await store.videos.converting_count() == before + 1
    again = await store.videos.claim_next("job-u")  # the redelivered job finds the video it was upgrading
    assert again is not None
    assert again.id == video.id
    assert await store.videos.claim_next("job-other") is None  # nobody else takes it
    figure = ProcessingProgress(60.0, "Converting video to 720p", 8, 12, 20.0, T0 + timedelta(seconds=9))
    assert await store.videos.record_progress(video.id, figure)
    assert await store.videos.masters_in_use(["master-u-480p", "never-played"]) == {"master-u-480p"}

    assert await store.videos.stalled_upgrades(T0 + timedelta(seconds=9)) == []
    [stalled] = await store.videos.stalled_upgrades(T0 + timedelta(minutes=31))
    assert stalled.id == video.id
    stalled.fail("stopped responding", T0 + timedelta(minutes=31))
    await store.videos.save(stalled)
    assert await store.videos.stalled_upgrades(T0 + timedelta(hours=2)) == []
    assert await store.videos.claim_next("job-u") is None  # a failed upgrade waits for its owner's retry
    assert not await store.videos.record_progress(video.id, figure)

    failed = await store.videos.get(video.id)
    assert failed is not None
    assert failed.state is VideoState.READY
    failed.retry_upgrade(T0 + timedelta(hours=3))
    await store.videos.save(failed)
    retried = await store.videos.claim_next("job-retry")  # queued again: the next free job takes it
    assert retried is not None
    assert retried.id == video.id
    assert retried.transcode_job == "job-retry"


async def test_videos_held_for_a_purchase_come_in_id_order_with_what_moderation_did(store: Store) -> None:
    owner = await store.new_owner()
    videos = [await published_video(store, owner, f"V{i}", T0) for i in range(3)]
    await store.videos.set_taken_down(videos[1].id, "Spam", T0 + timedelta(minutes=1))
    held = await store.videos.share_locked([videos[2].id, uuid7(), videos[0].id, videos[1].id, videos[0].id])
    assert [v.id for v in held] == sorted(v.id for v in videos)  # each once, unknown ids left out
    assert [v.taken_down_reason for v in held if v.id == videos[1].id] == ["Spam"]
    shared = await store.videos.by_public_id(videos[0].public_id, share_lock=True)
    assert shared is not None
    assert shared.id == videos[0].id
