"""Receiving a video's source file over tus: creating an upload within the quotas, appending bytes
under a lease, checking the finished file, terminating and expiring uploads."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterable
from dataclasses import replace
from datetime import timedelta
from uuid import UUID

from core.errors import Conflict, InvalidInput, NotFound
from core.storage import BlobNotFound
from features.studio.model import (
    Quota,
    QuotaExceeded,
    QuotaUsage,
    SourceMeta,
    UnreadableMedia,
    Upload,
    UploadBusy,
    UploadExpired,
    UploadNotFound,
    UploadOffsetMismatch,
    UploadTooLarge,
    VideoNotFound,
    VideoState,
)
from features.studio.service.base import (
    StudioBase,
    short_reason,
)

FLUSH_BYTES = 1024 * 1024  # bytes buffered per append: memory per upload request stays near this
LEASE = timedelta(seconds=60)


class UploadUseCases(StudioBase):
    """Receiving source files, and the quotas they count against."""

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
                video.reject_source(short_reason(reason or "This file is not a video we can read."), now)
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


def _size(n: int) -> str:
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= factor:
            value = n / factor
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"
