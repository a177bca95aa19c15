"""What the studio needs from the outside: storage for videos and uploads, and a transcoder."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from core.pipeline import ProgressSink
from features.studio.model import (
    ProcessingProgress,
    SourceMeta,
    Transcoded,
    Upload,
    Video,
    VideoState,
    VideoSummary,
)
from features.studio.model.chapters import Chapter


class VideoRepository(Protocol):
    """Stores Video aggregates."""

    async def add(self, video: Video) -> None:
        """Store a new video."""
        ...

    async def get(self, video_id: UUID, *, for_update: bool = False) -> Video | None:
        """The video, or None. With `for_update`, inside a transaction, other writers wait for it."""
        ...

    async def by_public_id(self, public_id: str, *, share_lock: bool = False) -> Video | None:
        """The video behind a public link id, or None. With `share_lock`, inside a transaction, the video
        cannot change until it ends (other share locks go on): a purchase deciding on what it read holds
        it, so a take-down or a suspension either committed before the read (and is seen) or waits for
        the purchase (and refunds it)."""
        ...

    async def share_locked(self, video_ids: Collection[UUID]) -> list[Video]:
        """Those of the videos that exist, in id order, each held as `by_public_id(share_lock=True)` — locked
        in id order, as `set_owner_suspended` locks its rows, so the two never wait on each other in a
        circle."""
        ...

    async def save(self, video: Video) -> None:
        """Write every field of an existing video."""
        ...

    async def record_progress(self, video_id: UUID, progress: ProcessingProgress) -> bool:
        """Store the processing figure of a video that is converting; False if it is not (nothing stored)."""
        ...

    async def list_for_owner(
        self, owner_id: UUID, *, limit: int = 50, offset: int = 0, states: frozenset[VideoState] | None = None
    ) -> list[Video]:
        """The owner's videos, newest first, optionally only those in `states`."""
        ...

    async def published(
        self,
        limit: int,
        *,
        before: tuple[datetime, UUID] | None = None,
        owner_ids: Collection[UUID] | None = None,
        query: str | None = None,
        exclude_ids: Collection[UUID] = (),
    ) -> list[VideoSummary]:
        """Up to `limit` PUBLISHED videos, newest first by (created_at, id), strictly before `before`;
        only of `owner_ids` if given, only with `query` in the title (any case) if given."""
        ...

    async def set_taken_down(self, video_id: UUID, reason: str | None, now: datetime) -> bool:
        """Take the video down with `reason`, or put it back (None). Touches no other column, so a
        concurrent save() of the video never undoes it. False when there is no such video."""
        ...

    async def set_owner_suspended(self, owner_id: UUID, suspended: bool, now: datetime) -> list[UUID]:
        """Hide (or show again) every video of the owner; the ids of the videos that changed."""
        ...

    async def summaries(self, video_ids: Collection[UUID]) -> dict[UUID, VideoSummary]:
        """The videos among `video_ids` that exist, in any state."""
        ...

    async def waiting_ahead_of(self, video: Video) -> int:
        """How many UPLOADED videos (of anyone) come before this one in the fair queue order
        (fair_tag, queued_at, id) — the order `claim_next` picks them in."""
        ...

    async def waiting(self, limit: int = 100) -> list[Video]:
        """UPLOADED videos in the fair queue order (the next to be picked first)."""
        ...

    async def next_fair_tag(self, owner_id: UUID) -> int:
        """The fair tag for a video of `owner_id` entering the queue now (inside a transaction; it
        serialises with other enqueues): max(virtual time, the owner's last queued or converting tag + 1),
        where the virtual time is the highest tag any conversion has started with."""
        ...

    async def claim_next(self, job_key: str) -> Video | None:
        """Inside a transaction: the converting (or upgrading) video this job already claimed (a
        retried or re-delivered job resumes it), else the first UPLOADED video in fair order, else a
        playable video whose failed upgrade was retried, locked (others skip it) and marked as this
        job's; None when nothing waits. The caller moves it to CONVERTING (an upgrade stays as it is)."""
        ...

    async def converting_count(self) -> int:
        """How many videos are converting (or upgrading) now (for the ETA of waiting videos)."""
        ...

    async def stalled(self, states: frozenset[VideoState], updated_before: datetime, limit: int = 100) -> list[Video]:
        """Videos in `states` not changed since `updated_before`, oldest first."""
        ...

    async def masters_in_use(self, cids: Collection[str]) -> set[str]:
        """Those of `cids` that some video plays now (its master playlist, any state, any owner)."""
        ...

    async def stalled_upgrades(self, updated_before: datetime, limit: int = 100) -> list[Video]:
        """Upgrading videos (playable, higher renditions converting) not changed since
        `updated_before`, oldest first."""
        ...


class QuotaRepository(Protocol):
    """Usage and staff overrides of creators' quotas."""

    async def lock(self, owner_id: UUID) -> None:
        """Inside a transaction: hold the owner's quota lock until it ends (concurrent creates queue)."""
        ...

    async def usage(self, owner_id: UUID, since: datetime) -> tuple[int, int]:
        """(stored bytes: sources + published files + declared length of unfinished uploads (finished ones
        are counted as their video's source),
        bytes of uploads started at or after `since`)."""
        ...

    async def override(self, owner_id: UUID) -> tuple[int | None, int | None]:
        """The staff's (storage, daily upload) override for this owner; None where there is none."""
        ...

    async def set_override(
        self, owner_id: UUID, storage_bytes: int | None, daily_upload_bytes: int | None, now: datetime
    ) -> bool:
        """Store (or, with both None, remove) the owner's override; False if there is no such user."""
        ...

    async def record_upload(self, upload_id: str, owner_id: UUID, length: int, now: datetime) -> None:
        """Count an accepted tus create against the daily allowance."""
        ...

    async def forget_upload(self, upload_id: str) -> None:
        """Give a terminated upload's allowance back (no error if unknown)."""
        ...

    async def prune_allowance(self, before: datetime) -> int:
        """Drop allowance records older than `before` (they no longer count); returns how many."""
        ...


class UploadRepository(Protocol):
    """Stores tus uploads and their offsets where every web process sees them.

    Writing bytes is guarded by a lease: one request at a time appends to an upload.
    """

    async def add(self, upload: Upload) -> None: ...

    async def get(self, upload_id: str) -> Upload | None: ...

    async def for_video(self, video_id: UUID) -> list[Upload]: ...

    async def claim(self, upload_id: str, offset: int, token: str, now: datetime, until: datetime) -> bool:
        """Take the write lease if the upload stands at `offset` and nobody holds an unexpired lease."""
        ...

    async def advance(
        self, upload_id: str, token: str, offset: int, until: datetime, expires_at: datetime | None = None
    ) -> bool:
        """Move the offset (and extend the lease, and the expiry when given) if `token` still holds the
        lease; False otherwise."""
        ...

    async def release(self, upload_id: str, token: str) -> None:
        """Give the lease back (no error if it was lost or the upload is gone)."""
        ...

    async def finish(self, upload_id: str, now: datetime, expires_at: datetime) -> None:
        """Mark the upload finished (offset = length) and keep its record until `expires_at`."""
        ...

    async def expired(self, now: datetime, limit: int = 100) -> list[Upload]:
        """Uploads whose expiry is at or before `now`, oldest expiry first."""
        ...

    async def remove_expired(self, upload_id: str, now: datetime) -> Upload | None:
        """Delete the upload if it has expired by `now` and nobody holds an unexpired write lease;
        the deleted upload, or None (not expired, being written, or already gone)."""
        ...

    async def delete(self, upload_id: str) -> None: ...


@dataclass(frozen=True)
class SubtitleFile:
    path: Path
    language: str
    label: str


@dataclass(frozen=True)
class TranscodeOrder:
    """What to convert, where to work, and the URI players will fetch the key from."""

    run_id: str
    source: Path
    work_dir: Path
    subtitles: tuple[SubtitleFile, ...]
    key_uri: str


@dataclass(frozen=True)
class AddedSubtitle:
    """A subtitles rendition published for a ready video: its new manifest, master CID, and the track."""

    manifest: Mapping[str, str]
    playlist: str
    track: Mapping[str, Any]


@dataclass(frozen=True)
class AddedAudio:
    """An audio rendition published for a ready video: its new manifest, master CID, the track, and the
    bytes it added to the content store (its segments, its playlist, the new master)."""

    manifest: Mapping[str, str]
    playlist: str
    track: Mapping[str, Any]
    published_bytes: int = 0


class Transcoder(Protocol):
    """Probes source files and turns them into published, encrypted HLS."""

    async def probe(self, path: Path) -> SourceMeta:
        """What the file holds. Raises UnreadableMedia with a reason for a file that is not media."""
        ...

    async def transcode(
        self,
        order: TranscodeOrder,
        on_progress: ProgressSink | None = None,
        on_published: Callable[[Transcoded], Awaitable[None]] | None = None,
    ) -> Transcoded:
        """Run (or resume, for the same run id) the whole pipeline; raises core.pipeline.UnitFailed.

        `on_published` hears of each publication before the end: the video playable in its first
        rendition, then with each higher one added (the whole video as published so far; told again
        of the same one when a step is redone after a crash)."""
        ...

    async def published_file(self, cid: str) -> bytes | None:
        """The bytes of a small published file (the fallback cover), or None if it is not there."""
        ...

    async def check_image(self, data: bytes) -> None:
        """Raise InvalidCover (with the reason) unless `data` is a JPEG or PNG picture that decodes, of a
        size a cover may have (a file declaring a huge picture is refused before it is decoded)."""
        ...

    async def check_subtitle(self, data: bytes) -> None:
        """Raise InvalidSubtitle (with the reason) unless the pipeline can turn the subtitle file `data`
        into WebVTT: the same judgement it makes when it converts the file with the video."""
        ...

    async def add_subtitle_track(
        self, manifest: Mapping[str, str], duration: float, data: bytes, language: str, label: str
    ) -> AddedSubtitle:
        """Publish one more subtitles rendition of a published video without re-encoding it. Raises
        InvalidSubtitle (a file or language that cannot be used) and Conflict (the published files
        are missing)."""
        ...

    async def add_audio_track(
        self, run_id: str, manifest: Mapping[str, str], duration: float, audio: Path, language: str, name: str
    ) -> AddedAudio:
        """Publish one more audio rendition of a published video (run `run_id`) from the sound file at
        `audio`, without re-encoding the video. Raises InvalidAudioTrack (not audio, a bad language or a
        name the video has) and Conflict (the published files or the key are missing)."""
        ...

    async def remove_published(self, cid: str) -> None:
        """Remove a published file no video plays any more (a superseded master playlist). Idempotent."""
        ...

    async def forget(self, run_id: str) -> None:
        """Start the run over next time: drop its checkpoints and work files (the key is kept)."""
        ...

    async def discard(self, run_id: str) -> None:
        """Destroy the run: its checkpoints, work files and key (what it published cannot be decrypted
        any more)."""
        ...


class ChapterRepository(Protocol):
    """Stores the chapters a creator set for each video."""

    async def of_video(self, video_id: UUID) -> list[Chapter]:
        """The video's chapters in time order (none: the video has none of its own)."""
        ...

    async def replace(self, video_id: UUID, chapters: Sequence[Chapter]) -> None:
        """The video's chapters become `chapters` (none: remove them)."""
        ...
