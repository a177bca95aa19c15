"""Videos in PostgreSQL (Piccolo for plain reads and inserts, SQL for locks and the fair queue) and in memory."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from core.db import Database
from features.studio.model import (
    ProcessingProgress,
    Video,
    VideoState,
    VideoSummary,
    video_from_row,
)
from features.studio.tables import VideoTable


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
        "pending_renditions": json.dumps(video.pending_renditions),
        "upgrade_failure": video.upgrade_failure,
    }


# SQL: FOR SHARE keeps the row as read until the transaction ends: a take-down's or a suspension's UPDATE
# waits for a purchase that read the video visible (and then refunds it), and other purchases go on.
_BY_PUBLIC_ID = "SELECT * FROM videos WHERE public_id = $1"
_BY_PUBLIC_ID_SHARED = "SELECT * FROM videos WHERE public_id = $1 FOR SHARE"


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

    async def get(self, video_id: UUID, *, for_update: bool = False) -> Video | None:
        if for_update:
            rows = await VideoTable.select().where(VideoTable.id == video_id).lock_rows("UPDATE").output(load_json=True)
            return video_from_row(rows[0]) if rows else None
        # SQL: measured hot path (every live tile): a Piccolo select() costs ≈ 450 µs more CPU (docs/benchmarks.md)
        row = await self.db.fetchrow("SELECT * FROM videos WHERE id = $1", video_id)
        return video_from_row(row) if row else None

    async def by_public_id(self, public_id: str, *, share_lock: bool = False) -> Video | None:
        # SQL: measured hot path (every unlock and watch page): ≈ 450 µs CPU less than Piccolo (docs/benchmarks.md)
        row = await self.db.fetchrow(_BY_PUBLIC_ID_SHARED if share_lock else _BY_PUBLIC_ID, public_id)
        return video_from_row(row) if row else None

    async def share_locked(self, video_ids: Collection[UUID]) -> list[Video]:
        # SQL: row locks taken in id order (LockRows runs above the sort) have no Piccolo query.
        rows = await self.db.fetch(
            "SELECT * FROM videos WHERE id = ANY($1::uuid[]) ORDER BY id FOR SHARE", list(set(video_ids))
        )
        return [video_from_row(row) for row in rows]

    async def save(self, video: Video) -> None:
        await VideoTable.update(**_columns(video)).where(VideoTable.id == video.id)

    async def record_progress(self, video_id: UUID, progress: ProcessingProgress) -> bool:
        changed = await self.db.fetchval(
            f"UPDATE videos SET progress = $2, updated_at = $3 WHERE id = $1 AND {_CONVERTING} RETURNING id",  # noqa: S608
            video_id,
            json.dumps(progress.to_dict()),
            progress.updated_at,
        )
        return changed is not None

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
        return [video_from_row(row) for row in rows]

    async def published(
        self,
        limit: int,
        *,
        before: tuple[datetime, UUID] | None = None,
        owner_ids: Collection[UUID] | None = None,
        query: str | None = None,
        exclude_ids: Collection[UUID] = (),
    ) -> list[VideoSummary]:
        # SQL: keyset pagination on the row value (created_at, id), served by the partial index videos_published
        conditions = ["state = 'published'", "taken_down_reason IS NULL", "NOT owner_suspended"]
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if before is not None:
            conditions.append(f"(created_at, id) < ({arg(before[0])}, {arg(before[1])})")
        if owner_ids is not None and query:
            conditions.append(f"owner_id = ANY({arg(list(owner_ids))}::uuid[])")
        if exclude_ids:
            conditions.append(f"NOT (id = ANY({arg(list(exclude_ids))}::uuid[]))")
        where = " AND ".join(conditions)
        if query:
            escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            like, window = arg("%" + escaped + "%"), arg(limit * SEARCH_WINDOW_PER_ROW)
            sql = _title_search(where, like=like, limit=arg(limit), window=window)
        elif owner_ids is not None:
            # SQL: each owner's newest through videos_published_owner, merged. `owner_id = ANY($n)` let a
            # generic plan walk every published video for a creator with a few old ones (54 ms at 100k).
            owners, most = arg(list(set(owner_ids))), arg(limit)
            sql = (
                f"SELECT v.* FROM unnest({owners}::uuid[]) AS wanted(owner)"  # noqa: S608
                f" CROSS JOIN LATERAL (SELECT {_SUMMARY_COLUMNS} FROM videos WHERE {where} AND owner_id = wanted.owner"
                f" ORDER BY created_at DESC, id DESC LIMIT {most}) AS v"
                f" ORDER BY v.created_at DESC, v.id DESC LIMIT {most}"
            )
        else:
            sql = (
                f"SELECT {_SUMMARY_COLUMNS} FROM videos WHERE {where}"  # noqa: S608
                f" ORDER BY created_at DESC, id DESC LIMIT {arg(limit)}"
            )
        rows = await self.db.fetch(sql, *args)
        return [_summary(row) for row in rows]

    async def set_taken_down(self, video_id: UUID, reason: str | None, now: datetime) -> bool:
        changed = (
            await VideoTable.update({VideoTable.taken_down_reason: reason, VideoTable.updated_at: now})
            .where(VideoTable.id == video_id)
            .returning(VideoTable.id)
        )
        return bool(changed)

    async def set_owner_suspended(self, owner_id: UUID, suspended: bool, now: datetime) -> list[UUID]:
        # SQL: the owner's rows locked in id order first, as a bundle purchase share-locks its videos
        # (share_locked): the UPDATE alone would lock them in whatever order it finds them.
        await self.db.execute("SELECT 1 FROM videos WHERE owner_id = $1 ORDER BY id FOR UPDATE", owner_id)
        rows = (
            await VideoTable.update({VideoTable.owner_suspended: suspended, VideoTable.updated_at: now})
            .where((VideoTable.owner_id == owner_id) & (VideoTable.owner_suspended != suspended))
            .returning(VideoTable.id)
        )
        return [row["id"] for row in rows]

    async def summaries(self, video_ids: Collection[UUID]) -> dict[UUID, VideoSummary]:
        if not video_ids:
            return {}
        # SQL: one `= ANY($1)` parameter for any number of ids (Piccolo's is_in binds one parameter per id)
        rows = await self.db.fetch(
            f"SELECT {_SUMMARY_COLUMNS}, {_HIDDEN_COLUMN} FROM videos WHERE id = ANY($1::uuid[])",  # noqa: S608
            list(set(video_ids)),
        )
        return {row["id"]: _summary(row) for row in rows}

    async def waiting_ahead_of(self, video: Video) -> int:
        if video.queued_at is None:
            return 0
        # SQL: the fair queue's order as one row-value comparison, served by the index videos_waiting
        count = await self.db.fetchval(
            "SELECT count(*) FROM videos WHERE state = 'uploaded' AND (fair_tag, queued_at, id) < ($1, $2, $3)",
            video.fair_tag,
            video.queued_at,
            video.id,
        )
        return int(count)

    async def waiting(self, limit: int = 100) -> list[Video]:
        rows = (
            await VideoTable.select()
            .where(VideoTable.state == VideoState.UPLOADED.value)
            .order_by(VideoTable.fair_tag, VideoTable.queued_at, VideoTable.id)
            .limit(limit)
            .output(load_json=True)
        )
        return [video_from_row(row) for row in rows]

    async def next_fair_tag(self, owner_id: UUID) -> int:
        # SQL: an advisory lock (one enqueue at a time; released at commit), then GREATEST over two aggregates
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
        # SQL: FOR UPDATE SKIP LOCKED in the fair queue's order (concurrent jobs each take another video)
        row = await self.db.fetchrow(
            f"SELECT * FROM videos WHERE {_CONVERTING} AND transcode_job = $1 LIMIT 1 FOR UPDATE",  # noqa: S608
            job_key,
        )
        if row is None:
            row = await self.db.fetchrow(
                "SELECT * FROM videos WHERE state = 'uploaded' AND source_key IS NOT NULL"
                " ORDER BY fair_tag, queued_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
            )
        if row is None:  # a failed upgrade its owner retried (it plays meanwhile, so it comes after uploads)
            row = await self.db.fetchrow(
                f"SELECT * FROM videos WHERE {_UPGRADING} AND transcode_job IS NULL AND source_key IS NOT NULL"  # noqa: S608
                " ORDER BY queued_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
            )
        if row is None:
            return None
        video = video_from_row(row)
        video.transcode_job = job_key
        return video

    async def converting_count(self) -> int:
        return int(await self.db.fetchval(f"SELECT count(*) FROM videos WHERE {_CONVERTING}"))  # noqa: S608

    async def stalled(self, states: frozenset[VideoState], updated_before: datetime, limit: int = 100) -> list[Video]:
        rows = (
            await VideoTable.select()
            .where(VideoTable.state.is_in([s.value for s in states]) & (VideoTable.updated_at < updated_before))
            .order_by(VideoTable.updated_at)
            .limit(limit)
            .output(load_json=True)
        )
        return [video_from_row(row) for row in rows]

    async def masters_in_use(self, cids: Collection[str]) -> set[str]:
        rows = await self.db.fetch("SELECT DISTINCT playlist FROM videos WHERE playlist = ANY($1::text[])", list(cids))
        return {str(row["playlist"]) for row in rows}

    async def stalled_upgrades(self, updated_before: datetime, limit: int = 100) -> list[Video]:
        rows = await self.db.fetch(
            f"SELECT * FROM videos WHERE {_UPGRADING} AND updated_at < $1 ORDER BY updated_at LIMIT $2",  # noqa: S608
            updated_before,
            limit,
        )
        return [video_from_row(row) for row in rows]


# A playable video whose higher renditions still convert (Video.upgrading), and one the pipeline
# works on (Video.converting), in SQL: constant fragments, never input (hence the S608 waivers).
_UPGRADING = "state IN ('ready', 'published') AND pending_renditions <> '[]'::jsonb AND upgrade_failure IS NULL"
_CONVERTING = f"(state = 'converting' OR ({_UPGRADING}))"

_SUMMARY_COLUMNS = (
    "id, public_id, owner_id, title, state, duration, created_at, updated_at, cover_image, fallback_cover_image"
)
_HIDDEN_COLUMN = "taken_down_reason IS NOT NULL OR owner_suspended AS hidden"
"""Lists of the catalog select only videos no one hid; a summary read by id says whether it is hidden."""

SEARCH_WINDOW_PER_ROW = 40
"""A title search reads this many of the newest published videos per row it returns (1,000 for a page
of 24 + 1) before it asks the trigram index: with fewer matches than that, matches are rarer than one
in 40 there, and fetching them all through the index costs less than walking on."""


def _title_search(where: str, *, like: str, limit: str, window: str) -> str:
    """Newest-first title search whose cost follows the matches, not the catalog (issue 16, item 7).

    Left to itself the planner picks one plan from its estimate of how many titles match: walk the
    newest-first index until the page is full (right for a common word), or fetch every match through
    the trigram index and sort them (right for a rare one). A word that its statistics call middling
    but that only old videos have (≈ 1 % of the catalog, all of it in the oldest tenth) made it walk
    90,000 rows: 53 ms. So the statement decides on facts instead: it reads the newest `window`
    videos (after the cursor); if they hold a full page of matches, that page is the answer; if not,
    matches are sparse there, and it fetches every match (trigram index, bitmap) and sorts those — a
    cost bounded by how many titles match. The parts the answer does not need never run (one-time
    filters on the count). A generic plan (asyncpg prepares statements) keeps the same shape.

    The one case left slow: a word that is common among old videos but almost absent from the
    newest ones costs a sort of all its matches."""
    # SQL: a materialized CTE and one-time filters pick the plan at run time; Piccolo cannot express it
    columns = _SUMMARY_COLUMNS
    order = "ORDER BY created_at DESC, id DESC"
    return (
        f"WITH recent AS MATERIALIZED ("  # noqa: S608
        f" SELECT {columns} FROM (SELECT {columns} FROM videos WHERE {where} {order} LIMIT {window}) AS newest"
        f" WHERE title ILIKE {like} {order} LIMIT {limit}"
        f"), matches AS MATERIALIZED ("
        f" SELECT {columns} FROM videos WHERE {where} AND title ILIKE {like}"
        f" AND (SELECT count(*) FROM recent) < {limit}"
        f")"
        f" (SELECT {columns} FROM recent WHERE (SELECT count(*) FROM recent) >= {limit})"
        f" UNION ALL"
        f" (SELECT {columns} FROM matches {order} LIMIT {limit})"
        f" {order}"
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
        hidden=bool(row.get("hidden", False)),
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

    async def by_public_id(self, public_id: str, *, share_lock: bool = False) -> Video | None:
        return next((_copy(v) for v in self.videos.values() if v.public_id == public_id), None)

    async def share_locked(self, video_ids: Collection[UUID]) -> list[Video]:
        return [_copy(self.videos[i]) for i in sorted(set(video_ids)) if i in self.videos]

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
        if video is None or not video.converting:
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
            if video.converting and video.transcode_job == job_key:
                return _copy(video)
        waiting = [v for v in self._waiting() if v.source_key is not None]
        if not waiting:
            waiting = sorted(
                (v for v in self.videos.values() if v.upgrading and v.transcode_job is None and v.source_key),
                key=lambda v: (v.queued_at or v.updated_at, v.id),
            )
        if not waiting:
            return None
        return replace(_copy(waiting[0]), transcode_job=job_key)

    async def converting_count(self) -> int:
        return sum(1 for v in self.videos.values() if v.converting)

    async def stalled(self, states: frozenset[VideoState], updated_before: datetime, limit: int = 100) -> list[Video]:
        found = [v for v in self.videos.values() if v.state in states and v.updated_at < updated_before]
        found.sort(key=lambda v: v.updated_at)
        return [_copy(v) for v in found[:limit]]

    async def masters_in_use(self, cids: Collection[str]) -> set[str]:
        wanted = set(cids)
        return {v.playlist for v in self.videos.values() if v.playlist is not None and v.playlist in wanted}

    async def stalled_upgrades(self, updated_before: datetime, limit: int = 100) -> list[Video]:
        found = [v for v in self.videos.values() if v.upgrading and v.updated_at < updated_before]
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
        pending_renditions=list(video.pending_renditions),
    )
