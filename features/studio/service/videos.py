"""Reading and editing videos: what other features read, creating and describing a video, its
subtitles and cover, publishing, moderation, and removing an owner's videos."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from uuid import UUID

from core.errors import Conflict
from core.ids import public_id, uuid7
from core.paging import Cursor, Page
from core.storage import BlobNotFound
from core.text import one_line
from features.studio.model import (
    InvalidAudioTrack,
    Subtitle,
    TooManyVideos,
    Video,
    VideoNotFound,
    VideoState,
    VideoSummary,
    check_details,
    check_language,
    cover_type,
    subtitle_format,
)
from features.studio.service.base import (
    StudioBase,
)

ADDED_AUDIO_ATTEMPTS = 3


@dataclass(frozen=True)
class VideoTile:
    """A video as its creator sees it in the studio: the video and its place in the queue."""

    video: Video
    queue_position: int | None  # videos picked before it in the fair order (only while UPLOADED)


class VideoUseCases(StudioBase):
    """Reading and editing videos."""

    # -- reading (other features use these) ------------------------------------------------------

    async def get_video(self, video_id: UUID) -> Video | None:
        """The video with this id, whoever owns it, or None."""
        return await self.videos.get(video_id)

    async def video_by_public_id(self, public_id: str, *, share_lock: bool = False) -> Video | None:
        """The video behind a public link id, or None. `share_lock` (inside a transaction): the video stays
        as read until it ends — a purchase holds it, so moderation cannot hide it unseen."""
        return await self.videos.by_public_id(public_id, share_lock=share_lock)

    async def videos_for_purchase(self, video_ids: Collection[UUID]) -> list[Video]:
        """Those of the videos that exist, each held as `video_by_public_id(share_lock=True)` holds one (a purchase of
        several at once: a bundle), in an order that cannot deadlock with a suspension hiding them."""
        return await self.videos.share_locked(video_ids)

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

        The file is judged as the pipeline will convert it (SRT or WebVTT with a cue, in UTF-8 or
        UTF-16 with a byte-order mark, else Windows-1252/Latin-1), so a file accepted here never fails
        the video's processing.

        Raises InvalidSubtitle, VideoNotFound, or Conflict while the pipeline works on the video.
        """
        language = check_language(language)
        fmt = subtitle_format(data)
        await self.transcoder.check_subtitle(data)  # refused now, not when the video is converted
        label = one_line(label)[:60] or language
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
            superseded = video.playlist
            video.add_published_subtitle(subtitle, added.manifest, added.playlist, added.track, self.clock.now())
            await self.videos.save(video)
            await self._announce(video)
        await self._remove_superseded(superseded, video.playlist)
        return video

    async def add_audio_track(self, owner_id: UUID, video_id: UUID, data: bytes, language: str, name: str) -> Video:
        """Publish the sound file `data` as one more audio track (`language`, `name`) of a ready (or
        published) video, without re-encoding the video: viewers can choose it on their next load of
        the player; the video row takes the new master playlist in one update, so a viewer gets the
        old one or the new one, never half of one.

        The file is probed (it must hold sound) and converted outside any transaction; it is written to
        a private temporary file, removed whatever happens (the creator's file is not kept: nothing is
        left behind when it is refused). If the video changed meanwhile (another track was added), the
        track is converted again onto the new master playlist (a few times at most, then Conflict).

        Raises InvalidAudioTrack, VideoNotFound, or Conflict (not ready, or changed meanwhile)."""
        language = one_line(language)
        name = one_line(name)[:60]
        if not language:
            raise InvalidAudioTrack("Give the track's language code, such as 'en' or 'pt-BR'.")
        (await self.owned_video(owner_id, video_id)).check_new_audio_track(name)  # before any byte is written
        async with _temporary_file(self.policy.work_root, data) as path:
            for _ in range(ADDED_AUDIO_ATTEMPTS):
                video = await self.owned_video(owner_id, video_id)
                video.check_new_audio_track(name)
                added = await self.transcoder.add_audio_track(
                    str(video.id), video.manifest, video.duration or 0.0, path, language, name
                )
                async with self.uow.atomic():
                    current = await self._owned_for_update(owner_id, video_id)
                    if current.playlist != video.playlist:
                        continue  # another track or subtitles came meanwhile: convert again on the new master
                    superseded = current.playlist
                    current.add_published_audio_track(
                        added.manifest, added.playlist, added.track, self.clock.now(), added.published_bytes
                    )
                    await self.videos.save(current)
                    await self._announce(current)
                await self._remove_superseded(superseded, current.playlist)
                return current
        raise Conflict("This video kept changing while the audio track was converted: please send it again.")

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
        """Use a JPEG or PNG (judged by its first bytes, then decoded) as the video's cover. Raises
        InvalidCover saying why not."""
        content_type = cover_type(data)
        await self.transcoder.check_image(data)
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
        published = await self._all_of(owner_id, frozenset({VideoState.PUBLISHED}))
        async with self.uow.atomic():
            # Locked in id order, as a bundle purchase holds its videos (`videos_for_purchase`): the two
            # wait for each other in turn, never in a circle.
            for video in sorted(published, key=lambda v: v.id):
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

    async def _change(self, video_id: UUID, change: Callable[[Video, datetime], None]) -> Video:
        async with self.uow.atomic():
            video = await self.videos.get(video_id, for_update=True)
            if video is None:
                raise VideoNotFound()
            change(video, self.clock.now())
            await self.videos.save(video)
            await self._announce(video)
        return video


async def _once(data: bytes) -> AsyncIterable[bytes]:
    yield data


@contextlib.asynccontextmanager
async def _temporary_file(root: Path, data: bytes) -> AsyncIterator[Path]:
    """`data` in a new private file under `root` (a random name, never one a user chose), removed on exit."""

    def write() -> Path:
        root.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix="added-audio-", dir=root)
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        return Path(name)

    path = await asyncio.to_thread(write)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
