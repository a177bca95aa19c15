"""Studio use cases: create a video, receive its source over tus, check it, convert it, show progress.

The story of one video:
  create_video           → DRAFT
  create_upload          → UPLOADING (a tus upload with a declared length)
  receive                  bytes arrive in chunks, straight to blob storage, offset kept in the database
  (last byte)            → probe → UPLOADED + a transcode job in the queue, or REJECTED + bytes deleted
  process (the job)      → CONVERTING, progress figures published live → READY, or FAILED after retries
  retry                  → UPLOADED again; the pipeline resumes from its last completed unit

Every change of a video is published on the EventBus topic `user:<owner id>` as a `video` event
with a small payload — {video_id, public_id, state (upper case, e.g. "CONVERTING", "READY"), and
percent/step/eta, queue_position, title, reason when they apply}; web processes render the tile
from the stored video, and the notifications feature mails about READY and FAILED.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterable, Awaitable, Callable, Collection
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from core.clock import Clock
from core.errors import Conflict, InvalidInput, NotFound
from core.events import EventBus
from core.ids import public_id, uuid7
from core.jobs import JobQueue
from core.paging import Cursor, Page
from core.pipeline import Progress, UnitFailed
from core.ratelimit import RateLimiter
from core.storage import BlobNotFound, BlobStorage
from core.uow import UnitOfWork
from features.studio.model import (
    IN_PROGRESS,
    ProcessingProgress,
    Quota,
    QuotaExceeded,
    QuotaUsage,
    SourceMeta,
    Subtitle,
    TooManyVideos,
    Transcoded,
    UnreadableMedia,
    Upload,
    UploadBusy,
    UploadExpired,
    UploadNotFound,
    UploadOffsetMismatch,
    UploadTooLarge,
    Video,
    VideoLimits,
    VideoNotFound,
    VideoState,
    VideoSummary,
    check_details,
    check_language,
    cover_type,
    subtitle_format,
)
from features.studio.ports import (
    QuotaRepository,
    SubtitleFile,
    TranscodeOrder,
    Transcoder,
    UploadRepository,
    VideoRepository,
)

TRANSCODE_JOB = "transcode_video"
EVENT = "video"
FLUSH_BYTES = 1024 * 1024  # bytes buffered per append: memory per upload request stays near this
LEASE = timedelta(seconds=60)
REASON_MAX = 300

# Events worth a mail or a notice carry the title (the notifications feature reads them).
FINAL_NEWS = frozenset({VideoState.READY, VideoState.FAILED, VideoState.REJECTED})

JobProgress = Callable[[ProcessingProgress], Awaitable[None]]


DEFAULT_QUOTA = Quota(storage_bytes=50 * 1024**3, daily_upload_bytes=10 * 1024**3)


@dataclass(frozen=True)
class StudioPolicy:
    limits: VideoLimits
    work_root: Path
    job_timeout: int = 6 * 3600
    job_heartbeat: int = 120
    job_retries: int = 3
    progress_interval: float = 1.0
    stall_after: timedelta = timedelta(minutes=30)
    quota: Quota = DEFAULT_QUOTA
    videos_per_hour: int = 30  # videos one creator may create per hour (abuse limit)
    upload_expiry: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class VideoTile:
    """A video as its creator sees it in the studio: the video and its place in the queue."""

    video: Video
    queue_position: int | None  # videos picked before it in the fair order (only while UPLOADED)


def job_key_for(video_id: UUID | str) -> str:
    """The key of the transcode job queued when this video entered the queue."""
    return f"transcode:{video_id}"


def topic_for(owner_id: UUID) -> str:
    return f"user:{owner_id}"


def _short(reason: str) -> str:
    reason = " ".join(reason.split())
    return reason if len(reason) <= REASON_MAX else reason[: REASON_MAX - 1] + "…"


class StudioService:
    """What creators do with their videos, and what other features read about videos."""

    def __init__(
        self,
        videos: VideoRepository,
        uploads: UploadRepository,
        storage: BlobStorage,
        transcoder: Transcoder,
        jobs: JobQueue,
        bus: EventBus,
        uow: UnitOfWork,
        clock: Clock,
        policy: StudioPolicy,
        quotas: QuotaRepository,
        *,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.limiter = limiter
        self.videos = videos
        self.uploads = uploads
        self.storage = storage
        self.transcoder = transcoder
        self.jobs = jobs
        self.bus = bus
        self.uow = uow
        self.clock = clock
        self.policy = policy
        self.quotas = quotas

    # -- reading (other features use these) ------------------------------------------------------

    async def get_video(self, video_id: UUID) -> Video | None:
        """The video with this id, whoever owns it, or None."""
        return await self.videos.get(video_id)

    async def video_by_public_id(self, public_id: str) -> Video | None:
        """The video behind a public link id, or None."""
        return await self.videos.by_public_id(public_id)

    async def list_for_owner(
        self, owner_id: UUID, *, limit: int = 50, offset: int = 0, states: frozenset[VideoState] | None = None
    ) -> list[Video]:
        """The owner's videos, newest first."""
        return await self.videos.list_for_owner(owner_id, limit=limit, offset=offset, states=states)

    async def published_page(
        self,
        after: Cursor | None,
        limit: int,
        *,
        owner_ids: Collection[UUID] | None = None,
        query: str | None = None,
        exclude_ids: Collection[UUID] = (),
    ) -> Page[VideoSummary]:
        """A page of PUBLISHED videos, newest first (created_at, then id), after the cursor `after`;
        only of `owner_ids` if given; only those whose title contains `query` (any case) if given;
        never those in `exclude_ids`. One query: LIMIT `limit` + 1 tells whether a next page exists."""
        rows = await self.videos.published(
            limit + 1,
            before=None if after is None else (after.at, after.id),
            owner_ids=owner_ids,
            query=query,
            exclude_ids=exclude_ids,
        )
        return Page.cut(rows, limit, lambda v: Cursor(v.created_at, v.id), first=after is None)

    async def summaries_by_id(self, video_ids: Collection[UUID]) -> dict[UUID, VideoSummary]:
        """Card-sized views of the videos among `video_ids` that exist (any state, any owner)."""
        return await self.videos.summaries(video_ids)

    async def owned_video(self, owner_id: UUID, video_id: UUID) -> Video:
        """The video if `owner_id` owns it; raises VideoNotFound otherwise (another's video is not found)."""
        video = await self.videos.get(video_id)
        if video is None or video.owner_id != owner_id:
            raise VideoNotFound()
        return video

    async def tiles_for_owner(self, owner_id: UUID, *, limit: int = 50, offset: int = 0) -> list[VideoTile]:
        """The owner's videos with their queue positions, newest first."""
        return [await self.tile(v) for v in await self.list_for_owner(owner_id, limit=limit, offset=offset)]

    async def tile(self, video: Video) -> VideoTile:
        position = await self.videos.waiting_ahead_of(video) if video.state is VideoState.UPLOADED else None
        return VideoTile(video, position)

    # -- creating and describing -------------------------------------------------------------------

    async def create_video(self, owner_id: UUID, title: str, description: str = "") -> Video:
        """A new DRAFT video. Raises InvalidVideoDetails (nothing stored) for a bad title or description,
        and TooManyVideos (429, nothing stored) past `videos_per_hour` creations by this owner in the
        current fixed hour window (counted in the shared limiter, so every web process agrees)."""
        title, description = check_details(title, description)
        if self.limiter is not None:
            allowance = await self.limiter.hit(f"videos:owner:{owner_id}", self.policy.videos_per_hour, 3600)
            if not allowance.allowed:
                minutes = max(1, (allowance.retry_after + 59) // 60)
                raise TooManyVideos(
                    f"You have created {self.policy.videos_per_hour} videos in the last hour, the most allowed. "
                    f"Please try again in {minutes} minute{'s' if minutes > 1 else ''}.",
                    retry_after=allowance.retry_after,
                )
        now = self.clock.now()
        video = Video(
            id=uuid7(),
            public_id=public_id(),
            owner_id=owner_id,
            title=title,
            description=description,
            state=VideoState.DRAFT,
            created_at=now,
            updated_at=now,
        )
        async with self.uow.atomic():
            await self.videos.add(video)
        return video

    async def add_subtitle(self, owner_id: UUID, video_id: UUID, data: bytes, language: str, label: str = "") -> Video:
        """Attach an SRT or WebVTT file (judged by content) in `language`.

        Before the video is processed, the pipeline converts it with the video. Once the video is
        ready (or published), it is converted and published at once as one more subtitles rendition,
        without re-encoding the video: viewers get it on their next load of the player. Two creators'
        tabs adding languages at once take turns (the video row is locked), so neither is lost.

        Raises InvalidSubtitle, VideoNotFound, or Conflict while the pipeline works on the video.
        """
        language = check_language(language)
        fmt = subtitle_format(data)
        label = " ".join(label.split())[:60] or language
        key = f"subtitles/{video_id}/{language}.{fmt}"
        subtitle = Subtitle(key, language, label, fmt)
        async with self.uow.atomic():
            video = await self._owned_for_update(owner_id, video_id)
            if video.accepts_source:
                video.add_subtitle(subtitle, self.clock.now())
                await self.storage.write(key, _once(data))
                await self.videos.save(video)
                return video
            video.check_new_subtitle(language)
            added = await self.transcoder.add_subtitle_track(
                video.manifest, video.duration or 0.0, data, language, label
            )
            await self.storage.write(key, _once(data))
            video.add_published_subtitle(subtitle, added.manifest, added.playlist, added.track, self.clock.now())
            await self.videos.save(video)
            await self._announce(video)
        return video

    async def remove_subtitle(self, owner_id: UUID, video_id: UUID, language: str) -> Video:
        async with self.uow.atomic():
            video = await self._owned_for_update(owner_id, video_id)
            if not video.accepts_source:
                raise Conflict("Subtitles can only be changed before the video is processed.")
            gone = [s for s in video.subtitle_sources if s.language == language]
            video.subtitle_sources = [s for s in video.subtitle_sources if s.language != language]
            video.updated_at = self.clock.now()
            await self.videos.save(video)
        for subtitle in gone:
            await self.storage.delete(subtitle.key)
        return video

    async def set_cover(self, owner_id: UUID, video_id: UUID, data: bytes) -> Video:
        """Use a JPEG or PNG (judged by its first bytes) as the video's cover. Raises InvalidCover."""
        content_type = cover_type(data)
        key = f"covers/{video_id}"
        async with self.uow.atomic():
            video = await self._owned_for_update(owner_id, video_id)
            video.set_cover(key, content_type, self.clock.now())
            await self.storage.write(key, _once(data))
            await self.videos.save(video)
            await self._announce(video)
        return video

    async def cover(self, video: Video) -> tuple[bytes, str] | None:
        """The cover image and its content type: the creator's own, else the frame the pipeline took."""
        if video.cover_image is not None and video.cover_type is not None:
            try:
                return await self.storage.read(video.cover_image), video.cover_type
            except BlobNotFound:
                pass
        if video.fallback_cover_image is not None:
            data = await self.transcoder.published_file(video.fallback_cover_image)
            if data is not None:
                return data, "image/jpeg"
        return None

    # -- uploading the source (tus) ------------------------------------------------------------------

    async def create_upload(self, owner_id: UUID, video_public_id: str, length: int, filename: str = "") -> Upload:
        """Start receiving the video's source file of `length` bytes; any earlier upload is dropped.

        The upload expires (with its bytes) when no byte arrives for the policy's `upload_expiry`.
        A repeated create for a video whose file already arrived — the same length and file name as
        its finished upload, which is still on record — is that finished upload, returned as it is
        (offset = length): a client that lost the last answer of its upload and starts again learns
        that it is done instead of meeting an error.

        Raises UploadTooLarge over the size limit, InvalidInput for an empty file, VideoNotFound for a
        video that is not the owner's, and Conflict once the video has its source (from another file).
        """
        if length > self.policy.limits.max_bytes:
            raise UploadTooLarge(f"This file is larger than the limit of {_size(self.policy.limits.max_bytes)}.")
        if length <= 0:
            raise InvalidInput("The file is empty.")
        video = await self.videos.by_public_id(video_public_id)
        if video is None or video.owner_id != owner_id:
            raise VideoNotFound()
        await self.quota_usage(owner_id, length=length)  # refuses early, before any lock (checked again below)
        now = self.clock.now()
        # the name is only shown, never a path; control characters (NUL cannot even be stored) are dropped
        shown = " ".join("".join(ch if ch.isprintable() else " " for ch in filename).split())[:200]
        expires = now + self.policy.upload_expiry
        upload = Upload(secrets.token_hex(16), video.id, owner_id, length, 0, now, shown, expires_at=expires)
        async with self.uow.atomic():
            video = await self._owned_for_update(owner_id, video.id)
            earlier = await self.uploads.for_video(video.id)
            if not video.accepts_source:
                for done in reversed(earlier):
                    if done.finished and not done.expired(now) and (done.length, done.filename) == (length, shown):
                        return done
                raise Conflict("This video already has its file.")
            for old in earlier:
                await self.uploads.delete(old.id)
                await self.quotas.forget_upload(old.id)
            # Decided under the owner's quota lock, with this upload reserved before the lock ends:
            # concurrent creates queue here and each sees the others' reservations.
            await self.quotas.lock(owner_id)
            await self.quota_usage(owner_id, length=length)
            video.begin_upload(now)
            await self.uploads.add(upload)
            await self.quotas.record_upload(upload.id, owner_id, length, now)
            await self.videos.save(video)
            await self._announce(video)
        for old in earlier:
            await self.storage.delete(old.blob_key)
        return upload

    async def quota_usage(self, owner_id: UUID, *, length: int = 0) -> QuotaUsage:
        """The owner's storage and 24-hour upload usage against their quota (the staff's override,
        else the defaults). With `length` > 0, raises QuotaExceeded — naming the quota and the usage —
        if an upload of that many more bytes would pass either quota."""
        storage, daily = await self.quotas.override(owner_id)
        quota = Quota(
            storage_bytes=self.policy.quota.storage_bytes if storage is None else storage,
            daily_upload_bytes=self.policy.quota.daily_upload_bytes if daily is None else daily,
        )
        stored, uploaded = await self.quotas.usage(owner_id, self.clock.now() - timedelta(hours=24))
        usage = QuotaUsage(quota, stored, uploaded, overridden=storage is not None or daily is not None)
        if length > 0:
            refusal = usage.refusal(length)
            if refusal is not None:
                raise QuotaExceeded(refusal)
        return usage

    async def set_quota(self, owner_id: UUID, storage_bytes: int | None, daily_upload_bytes: int | None) -> QuotaUsage:
        """Staff: override the owner's quotas (None: back to the default). Raises InvalidInput for a
        negative figure, NotFound for an unknown user. Stored uploads are kept; new creates are judged by it."""
        for value in (storage_bytes, daily_upload_bytes):
            if value is not None and value < 0:
                raise InvalidInput("A quota cannot be negative.")
        async with self.uow.atomic():
            if not await self.quotas.set_override(owner_id, storage_bytes, daily_upload_bytes, self.clock.now()):
                raise NotFound("There is no such user.")
        return await self.quota_usage(owner_id)

    async def upload_status(self, owner_id: UUID, upload_id: str) -> Upload:
        """The upload's length, offset and expiry — a finished one too (offset = length) until it
        expires. Raises UploadNotFound unless it is the owner's, UploadExpired once it has expired."""
        upload = await self.uploads.get(upload_id)
        if upload is None or upload.owner_id != owner_id:
            raise UploadNotFound()
        if upload.expired(self.clock.now()):
            raise UploadExpired()
        return upload

    async def receive(
        self,
        owner_id: UUID,
        upload_id: str,
        offset: int,
        chunks: AsyncIterable[bytes],
        content_length: int | None = None,
    ) -> Upload:
        """Append the streamed bytes at `offset`; after the last byte, check the file (see module doc).

        Memory stays flat: at most FLUSH_BYTES are buffered before they go to blob storage, and the
        offset is stored after each append, so a dropped connection loses at most that buffer.
        Raises UploadNotFound, UploadOffsetMismatch (offset is not where the upload stands), UploadBusy
        (another request is writing), UploadTooLarge (more bytes than declared: the extra is refused).
        """
        upload = await self.upload_status(owner_id, upload_id)
        if offset != upload.offset:
            raise UploadOffsetMismatch(upload.offset, offset)
        if content_length is not None and offset + content_length > upload.length:
            raise UploadTooLarge("This request sends more bytes than the upload declared.")
        if upload.finished:
            # A repeated last PATCH (its answer was lost): the upload is done, nothing more to take.
            async for chunk in chunks:
                if chunk:
                    raise UploadTooLarge("This upload is complete; the extra bytes were refused.")
            return upload
        token = secrets.token_hex(8)
        now = self.clock.now()
        if not await self.uploads.claim(upload_id, offset, token, now, now + LEASE):
            current = await self.uploads.get(upload_id)
            if current is None:
                raise UploadNotFound()
            if current.offset != offset:
                raise UploadOffsetMismatch(current.offset, offset)
            raise UploadBusy()
        overflow = False
        try:
            stored = await self._stored_size(upload.blob_key)
            if stored != offset:
                # A crash between an append and its offset update: the blob holds a valid prefix of
                # what the client sent, so its size is the truth. The client asks again (HEAD).
                await self.uploads.advance(upload_id, token, min(stored, upload.length), now + LEASE)
                raise UploadOffsetMismatch(min(stored, upload.length), offset)
            position, overflow = await self._append_stream(upload, token, offset, chunks)
            upload = replace(upload, offset=position)
            if upload.complete:
                await self._finish_upload(upload)
        finally:
            await self.uploads.release(upload_id, token)
        if overflow:
            raise UploadTooLarge("The upload sent more bytes than it declared; the extra bytes were refused.")
        # as stored: the expiry moved with the bytes (and again when the upload finished)
        return await self.uploads.get(upload_id) or upload

    async def _append_stream(
        self, upload: Upload, token: str, offset: int, chunks: AsyncIterable[bytes]
    ) -> tuple[int, bool]:
        position = offset
        buffer = bytearray()
        overflow = False
        try:
            async for chunk in chunks:
                room = upload.length - position - len(buffer)
                if len(chunk) > room:
                    buffer += chunk[:room]
                    overflow = True
                    break
                buffer += chunk
                if len(buffer) >= FLUSH_BYTES:
                    position = await self._flush(upload, token, position, buffer)
        finally:
            # Keep what arrived even when the stream broke off: the client resumes after it.
            if buffer:
                position = await self._flush(upload, token, position, buffer)
        return position, overflow

    async def _flush(self, upload: Upload, token: str, position: int, buffer: bytearray) -> int:
        size = await self.storage.append(upload.blob_key, bytes(buffer))
        buffer.clear()
        now = self.clock.now()
        # bytes arrived: the upload is not abandoned, its expiry moves on
        if not await self.uploads.advance(upload.id, token, size, now + LEASE, now + self.policy.upload_expiry):
            if await self.uploads.get(upload.id) is None:
                await self.storage.delete(upload.blob_key)  # terminated meanwhile: leave nothing
                raise UploadNotFound()
            raise UploadBusy()
        return size

    async def _stored_size(self, key: str) -> int:
        try:
            return await self.storage.size(key)
        except BlobNotFound:
            return 0

    async def _finish_upload(self, upload: Upload) -> None:
        """Probe the complete file; accept it into the queue, or reject it and delete its bytes."""
        key = upload.blob_key
        meta: SourceMeta | None = None
        try:
            async with self.storage.local_copy(key) as path:
                meta = await self.transcoder.probe(path)
            reason = meta.problem(self.policy.limits)
        except UnreadableMedia as error:
            reason = error.message
        now = self.clock.now()
        async with self.uow.atomic():
            video = await self.videos.get(upload.video_id, for_update=True)
            # Kept (offset = length) until it expires, so HEAD tells a client that lost this answer.
            await self.uploads.finish(upload.id, now, now + self.policy.upload_expiry)
            if video is None or video.state is not VideoState.UPLOADING:
                reason = reason or "gone"
                video = None
            elif reason is not None or meta is None:
                video.reject_source(_short(reason or "This file is not a video we can read."), now)
            else:
                video.accept_source(key, upload.length, meta, now)
                video.fair_tag = await self.videos.next_fair_tag(video.owner_id)
            if video is not None:
                await self.videos.save(video)
                await self._announce(video)
        if reason is not None:
            await self.storage.delete(key)
        elif video is not None:
            await self._enqueue(video)
            await self._announce_queue(behind=video)

    async def terminate_upload(self, owner_id: UUID, upload_id: str) -> None:
        """Stop an upload and delete its bytes; the video goes back to DRAFT. A finished upload's
        record is only forgotten: its bytes are the video's source (or were already deleted)."""
        upload = await self.upload_status(owner_id, upload_id)
        if upload.finished:
            await self.uploads.delete(upload.id)
            return
        async with self.uow.atomic():
            video = await self.videos.get(upload.video_id, for_update=True)
            await self.uploads.delete(upload.id)
            await self.quotas.forget_upload(upload.id)
            if video is not None and video.state is VideoState.UPLOADING:
                video.abandon_upload(self.clock.now())
                await self.videos.save(video)
                await self._announce(video)
        await self.storage.delete(upload.blob_key)

    async def expire_uploads(self, limit: int = 500) -> int:
        """Forget the uploads whose expiry has passed; returns how many.

        An unfinished one was abandoned: its bytes are deleted and its video (if still uploading)
        goes back to DRAFT with a reason the studio tile shows. A finished one only loses its record:
        its bytes are the video's source. An upload receiving bytes right now is left alone.
        """
        now = self.clock.now()
        removed = 0
        for candidate in await self.uploads.expired(now, limit):
            async with self.uow.atomic():
                video = None if candidate.finished else await self.videos.get(candidate.video_id, for_update=True)
                upload = await self.uploads.remove_expired(candidate.id, now)
                if upload is None:
                    continue
                if video is not None and video.state is VideoState.UPLOADING:
                    video.expire_upload(now)
                    await self.videos.save(video)
                    await self._announce(video)
            removed += 1
            if not upload.finished:
                await self.storage.delete(upload.blob_key)
        return removed

    # -- processing (the worker) -----------------------------------------------------------------

    async def _enqueue(self, video: Video) -> None:
        await self.jobs.enqueue(
            TRANSCODE_JOB,
            key=job_key_for(video.id),
            timeout=self.policy.job_timeout,
            heartbeat=self.policy.job_heartbeat,
            retries=self.policy.job_retries,
            video_id=str(video.id),
        )

    async def process(
        self, video_id: UUID, *, last_attempt: bool = True, on_progress: JobProgress | None = None
    ) -> Video | None:
        """Convert an UPLOADED video into published HLS: CONVERTING → READY.

        Safe to run again for the same video (jobs are delivered at least once): a video already
        converting resumes where the pipeline's checkpoints say, one already done is left alone.
        When a unit fails: on the last attempt the video becomes FAILED with the reason; before it,
        UnitFailed is raised again so the queue retries. Returns the video, or None if there was
        nothing to do.
        """
        now = self.clock.now()
        async with self.uow.atomic():
            video = await self.videos.get(video_id, for_update=True)
            if video is None or video.state not in IN_PROGRESS or video.source_key is None:
                return None
            was_waiting = video.state is VideoState.UPLOADED
            video.start_converting(now)
            await self.videos.save(video)
            await self._announce(video)
        return await self._convert(video, was_waiting, last_attempt, on_progress)

    async def process_next(
        self, job_key: str, *, last_attempt: bool = True, on_progress: JobProgress | None = None
    ) -> Video | None:
        """Convert the next video in fair order — what every transcode job does.

        The queue is start-time fair: each video entering it gets a tag, max(virtual time, its owner's
        last waiting-or-converting tag + 1), and jobs take the lowest tag (then the oldest). A creator
        with many waiting videos thus takes turns with everyone else: another creator's first upload
        is picked after at most one more of theirs. A job is not bound to the video it was queued for:
        there is one job per waiting video, and each converts one. The claimed video remembers the
        job's key, so a retried or re-delivered job (a killed worker) resumes that same video.
        Returns the video, or None when nothing was waiting.
        """
        async with self.uow.atomic():
            video = await self.videos.claim_next(job_key)
            if video is None or video.source_key is None:
                return None
            was_waiting = video.state is VideoState.UPLOADED
            video.start_converting(self.clock.now())
            await self.videos.save(video)
            await self._announce(video)
        return await self._convert(video, was_waiting, last_attempt, on_progress)

    async def _convert(
        self, video: Video, was_waiting: bool, last_attempt: bool, on_progress: JobProgress | None
    ) -> Video | None:
        video_id = video.id
        if was_waiting:
            await self._announce_queue()
        try:
            result = await self._transcode(video, on_progress)
        except UnitFailed as error:
            if not last_attempt and not error.permanent:
                raise
            return await self._fail(video_id, f"{error.unit}: {error.reason}")
        except Exception as error:
            if last_attempt:
                await self._fail(video_id, f"Processing stopped unexpectedly ({type(error).__name__}).")
            raise
        async with self.uow.atomic():
            done = await self.videos.get(video_id, for_update=True)
            if done is None or done.state is not VideoState.CONVERTING:
                return done
            done.finish_converting(result, self.clock.now())
            await self.videos.save(done)
            await self._announce(done)
        return done

    async def _transcode(self, video: Video, on_progress: JobProgress | None) -> Transcoded:
        assert video.source_key is not None
        sink = _ProgressSink(self, video, on_progress)
        async with AsyncExitStack() as stack:
            source = await stack.enter_async_context(self.storage.local_copy(video.source_key))
            subtitles = []
            for subtitle in video.subtitle_sources:
                path = await stack.enter_async_context(self.storage.local_copy(subtitle.key))
                subtitles.append(SubtitleFile(path, subtitle.language, subtitle.label))
            order = TranscodeOrder(
                run_id=str(video.id),
                source=source,
                work_dir=self.policy.work_root / str(video.id),
                subtitles=tuple(subtitles),
                key_uri=f"/v/{video.public_id}/key",
            )
            return await self.transcoder.transcode(order, sink)

    async def _fail(self, video_id: UUID, reason: str) -> Video | None:
        async with self.uow.atomic():
            video = await self.videos.get(video_id, for_update=True)
            if video is None or not video.can(VideoState.FAILED):
                return video
            video.fail(_short(reason), self.clock.now())
            await self.videos.save(video)
            await self._announce(video)
        return video

    async def record_progress(self, video: Video, progress: Progress) -> ProcessingProgress | None:
        """Store and publish the processing figure; None if the video is no longer converting."""
        figure = ProcessingProgress(
            percent=round(min(max(progress.percent, 0.0), 100.0), 1),
            step=progress.unit,
            step_index=progress.step,
            steps=progress.steps,
            eta_seconds=None if progress.eta_seconds is None else round(progress.eta_seconds, 1),
            updated_at=self.clock.now(),
        )
        if not await self.videos.record_progress(video.id, figure):
            return None
        await self.bus.publish(
            topic_for(video.owner_id),
            EVENT,
            {
                "video_id": str(video.id),
                "state": VideoState.CONVERTING.name,
                "percent": figure.percent,
                "step": figure.step,
                "eta": figure.eta_seconds,
            },
        )
        return figure

    async def retry(self, owner_id: UUID, video_id: UUID) -> Video:
        """Queue a FAILED video again; processing resumes from its last completed step."""
        async with self.uow.atomic():
            video = await self._owned_for_update(owner_id, video_id)
            video.retry(self.clock.now())
            video.fair_tag = await self.videos.next_fair_tag(video.owner_id)
            await self.videos.save(video)
            await self._announce(video)
        await self._enqueue(video)
        await self._announce_queue(behind=video)
        return video

    async def sweep(self) -> int:
        """Repair what a crash can leave behind; returns how many videos it touched.

        UPLOADED videos waiting longer than `stall_after` are queued again (the job key keeps this
        from doubling a queued job); CONVERTING videos without progress for that long are FAILED so
        their creator can retry. Upload-allowance records older than 24 hours (which no longer count)
        are dropped.
        """
        await self.quotas.prune_allowance(self.clock.now() - timedelta(hours=24))
        cutoff = self.clock.now() - self.policy.stall_after
        touched = 0
        for video in await self.videos.stalled(frozenset({VideoState.UPLOADED}), cutoff):
            await self._enqueue(video)
            touched += 1
        for video in await self.videos.stalled(frozenset({VideoState.CONVERTING}), cutoff):
            await self._fail(video.id, "Processing stopped responding. Try again.")
            touched += 1
        return touched

    # -- publishing (the price/publish feature will call these) ------------------------------------

    async def mark_published(self, video_id: UUID) -> Video:
        """READY → PUBLISHED. Raises VideoNotFound or IllegalVideoTransition."""
        return await self._change(video_id, lambda v, now: v.publish(now))

    async def mark_unpublished(self, video_id: UUID) -> Video:
        """PUBLISHED → READY. Raises VideoNotFound or IllegalVideoTransition."""
        return await self._change(video_id, lambda v, now: v.unpublish(now))

    # -- moderation (features/moderation calls these) ------------------------------------------------

    async def take_down(self, video_id: UUID, reason: str) -> Video:
        """Hide the video from everyone but its owner and staff (catalog, search, creator page, watch
        page, HLS, keys, preview) with `reason`, whatever its state. Idempotent: a second call only
        replaces the reason. Raises VideoNotFound."""
        async with self.uow.atomic():
            if not await self.videos.set_taken_down(
                video_id, reason.strip() or "Removed by moderators", self.clock.now()
            ):
                raise VideoNotFound()
            video = await self.videos.get(video_id)
            assert video is not None
            await self._announce(video)
        return video

    async def restore(self, video_id: UUID) -> Video:
        """Undo a take-down: the video is shown again as its state allows. Raises VideoNotFound."""
        async with self.uow.atomic():
            if not await self.videos.set_taken_down(video_id, None, self.clock.now()):
                raise VideoNotFound()
            video = await self.videos.get(video_id)
            assert video is not None
            await self._announce(video)
        return video

    async def hide_owner(self, owner_id: UUID, hidden: bool) -> int:
        """Hide (suspension) or show again (unsuspension) every video of the owner; how many changed.
        A video also taken down stays hidden until it is restored."""
        async with self.uow.atomic():
            return len(await self.videos.set_owner_suspended(owner_id, hidden, self.clock.now()))

    # -- the owner deletes their account (the privacy feature calls these) ----------------------------

    async def unpublish_all_of(self, owner_id: UUID) -> int:
        """Take every published video of the owner off the catalog (PUBLISHED → READY), in the caller's
        unit of work; return how many. Nobody but the owner can reach them afterwards."""
        count = 0
        async with self.uow.atomic():
            for video in await self._all_of(owner_id, frozenset({VideoState.PUBLISHED})):
                locked = await self.videos.get(video.id, for_update=True)
                if locked is not None and locked.state is VideoState.PUBLISHED:
                    locked.unpublish(self.clock.now())
                    await self.videos.save(locked)
                    count += 1
        return count

    async def remove_content_of(self, owner_id: UUID) -> int:
        """Remove every video of the owner from storage for good: source files, covers, subtitles and
        unfinished uploads are deleted, each video's key is destroyed (its published segments can
        never be decrypted again) and the video is archived with its title and description erased.
        Idempotent (a video already stripped is skipped); returns how many videos were stripped."""
        count = 0
        for video in await self._all_of(owner_id, None):
            if video.stripped:
                continue
            blobs = [key for key in (video.source_key, video.cover_image) if key]
            blobs += [subtitle.key for subtitle in video.subtitle_sources]
            for upload in await self.uploads.for_video(video.id):
                blobs.append(upload.blob_key)
                await self.uploads.delete(upload.id)
            for key in blobs:
                await self.storage.delete(key)
            await self.transcoder.discard(str(video.id))
            async with self.uow.atomic():
                locked = await self.videos.get(video.id, for_update=True)
                if locked is None:
                    continue
                locked.strip(self.clock.now())
                await self.videos.save(locked)
            count += 1
        return count

    async def _all_of(self, owner_id: UUID, states: frozenset[VideoState] | None) -> list[Video]:
        found: list[Video] = []
        while True:
            page = await self.videos.list_for_owner(owner_id, limit=200, offset=len(found), states=states)
            found.extend(page)
            if len(page) < 200:
                return found

    # -- inside --------------------------------------------------------------------------------------

    async def _change(self, video_id: UUID, change: Callable[[Video, datetime], None]) -> Video:
        async with self.uow.atomic():
            video = await self.videos.get(video_id, for_update=True)
            if video is None:
                raise VideoNotFound()
            change(video, self.clock.now())
            await self.videos.save(video)
            await self._announce(video)
        return video

    async def _owned_for_update(self, owner_id: UUID, video_id: UUID) -> Video:
        video = await self.videos.get(video_id, for_update=True)
        if video is None or video.owner_id != owner_id:
            raise VideoNotFound()
        return video

    async def _announce(self, video: Video) -> None:
        """Tell the owner's open pages that this video changed (delivered only if the change commits)."""
        data: dict[str, Any] = {"video_id": str(video.id), "public_id": video.public_id, "state": video.state.name}
        if video.state in FINAL_NEWS:
            data["title"] = video.title
        if video.failure_reason:
            data["reason"] = video.failure_reason
        if video.progress is not None and video.state in IN_PROGRESS:
            data["percent"] = video.progress.percent
        await self.bus.publish(topic_for(video.owner_id), EVENT, data)

    async def _announce_queue(self, behind: Video | None = None) -> None:
        """The queue moved: tell the owners of waiting videos their new positions. A conversion that
        started moves every one up; a video that entered (`behind`) moves back those it went ahead
        of — fair order lets another creator's first upload pass a busy creator's waiting videos."""
        waiting = await self.videos.waiting()
        start = 0
        if behind is not None:
            ids = [v.id for v in waiting]
            if behind.id not in ids:
                return
            start = ids.index(behind.id) + 1
        for position, video in enumerate(waiting[start:], start=start):
            await self.bus.publish(
                topic_for(video.owner_id),
                EVENT,
                {"video_id": str(video.id), "state": video.state.name, "queue_position": position},
            )


class _ProgressSink:
    """Turns the pipeline's progress reports into stored, published figures — at most one a second
    per step, so a fast unit does not flood the database and the browsers."""

    def __init__(self, service: StudioService, video: Video, on_progress: JobProgress | None) -> None:
        self.service = service
        self.video = video
        self.on_progress = on_progress
        self.last_step = -1
        self.last_at: datetime | None = None

    async def __call__(self, progress: Progress) -> None:
        now = self.service.clock.now()
        interval = timedelta(seconds=self.service.policy.progress_interval)
        due = self.last_at is None or now - self.last_at >= interval
        if not (progress.finished or progress.step != self.last_step or due):
            return
        self.last_step, self.last_at = progress.step, now
        figure = await self.service.record_progress(self.video, progress)
        if figure is not None and self.on_progress is not None:
            await self.on_progress(figure)


async def _once(data: bytes) -> AsyncIterable[bytes]:
    yield data


def _size(n: int) -> str:
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= factor:
            value = n / factor
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"
