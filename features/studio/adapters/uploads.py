"""tus uploads and creators' quotas in PostgreSQL and in memory."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from piccolo.columns import Column

from core.db import Database
from features.studio.adapters.videos import MemoryVideoRepository
from features.studio.model import (
    Upload,
)
from features.studio.tables import CreatorQuotaTable, UploadAllowanceTable, UploadTable


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
        free = UploadTable.lease_until.is_null() | (UploadTable.lease_until < now)
        claimed = (
            await UploadTable.update({UploadTable.lease: token, UploadTable.lease_until: until})
            .where((UploadTable.id == upload_id) & (UploadTable.upload_offset == offset) & free)
            .returning(UploadTable.id)
        )
        return bool(claimed)

    async def advance(
        self, upload_id: str, token: str, offset: int, until: datetime, expires_at: datetime | None = None
    ) -> bool:
        values: dict[Column | str, Any] = {UploadTable.upload_offset: offset, UploadTable.lease_until: until}
        if expires_at is not None:
            values[UploadTable.expires_at] = expires_at
        moved = (
            await UploadTable.update(values)
            .where((UploadTable.id == upload_id) & (UploadTable.lease == token))
            .returning(UploadTable.id)
        )
        return bool(moved)

    async def finish(self, upload_id: str, now: datetime, expires_at: datetime) -> None:
        # SQL: the offset becomes the row's own length in the same statement (Piccolo sets values, not columns)
        await self.db.execute(
            "UPDATE tus_uploads SET upload_offset = length, finished_at = $2, expires_at = $3 WHERE id = $1",
            upload_id,
            now,
            expires_at,
        )

    async def expired(self, now: datetime, limit: int = 100) -> list[Upload]:
        rows = (
            await UploadTable.select()
            .where(UploadTable.expires_at <= now)
            .order_by(UploadTable.expires_at, UploadTable.id)
            .limit(limit)
        )
        return [_upload(row) for row in rows]

    async def remove_expired(self, upload_id: str, now: datetime) -> Upload | None:
        free = UploadTable.lease_until.is_null() | (UploadTable.lease_until < now)
        rows = (
            await UploadTable.delete()
            .where((UploadTable.id == upload_id) & (UploadTable.expires_at <= now) & free)
            .returning(*UploadTable.all_columns())
        )
        return _upload(rows[0]) if rows else None

    async def release(self, upload_id: str, token: str) -> None:
        await UploadTable.update({UploadTable.lease: None, UploadTable.lease_until: None}).where(
            (UploadTable.id == upload_id) & (UploadTable.lease == token)
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


class PostgresQuotaRepository:
    """Quota usage computed from what is stored (videos, unfinished uploads) and the allowance log."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def lock(self, owner_id: UUID) -> None:
        # SQL: a transaction-scoped advisory lock
        await self.db.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"quota:{owner_id}")

    async def usage(self, owner_id: UUID, since: datetime) -> tuple[int, int]:
        # SQL: three sums over three tables in one round trip (every tus create asks, under the quota lock)
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
        row = (
            await CreatorQuotaTable.select(CreatorQuotaTable.storage_bytes, CreatorQuotaTable.daily_upload_bytes)
            .where(CreatorQuotaTable.owner_id == owner_id)
            .first()
        )
        return (None, None) if row is None else (row["storage_bytes"], row["daily_upload_bytes"])

    async def set_override(
        self, owner_id: UUID, storage_bytes: int | None, daily_upload_bytes: int | None, now: datetime
    ) -> bool:
        # SQL: `users` belongs to accounts, whose table class only accounts' adapters may import
        if not await self.db.fetchval("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)", owner_id):
            return False
        if storage_bytes is None and daily_upload_bytes is None:
            await CreatorQuotaTable.delete().where(CreatorQuotaTable.owner_id == owner_id)
            return True
        # SQL: an upsert (INSERT … ON CONFLICT DO UPDATE), atomic against a concurrent override
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
        await UploadAllowanceTable.insert(
            UploadAllowanceTable(upload_id=upload_id, owner_id=owner_id, bytes=length, created_at=now)
        ).on_conflict(target=UploadAllowanceTable.upload_id, action="DO NOTHING")

    async def forget_upload(self, upload_id: str) -> None:
        await UploadAllowanceTable.delete().where(UploadAllowanceTable.upload_id == upload_id)

    async def prune_allowance(self, before: datetime) -> int:
        pruned = (
            await UploadAllowanceTable.delete()
            .where(UploadAllowanceTable.created_at < before)
            .returning(UploadAllowanceTable.upload_id)
        )
        return len(pruned)


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
