"""Studio adapters: videos and uploads in PostgreSQL (Piccolo + plain SQL) and in memory; transcoders."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from core.db import Database
from core.errors import Conflict
from core.pipeline import Progress, ProgressSink, UnitFailed
from features.pipeline.content_store import ContentNotFound
from features.pipeline.model import ProbeError, TranscodeRequest
from features.pipeline.model import SubtitleSource as PipelineSubtitle
from features.pipeline.service import TranscodeService
from features.pipeline.subtitles import SubtitleError
from features.studio.model import (
    InvalidSubtitle,
    ProcessingProgress,
    SourceMeta,
    Subtitle,
    Transcoded,
    UnreadableMedia,
    Upload,
    Video,
    VideoState,
    VideoSummary,
)
from features.studio.ports import AddedSubtitle, TranscodeOrder
from features.studio.tables import UploadTable, VideoTable

# -- videos -----------------------------------------------------------------------------------


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _video(row: Mapping[str, Any]) -> Video:
    progress = _json(row["progress"])
    return Video(
        id=row["id"],
        public_id=row["public_id"],
        owner_id=row["owner_id"],
        title=row["title"],
        description=row["description"],
        state=VideoState(row["state"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        src_meta=_json(row["src_meta"]),
        source_key=row["source_key"],
        source_size=row["source_size"],
        playlist=row["playlist"],
        manifest=dict(_json(row["manifest"]) or {}),
        video_tracks=list(_json(row["video_tracks"]) or []),
        audio_tracks=list(_json(row["audio_tracks"]) or []),
        subtitle_tracks=list(_json(row["subtitle_tracks"]) or []),
        subtitle_sources=[Subtitle.from_dict(s) for s in _json(row["subtitle_sources"]) or []],
        cover_image=row["cover_image"],
        cover_type=row["cover_type"],
        fallback_cover_image=row["fallback_cover_image"],
        duration=row["duration"],
        failure_reason=row["failure_reason"],
        progress=ProcessingProgress.from_dict(progress) if progress else None,
        queued_at=row["queued_at"],
        published_bytes=row["published_bytes"],
        fair_tag=row["fair_tag"],
        transcode_job=row["transcode_job"],
        taken_down_reason=row["taken_down_reason"],
        owner_suspended=row["owner_suspended"],
    )


def _columns(video: Video) -> dict[str, Any]:
    """Every mutable column of a video, JSON columns encoded as text."""
    return {
        "title": video.title,
        "description": video.description,
        "state": video.state.value,
        "src_meta": None if video.src_meta is None else json.dumps(video.src_meta),
        "source_key": video.source_key,
        "source_size": video.source_size,
        "playlist": video.playlist,
        "manifest": json.dumps(video.manifest),
        "video_tracks": json.dumps(video.video_tracks),
        "audio_tracks": json.dumps(video.audio_tracks),
        "subtitle_tracks": json.dumps(video.subtitle_tracks),
        "subtitle_sources": json.dumps([s.to_dict() for s in video.subtitle_sources]),
        "cover_image": video.cover_image,
        "cover_type": video.cover_type,
        "fallback_cover_image": video.fallback_cover_image,
        "duration": video.duration,
        "failure_reason": video.failure_reason,
        "progress": None if video.progress is None else json.dumps(video.progress.to_dict()),
        "queued_at": video.queued_at,
        "updated_at": video.updated_at,
        "published_bytes": video.published_bytes,
        "fair_tag": video.fair_tag,
        "transcode_job": video.transcode_job,
    }


class PiccoloVideoRepository:
    """Videos in PostgreSQL: Piccolo for plain reads and inserts, SQL for locks and the queue."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, video: Video) -> None:
        await VideoTable.insert(
            VideoTable(
                id=video.id,
                public_id=video.public_id,
                owner_id=video.owner_id,
                created_at=video.created_at,
                **_columns(video),
            )
        )

    # The two hot reads (every unlock, every live tile) are plain SQL: a Piccolo select() costs
    # ≈ 450 µs of CPU more per call here (bench/unlock.py, docs/benchmarks.md).
    async def get(self, video_id: UUID, *, for_update: bool = False) -> Video | None:
        if for_update:
            rows = await VideoTable.select().where(VideoTable.id == video_id).lock_rows("UPDATE").output(load_json=True)
            return _video(rows[0]) if rows else None
        row = await self.db.fetchrow("SELECT * FROM videos WHERE id = $1", video_id)
        return _video(row) if row else None

    async def by_public_id(self, public_id: str) -> Video | None:
        row = await self.db.fetchrow("SELECT * FROM videos WHERE public_id = $1", public_id)
        return _video(row) if row else None

    async def save(self, video: Video) -> None:
        await self._update(video.id, _columns(video))

    async def _update(self, video_id: UUID, columns: dict[str, Any]) -> None:
        names = list(columns)
        assignments = ", ".join(
            f"{name} = ${index}::jsonb" if name in _JSON_COLUMNS else f"{name} = ${index}"
            for index, name in enumerate(names, start=2)
        )
        await self.db.execute(f"UPDATE videos SET {assignments} WHERE id = $1", video_id, *columns.values())  # noqa: S608

    async def record_progress(self, video_id: UUID, progress: ProcessingProgress) -> bool:
        status = await self.db.execute(
            "UPDATE videos SET progress = $2::jsonb, updated_at = $3 WHERE id = $1 AND state = 'converting'",
            video_id,
            json.dumps(progress.to_dict()),
            progress.updated_at,
        )
        return status.endswith(" 1")

    async def list_for_owner(
        self, owner_id: UUID, *, limit: int = 50, offset: int = 0, states: frozenset[VideoState] | None = None
    ) -> list[Video]:
        query = VideoTable.select().where(VideoTable.owner_id == owner_id)
        if states is not None:
            query = query.where(VideoTable.state.is_in([s.value for s in states]))
        rows = (
            await query.order_by(VideoTable.created_at, ascending=False)
            .order_by(VideoTable.id, ascending=False)
            .limit(limit)
            .offset(offset)
            .output(load_json=True)
        )
        return [_video(row) for row in rows]

    async def published(
        self,
        limit: int,
        *,
        before: tuple[datetime, UUID] | None = None,
        owner_ids: Collection[UUID] | None = None,
        query: str | None = None,
        exclude_ids: Collection[UUID] = (),
    ) -> list[VideoSummary]:
        conditions = ["state = 'published'", "taken_down_reason IS NULL", "NOT owner_suspended"]
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if before is not None:
            conditions.append(f"(created_at, id) < ({arg(before[0])}, {arg(before[1])})")
        if owner_ids is not None:
            conditions.append(f"owner_id = ANY({arg(list(owner_ids))}::uuid[])")
        if query:
            escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            conditions.append(f"title ILIKE {arg('%' + escaped + '%')}")
        if exclude_ids:
            conditions.append(f"NOT (id = ANY({arg(list(exclude_ids))}::uuid[]))")
        rows = await self.db.fetch(
            f"SELECT {_SUMMARY_COLUMNS} FROM videos WHERE {' AND '.join(conditions)}"  # noqa: S608
            f" ORDER BY created_at DESC, id DESC LIMIT {arg(limit)}",
            *args,
        )
        return [_summary(row) for row in rows]

    async def set_taken_down(self, video_id: UUID, reason: str | None, now: datetime) -> bool:
        status = await self.db.execute(
            "UPDATE videos SET taken_down_reason = $2, updated_at = $3 WHERE id = $1", video_id, reason, now
        )
        return status != "UPDATE 0"

    async def set_owner_suspended(self, owner_id: UUID, suspended: bool, now: datetime) -> list[UUID]:
        rows = await self.db.fetch(
            "UPDATE videos SET owner_suspended = $2, updated_at = $3"
            " WHERE owner_id = $1 AND owner_suspended <> $2 RETURNING id",
            owner_id,
            suspended,
            now,
        )
        return [row["id"] for row in rows]

    async def summaries(self, video_ids: Collection[UUID]) -> dict[UUID, VideoSummary]:
        if not video_ids:
            return {}
        rows = await self.db.fetch(
            f"SELECT {_SUMMARY_COLUMNS} FROM videos WHERE id = ANY($1::uuid[])",  # noqa: S608
            list(set(video_ids)),
        )
        return {row["id"]: _summary(row) for row in rows}

    async def waiting_ahead_of(self, video: Video) -> int:
        if video.queued_at is None:
            return 0
        count = await self.db.fetchval(
            "SELECT count(*) FROM videos WHERE state = 'uploaded' AND (fair_tag, queued_at, id) < ($1, $2, $3)",
            video.fair_tag,
            video.queued_at,
            video.id,
        )
        return int(count)

    async def waiting(self, limit: int = 100) -> list[Video]:
        rows = await self.db.fetch(
            "SELECT * FROM videos WHERE state = 'uploaded' ORDER BY fair_tag, queued_at, id LIMIT $1",
            limit,
        )
        return [_video(row) for row in rows]

    async def next_fair_tag(self, owner_id: UUID) -> int:
        # One enqueue at a time computes a tag (a transaction-scoped lock: released at commit).
        await self.db.execute("SELECT pg_advisory_xact_lock(hashtext('studio:fair-queue'))")
        tag = await self.db.fetchval(
            """SELECT GREATEST(
                   COALESCE((SELECT max(fair_tag) FROM videos WHERE state <> 'uploaded'), 0),
                   COALESCE((SELECT max(fair_tag) + 1 FROM videos
                             WHERE owner_id = $1 AND state IN ('uploaded', 'converting')), 0))""",
            owner_id,
        )
        return int(tag)

    async def claim_next(self, job_key: str) -> Video | None:
        row = await self.db.fetchrow(
            "SELECT * FROM videos WHERE state = 'converting' AND transcode_job = $1 LIMIT 1 FOR UPDATE", job_key
        )
        if row is None:
            row = await self.db.fetchrow(
                "SELECT * FROM videos WHERE state = 'uploaded' AND source_key IS NOT NULL"
                " ORDER BY fair_tag, queued_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
            )
        if row is None:
            return None
        video = _video(row)
        video.transcode_job = job_key
        return video

    async def converting_count(self) -> int:
        return int(await self.db.fetchval("SELECT count(*) FROM videos WHERE state = 'converting'"))

    async def stalled(self, states: frozenset[VideoState], updated_before: datetime, limit: int = 100) -> list[Video]:
        rows = await self.db.fetch(
            "SELECT * FROM videos WHERE state = ANY($1::text[]) AND updated_at < $2 ORDER BY updated_at LIMIT $3",
            [s.value for s in states],
            updated_before,
            limit,
        )
        return [_video(row) for row in rows]


_SUMMARY_COLUMNS = (
    "id, public_id, owner_id, title, state, duration, created_at, updated_at, cover_image, fallback_cover_image"
)


def _summary(row: Mapping[str, Any]) -> VideoSummary:
    return VideoSummary(
        id=row["id"],
        public_id=row["public_id"],
        owner_id=row["owner_id"],
        title=row["title"],
        state=VideoState(row["state"]),
        duration=row["duration"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        cover_image=row["cover_image"],
        fallback_cover_image=row["fallback_cover_image"],
    )


_JSON_COLUMNS = frozenset(
    {"src_meta", "manifest", "video_tracks", "audio_tracks", "subtitle_tracks", "subtitle_sources", "progress"}
)


class MemoryVideoRepository:
    def __init__(self) -> None:
        self.videos: dict[UUID, Video] = {}

    async def add(self, video: Video) -> None:
        if video.id in self.videos or any(v.public_id == video.public_id for v in self.videos.values()):
            raise ValueError("duplicate video")
        self.videos[video.id] = _copy(video)

    async def get(self, video_id: UUID, *, for_update: bool = False) -> Video | None:
        video = self.videos.get(video_id)
        return _copy(video) if video else None

    async def by_public_id(self, public_id: str) -> Video | None:
        return next((_copy(v) for v in self.videos.values() if v.public_id == public_id), None)

    async def save(self, video: Video) -> None:
        stored = self.videos.get(video.id)
        if stored is not None:  # the moderation fields are not saved (as in SQL): set_taken_down etc.
            self.videos[video.id] = replace(
                _copy(video), taken_down_reason=stored.taken_down_reason, owner_suspended=stored.owner_suspended
            )

    async def set_taken_down(self, video_id: UUID, reason: str | None, now: datetime) -> bool:
        stored = self.videos.get(video_id)
        if stored is None:
            return False
        self.videos[video_id] = replace(stored, taken_down_reason=reason, updated_at=now)
        return True

    async def set_owner_suspended(self, owner_id: UUID, suspended: bool, now: datetime) -> list[UUID]:
        changed = [v.id for v in self.videos.values() if v.owner_id == owner_id and v.owner_suspended != suspended]
        for video_id in changed:
            self.videos[video_id] = replace(self.videos[video_id], owner_suspended=suspended, updated_at=now)
        return changed

    async def record_progress(self, video_id: UUID, progress: ProcessingProgress) -> bool:
        video = self.videos.get(video_id)
        if video is None or video.state is not VideoState.CONVERTING:
            return False
        self.videos[video_id] = replace(video, progress=progress, updated_at=progress.updated_at)
        return True

    async def list_for_owner(
        self, owner_id: UUID, *, limit: int = 50, offset: int = 0, states: frozenset[VideoState] | None = None
    ) -> list[Video]:
        mine = [v for v in self.videos.values() if v.owner_id == owner_id and (states is None or v.state in states)]
        mine.sort(key=lambda v: (v.created_at, v.id), reverse=True)
        return [_copy(v) for v in mine[offset : offset + limit]]

    async def published(
        self,
        limit: int,
        *,
        before: tuple[datetime, UUID] | None = None,
        owner_ids: Collection[UUID] | None = None,
        query: str | None = None,
        exclude_ids: Collection[UUID] = (),
    ) -> list[VideoSummary]:
        owners = None if owner_ids is None else set(owner_ids)
        excluded = set(exclude_ids)
        needle = query.casefold() if query else None
        found = [
            v
            for v in self.videos.values()
            if v.state is VideoState.PUBLISHED
            and not v.hidden
            and (before is None or (v.created_at, v.id) < before)
            and (owners is None or v.owner_id in owners)
            and (needle is None or needle in v.title.casefold())
            and v.id not in excluded
        ]
        found.sort(key=lambda v: (v.created_at, v.id), reverse=True)
        return [VideoSummary.of(v) for v in found[:limit]]

    async def summaries(self, video_ids: Collection[UUID]) -> dict[UUID, VideoSummary]:
        return {i: VideoSummary.of(self.videos[i]) for i in video_ids if i in self.videos}

    async def waiting_ahead_of(self, video: Video) -> int:
        if video.queued_at is None:
            return 0
        mark = _fair_order(video)
        return sum(1 for v in self._waiting() if _fair_order(v) < mark)

    async def waiting(self, limit: int = 100) -> list[Video]:
        return [_copy(v) for v in self._waiting()[:limit]]

    def _waiting(self) -> list[Video]:
        queued = [v for v in self.videos.values() if v.state is VideoState.UPLOADED and v.queued_at is not None]
        return sorted(queued, key=_fair_order)

    async def next_fair_tag(self, owner_id: UUID) -> int:
        started = [v.fair_tag for v in self.videos.values() if v.state is not VideoState.UPLOADED]
        mine = [
            v.fair_tag + 1
            for v in self.videos.values()
            if v.owner_id == owner_id and v.state in (VideoState.UPLOADED, VideoState.CONVERTING)
        ]
        return max([0, *started, *mine])

    async def claim_next(self, job_key: str) -> Video | None:
        for video in self.videos.values():
            if video.state is VideoState.CONVERTING and video.transcode_job == job_key:
                return _copy(video)
        waiting = [v for v in self._waiting() if v.source_key is not None]
        if not waiting:
            return None
        return replace(_copy(waiting[0]), transcode_job=job_key)

    async def converting_count(self) -> int:
        return sum(1 for v in self.videos.values() if v.state is VideoState.CONVERTING)

    async def stalled(self, states: frozenset[VideoState], updated_before: datetime, limit: int = 100) -> list[Video]:
        found = [v for v in self.videos.values() if v.state in states and v.updated_at < updated_before]
        found.sort(key=lambda v: v.updated_at)
        return [_copy(v) for v in found[:limit]]


def _fair_order(video: Video) -> tuple[int, datetime, UUID]:
    assert video.queued_at is not None
    return (video.fair_tag, video.queued_at, video.id)


def _copy(video: Video) -> Video:
    """A detached copy, so callers change the stored video only through `save` (as with a database)."""
    return replace(
        video,
        src_meta=None if video.src_meta is None else dict(video.src_meta),
        manifest=dict(video.manifest),
        video_tracks=[dict(t) for t in video.video_tracks],
        audio_tracks=[dict(t) for t in video.audio_tracks],
        subtitle_tracks=[dict(t) for t in video.subtitle_tracks],
        subtitle_sources=list(video.subtitle_sources),
    )


# -- uploads ----------------------------------------------------------------------------------


def _upload(row: Mapping[str, Any]) -> Upload:
    return Upload(
        id=row["id"],
        video_id=row["video_id"],
        owner_id=row["owner_id"],
        length=row["length"],
        offset=row["upload_offset"],
        created_at=row["created_at"],
        filename=row["filename"],
        expires_at=row["expires_at"],
        finished_at=row["finished_at"],
    )


class PiccoloUploadRepository:
    """tus uploads in PostgreSQL; the lease and the offset move with compare-and-set updates."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, upload: Upload) -> None:
        await UploadTable.insert(
            UploadTable(
                id=upload.id,
                video_id=upload.video_id,
                owner_id=upload.owner_id,
                length=upload.length,
                upload_offset=upload.offset,
                filename=upload.filename,
                lease=None,
                lease_until=None,
                created_at=upload.created_at,
                expires_at=upload.expires_at,
                finished_at=upload.finished_at,
            )
        )

    async def get(self, upload_id: str) -> Upload | None:
        row = await UploadTable.select().where(UploadTable.id == upload_id).first()
        return _upload(row) if row else None

    async def for_video(self, video_id: UUID) -> list[Upload]:
        rows = await UploadTable.select().where(UploadTable.video_id == video_id).order_by(UploadTable.created_at)
        return [_upload(row) for row in rows]

    async def claim(self, upload_id: str, offset: int, token: str, now: datetime, until: datetime) -> bool:
        status = await self.db.execute(
            "UPDATE tus_uploads SET lease = $3, lease_until = $5"
            " WHERE id = $1 AND upload_offset = $2 AND (lease_until IS NULL OR lease_until < $4)",
            upload_id,
            offset,
            token,
            now,
            until,
        )
        return status.endswith(" 1")

    async def advance(
        self, upload_id: str, token: str, offset: int, until: datetime, expires_at: datetime | None = None
    ) -> bool:
        status = await self.db.execute(
            "UPDATE tus_uploads SET upload_offset = $3, lease_until = $4, expires_at = coalesce($5, expires_at)"
            " WHERE id = $1 AND lease = $2",
            upload_id,
            token,
            offset,
            until,
            expires_at,
        )
        return status.endswith(" 1")

    async def finish(self, upload_id: str, now: datetime, expires_at: datetime) -> None:
        await self.db.execute(
            "UPDATE tus_uploads SET upload_offset = length, finished_at = $2, expires_at = $3 WHERE id = $1",
            upload_id,
            now,
            expires_at,
        )

    async def expired(self, now: datetime, limit: int = 100) -> list[Upload]:
        rows = await self.db.fetch(
            "SELECT * FROM tus_uploads WHERE expires_at <= $1 ORDER BY expires_at, id LIMIT $2", now, limit
        )
        return [_upload(row) for row in rows]

    async def remove_expired(self, upload_id: str, now: datetime) -> Upload | None:
        row = await self.db.fetchrow(
            "DELETE FROM tus_uploads WHERE id = $1 AND expires_at <= $2"
            " AND (lease_until IS NULL OR lease_until < $2) RETURNING *",
            upload_id,
            now,
        )
        return _upload(row) if row else None

    async def release(self, upload_id: str, token: str) -> None:
        await self.db.execute(
            "UPDATE tus_uploads SET lease = NULL, lease_until = NULL WHERE id = $1 AND lease = $2", upload_id, token
        )

    async def delete(self, upload_id: str) -> None:
        await UploadTable.delete().where(UploadTable.id == upload_id)


@dataclass
class _Lease:
    token: str
    until: datetime


class MemoryUploadRepository:
    def __init__(self) -> None:
        self.uploads: dict[str, Upload] = {}
        self.leases: dict[str, _Lease] = {}

    async def add(self, upload: Upload) -> None:
        self.uploads[upload.id] = upload

    async def get(self, upload_id: str) -> Upload | None:
        return self.uploads.get(upload_id)

    async def for_video(self, video_id: UUID) -> list[Upload]:
        found = [u for u in self.uploads.values() if u.video_id == video_id]
        return sorted(found, key=lambda u: u.created_at)

    async def claim(self, upload_id: str, offset: int, token: str, now: datetime, until: datetime) -> bool:
        upload = self.uploads.get(upload_id)
        lease = self.leases.get(upload_id)
        if upload is None or upload.offset != offset or (lease is not None and lease.until >= now):
            return False
        self.leases[upload_id] = _Lease(token, until)
        return True

    async def advance(
        self, upload_id: str, token: str, offset: int, until: datetime, expires_at: datetime | None = None
    ) -> bool:
        upload = self.uploads.get(upload_id)
        lease = self.leases.get(upload_id)
        if upload is None or lease is None or lease.token != token:
            return False
        self.uploads[upload_id] = replace(upload, offset=offset, expires_at=expires_at or upload.expires_at)
        lease.until = until
        return True

    async def finish(self, upload_id: str, now: datetime, expires_at: datetime) -> None:
        upload = self.uploads.get(upload_id)
        if upload is not None:
            self.uploads[upload_id] = replace(upload, offset=upload.length, finished_at=now, expires_at=expires_at)

    async def expired(self, now: datetime, limit: int = 100) -> list[Upload]:
        found = [u for u in self.uploads.values() if u.expired(now)]
        return sorted(found, key=lambda u: (u.expires_at or now, u.id))[:limit]

    async def remove_expired(self, upload_id: str, now: datetime) -> Upload | None:
        upload = self.uploads.get(upload_id)
        lease = self.leases.get(upload_id)
        if upload is None or not upload.expired(now) or (lease is not None and lease.until >= now):
            return None
        await self.delete(upload_id)
        return upload

    async def release(self, upload_id: str, token: str) -> None:
        lease = self.leases.get(upload_id)
        if lease is not None and lease.token == token:
            del self.leases[upload_id]

    async def delete(self, upload_id: str) -> None:
        self.uploads.pop(upload_id, None)
        self.leases.pop(upload_id, None)


# -- transcoders ------------------------------------------------------------------------------


class PipelineTranscoder:
    """The pipeline feature's TranscodeService, in the studio's words."""

    def __init__(self, service: TranscodeService) -> None:
        self.service = service

    async def probe(self, path: Path) -> SourceMeta:
        try:
            info = await self.service.probe(path)
        except ProbeError as error:
            raise UnreadableMedia(error.message) from error
        return SourceMeta(**info.to_dict())

    async def transcode(self, order: TranscodeOrder, on_progress: ProgressSink | None = None) -> Transcoded:
        request = TranscodeRequest(
            run_id=order.run_id,
            source=order.source,
            work_dir=order.work_dir,
            subtitles=tuple(PipelineSubtitle(s.path, s.language, s.label) for s in order.subtitles),
            key_uri=order.key_uri,
        )
        result = (await self.service.transcode(request, on_progress)).to_dict()
        cids = set(result["manifest"].values()) | {result["master_playlist_cid"]}
        if result["cover_cid"]:
            cids.add(result["cover_cid"])
        published = 0
        for cid in cids:  # the real bytes in the content store, for the creator's storage quota
            with contextlib.suppress(ContentNotFound):
                published += await self.service.published_size(cid)
        return Transcoded(
            playlist=result["master_playlist_cid"],
            manifest=result["manifest"],
            video_tracks=tuple(result["renditions"]),
            audio_tracks=tuple(result["audio_tracks"]),
            subtitle_tracks=tuple(result["subtitle_tracks"]),
            cover=result["cover_cid"],
            duration=result["duration"],
            published_bytes=published,
        )

    async def published_file(self, cid: str) -> bytes | None:
        try:
            return await self.service.read_published(cid)
        except ContentNotFound:
            return None

    async def forget(self, run_id: str) -> None:
        await self.service.forget(run_id)

    async def discard(self, run_id: str) -> None:
        await self.service.discard(run_id)

    async def add_subtitle_track(
        self, manifest: Mapping[str, str], duration: float, data: bytes, language: str, label: str
    ) -> AddedSubtitle:
        try:
            added = await self.service.add_subtitle_track(manifest, duration, data, language, label)
        except SubtitleError as error:
            raise InvalidSubtitle(error.message) from error
        except (ContentNotFound, KeyError, ValueError) as error:
            raise Conflict("This video's published files are incomplete: convert it again first.") from error
        return AddedSubtitle(added.manifest, added.master_playlist_cid, added.track)


FAKE_MEDIA_MAGIC = b"HYPHA-FAKE-MEDIA\n"
FAKE_JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 16 + b"\xff\xd9"
FAKE_STEPS = ("Converting subtitles", "Converting audio", "Converting to 480p", "Publishing")


def fake_media(meta: SourceMeta, padding: int = 0) -> bytes:
    """Bytes the in-memory transcoder reads as a video with `meta` (tests and demos without ffmpeg)."""
    return FAKE_MEDIA_MAGIC + json.dumps(meta.to_dict()).encode() + b"\n" + b"\0" * padding


@dataclass
class MemoryTranscoder:
    """Probes files written by `fake_media`, 'converts' in four reported steps, publishes fake CIDs.

    `fail_next` holds reasons: each run pops one and fails with it (a UnitFailed), like a flaky unit;
    `step_seconds` makes each step take that long (for tests of what happens meanwhile);
    `fail_permanently` fails every run with that reason as a permanent UnitFailed (a spent CPU budget).
    """

    fail_next: list[str] = field(default_factory=list)
    step_seconds: float = 0.0
    fail_permanently: str | None = None
    runs: list[TranscodeOrder] = field(default_factory=list)
    completed: set[str] = field(default_factory=set)
    forgotten: list[str] = field(default_factory=list)
    discarded: list[str] = field(default_factory=list)

    async def probe(self, path: Path) -> SourceMeta:
        head = await asyncio.to_thread(_head, path)
        if not head.startswith(FAKE_MEDIA_MAGIC):
            raise UnreadableMedia("This file is not a video we can read.")
        try:
            data = json.loads(head[len(FAKE_MEDIA_MAGIC) :].split(b"\n", 1)[0])
            return SourceMeta(**data)
        except (ValueError, TypeError) as error:
            raise UnreadableMedia("This video file is damaged.") from error

    async def transcode(self, order: TranscodeOrder, on_progress: ProgressSink | None = None) -> Transcoded:
        self.runs.append(order)
        if not order.source.is_file():
            raise UnitFailed("ConvertingInitial", "the source file is missing")
        steps = len(FAKE_STEPS)
        for index, step in enumerate(FAKE_STEPS):
            if self.step_seconds:
                await asyncio.sleep(self.step_seconds)
            if on_progress is not None:
                eta = float(steps - index)
                await on_progress(Progress(order.run_id, step, index + 1, steps, round(100 * index / steps, 1), eta))
            if index == 2 and self.fail_permanently:
                raise UnitFailed("ConvertVideoTo480p", self.fail_permanently, permanent=True)
            if index == 2 and self.fail_next:
                raise UnitFailed("ConvertVideoTo480p", self.fail_next.pop(0))
        if on_progress is not None:
            await on_progress(Progress(order.run_id, FAKE_STEPS[-1], steps, steps, 100.0, 0.0, finished=True))
        self.completed.add(order.run_id)
        digest = hashlib.sha256(order.run_id.encode()).hexdigest()[:16]
        return Transcoded(
            playlist=f"fake-master-{digest}",
            manifest={"master.m3u8": f"fake-master-{digest}", "480p/index.m3u8": f"fake-480p-{digest}"},
            video_tracks=({"name": "480p", "width": 854, "height": 480, "bandwidth": 1_400_000},),
            audio_tracks=({"name": "Stereo", "language": "und", "playlist": "audio/index.m3u8"},),
            subtitle_tracks=tuple(
                {"language": s.language, "label": s.label, "playlist": f"subs/{s.language}.m3u8"}
                for s in order.subtitles
            ),
            cover=f"fake-cover-{digest}",
            duration=None,
        )

    async def published_file(self, cid: str) -> bytes | None:
        return FAKE_JPEG if cid.startswith("fake-cover-") else None

    async def forget(self, run_id: str) -> None:
        self.forgotten.append(run_id)
        self.completed.discard(run_id)

    async def discard(self, run_id: str) -> None:
        await self.forget(run_id)
        self.discarded.append(run_id)

    async def add_subtitle_track(
        self, manifest: Mapping[str, str], duration: float, data: bytes, language: str, label: str
    ) -> AddedSubtitle:
        """A fake rendition: a new fake master CID naming the track (the real conversion is the pipeline's)."""
        playlist = f"subs/late-{language}.m3u8"
        digest = hashlib.sha256(json.dumps([sorted(manifest.items()), playlist]).encode()).hexdigest()[:16]
        published = {**manifest, playlist: f"fake-subs-{digest}", "master.m3u8": f"fake-master-{digest}"}
        track = {"language": language, "label": label or language, "playlist": playlist}
        return AddedSubtitle(published, published["master.m3u8"], track)


def _head(path: Path, size: int = 4096) -> bytes:
    with path.open("rb") as fh:
        return fh.read(size)


# -- quotas -----------------------------------------------------------------------------------


class PostgresQuotaRepository:
    """Quota usage computed from what is stored (videos, unfinished uploads) and the allowance log."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def lock(self, owner_id: UUID) -> None:
        await self.db.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"quota:{owner_id}")

    async def usage(self, owner_id: UUID, since: datetime) -> tuple[int, int]:
        row = await self.db.fetchrow(
            """SELECT
                 COALESCE((SELECT sum(COALESCE(source_size, 0) + published_bytes) FROM videos
                           WHERE owner_id = $1), 0)
               + COALESCE((SELECT sum(length) FROM tus_uploads
                           WHERE owner_id = $1 AND finished_at IS NULL), 0) AS stored,
                 COALESCE((SELECT sum(bytes) FROM upload_allowance
                           WHERE owner_id = $1 AND created_at >= $2), 0) AS uploaded""",
            owner_id,
            since,
        )
        assert row is not None
        return int(row["stored"]), int(row["uploaded"])

    async def override(self, owner_id: UUID) -> tuple[int | None, int | None]:
        row = await self.db.fetchrow(
            "SELECT storage_bytes, daily_upload_bytes FROM creator_quotas WHERE owner_id = $1", owner_id
        )
        return (None, None) if row is None else (row["storage_bytes"], row["daily_upload_bytes"])

    async def set_override(
        self, owner_id: UUID, storage_bytes: int | None, daily_upload_bytes: int | None, now: datetime
    ) -> bool:
        if not await self.db.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", owner_id):
            return False
        if storage_bytes is None and daily_upload_bytes is None:
            await self.db.execute("DELETE FROM creator_quotas WHERE owner_id = $1", owner_id)
            return True
        await self.db.execute(
            """INSERT INTO creator_quotas (owner_id, storage_bytes, daily_upload_bytes, updated_at)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (owner_id) DO UPDATE SET storage_bytes = EXCLUDED.storage_bytes,
                   daily_upload_bytes = EXCLUDED.daily_upload_bytes, updated_at = EXCLUDED.updated_at""",
            owner_id,
            storage_bytes,
            daily_upload_bytes,
            now,
        )
        return True

    async def record_upload(self, upload_id: str, owner_id: UUID, length: int, now: datetime) -> None:
        await self.db.execute(
            "INSERT INTO upload_allowance (upload_id, owner_id, bytes, created_at) VALUES ($1, $2, $3, $4)"
            " ON CONFLICT (upload_id) DO NOTHING",
            upload_id,
            owner_id,
            length,
            now,
        )

    async def forget_upload(self, upload_id: str) -> None:
        await self.db.execute("DELETE FROM upload_allowance WHERE upload_id = $1", upload_id)

    async def prune_allowance(self, before: datetime) -> int:
        status = await self.db.execute("DELETE FROM upload_allowance WHERE created_at < $1", before)
        return int(status.rsplit(" ", 1)[-1])


@dataclass
class MemoryQuotaRepository:
    """The same rules over the memory repositories (one event loop: no lock is needed)."""

    videos: MemoryVideoRepository
    uploads: MemoryUploadRepository
    overrides: dict[UUID, tuple[int | None, int | None]] = field(default_factory=dict)
    allowance: dict[str, tuple[UUID, int, datetime]] = field(default_factory=dict)

    async def lock(self, owner_id: UUID) -> None:
        return None

    async def usage(self, owner_id: UUID, since: datetime) -> tuple[int, int]:
        mine = [v for v in self.videos.videos.values() if v.owner_id == owner_id]
        stored = sum((v.source_size or 0) + v.published_bytes for v in mine)
        # a finished upload's bytes are the video's source now (its row only answers HEAD until it expires)
        unfinished = [u for u in self.uploads.uploads.values() if u.owner_id == owner_id and u.finished_at is None]
        stored += sum(u.length for u in unfinished)
        uploaded = sum(n for owner, n, at in self.allowance.values() if owner == owner_id and at >= since)
        return stored, uploaded

    async def override(self, owner_id: UUID) -> tuple[int | None, int | None]:
        return self.overrides.get(owner_id, (None, None))

    async def set_override(
        self, owner_id: UUID, storage_bytes: int | None, daily_upload_bytes: int | None, now: datetime
    ) -> bool:
        if storage_bytes is None and daily_upload_bytes is None:
            self.overrides.pop(owner_id, None)
        else:
            self.overrides[owner_id] = (storage_bytes, daily_upload_bytes)
        return True

    async def record_upload(self, upload_id: str, owner_id: UUID, length: int, now: datetime) -> None:
        self.allowance.setdefault(upload_id, (owner_id, length, now))

    async def forget_upload(self, upload_id: str) -> None:
        self.allowance.pop(upload_id, None)

    async def prune_allowance(self, before: datetime) -> int:
        old = [key for key, (_, _, at) in self.allowance.items() if at < before]
        for key in old:
            del self.allowance[key]
        return len(old)
