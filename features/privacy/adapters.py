"""Privacy adapters: export and erasure records in PostgreSQL and in memory; the event-log scrubber."""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from core.db import Database
from core.events import MemoryEventBus
from features.privacy.model import Erasure, Export, ExportStatus
from features.privacy.tables import ErasureTable, ExportTable


def _export(row: Any) -> Export:
    return Export(
        id=row["id"],
        user_id=row["user_id"],
        status=ExportStatus(row["status"]),
        requested_at=row["requested_at"],
        updated_at=row["updated_at"],
        blob_key=row["blob_key"],
        size_bytes=row["size_bytes"],
        ready_at=row["ready_at"],
        expires_at=row["expires_at"],
        failure=row["failure"],
    )


def _export_values(export: Export) -> dict[Any, Any]:
    return {
        ExportTable.status: export.status.value,
        ExportTable.blob_key: export.blob_key,
        ExportTable.size_bytes: export.size_bytes,
        ExportTable.failure: export.failure,
        ExportTable.ready_at: export.ready_at,
        ExportTable.expires_at: export.expires_at,
        ExportTable.updated_at: export.updated_at,
    }


class PiccoloExportRepository:
    async def add(self, export: Export) -> None:
        await ExportTable.insert(
            ExportTable(
                id=export.id,
                user_id=export.user_id,
                status=export.status.value,
                blob_key=export.blob_key,
                size_bytes=export.size_bytes,
                failure=export.failure,
                requested_at=export.requested_at,
                ready_at=export.ready_at,
                expires_at=export.expires_at,
                updated_at=export.updated_at,
            )
        )

    async def get(self, export_id: UUID) -> Export | None:
        row = await ExportTable.select().where(ExportTable.id == export_id).first()
        return _export(row) if row else None

    async def save(self, export: Export) -> None:
        await ExportTable.update(_export_values(export)).where(ExportTable.id == export.id)

    async def for_user(self, user_id: UUID, limit: int = 10) -> list[Export]:
        rows = (
            await ExportTable.select()
            .where(ExportTable.user_id == user_id)
            .order_by(ExportTable.requested_at, ascending=False)
            .limit(limit)
        )
        return [_export(row) for row in rows]

    async def expiring(self, now: datetime, limit: int) -> list[Export]:
        rows = (
            await ExportTable.select()
            .where((ExportTable.status == ExportStatus.READY.value) & (ExportTable.expires_at <= now))
            .order_by(ExportTable.expires_at)
            .limit(limit)
        )
        return [_export(row) for row in rows]

    async def pending_since(self, before: datetime, limit: int) -> list[Export]:
        rows = (
            await ExportTable.select()
            .where((ExportTable.status == ExportStatus.PENDING.value) & (ExportTable.updated_at < before))
            .order_by(ExportTable.updated_at)
            .limit(limit)
        )
        return [_export(row) for row in rows]

    async def delete_for_user(self, user_id: UUID) -> list[Export]:
        rows = await ExportTable.delete().where(ExportTable.user_id == user_id).returning(*ExportTable.all_columns())
        return [_export(row) for row in rows]


def _erasure(row: Any) -> Erasure:
    return Erasure(
        user_id=row["user_id"],
        was_creator=row["was_creator"],
        erased_at=row["erased_at"],
        refunded_rentals=row["refunded_rentals"],
        refunded_points=row["refunded_points"],
        refunded_memberships=row["refunded_memberships"],
        refunded_membership_points=row["refunded_membership_points"],
        forfeited_wallet_points=row["forfeited_wallet_points"],
        settled_earnings_points=row["settled_earnings_points"],
        purge_after=row["purge_after"],
        purged_at=row["purged_at"],
    )


class PostgresErasureRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, erasure: Erasure) -> bool:
        row = ErasureTable(
            user_id=erasure.user_id,
            was_creator=erasure.was_creator,
            erased_at=erasure.erased_at,
            refunded_rentals=erasure.refunded_rentals,
            refunded_points=erasure.refunded_points,
            refunded_memberships=erasure.refunded_memberships,
            refunded_membership_points=erasure.refunded_membership_points,
            forfeited_wallet_points=erasure.forfeited_wallet_points,
            settled_earnings_points=erasure.settled_earnings_points,
            purge_after=erasure.purge_after,
            purged_at=erasure.purged_at,
        )
        return bool(await ErasureTable.insert(row).on_conflict(target=ErasureTable.user_id, action="DO NOTHING"))

    async def get(self, user_id: UUID) -> Erasure | None:
        row = await ErasureTable.select().where(ErasureTable.user_id == user_id).first()
        return _erasure(row) if row else None

    async def due(self, now: datetime, limit: int) -> list[Erasure]:
        rows = (
            await ErasureTable.select()
            .where(ErasureTable.purged_at.is_null() & ErasureTable.purge_after.is_not_null())
            .where(ErasureTable.purge_after <= now)
            .order_by(ErasureTable.purge_after)
            .limit(limit)
        )
        return [_erasure(row) for row in rows]

    async def mark_purged(self, user_id: UUID, now: datetime) -> None:
        await ErasureTable.update({ErasureTable.purged_at: now}).where(ErasureTable.user_id == user_id)


# Tip events are told to "user:<creator id>" topics (features/unlocks publishes them).
_SCRUB_TIPS = """
    UPDATE event_log SET data = data || jsonb_build_object('from_name', $4::text, 'message', '')
    WHERE name = 'tip' AND topic = ANY($3::text[])
      AND (data->>'from_id' = $1::text OR (NOT data ? 'from_id' AND data->>'from_name' = $2::text))
"""


class PostgresEventScrubber:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def scrub_tipper(
        self, tipper_id: UUID, display_name: str, creator_ids: Collection[UUID], replacement: str
    ) -> int:
        if not creator_ids:
            return 0
        topics = [f"user:{creator}" for creator in creator_ids]
        # SQL: jsonb operators rewrite the matching events in place.
        status = await self.db.execute(_SCRUB_TIPS, str(tipper_id), display_name, topics, replacement)
        return int(status.rsplit(" ", 1)[1])


# ---------------------------------------------------------------------------------------------------
# In memory


class MemoryExportRepository:
    def __init__(self) -> None:
        self.exports: dict[UUID, Export] = {}

    async def add(self, export: Export) -> None:
        self.exports[export.id] = export

    async def get(self, export_id: UUID) -> Export | None:
        return self.exports.get(export_id)

    async def save(self, export: Export) -> None:
        if export.id in self.exports:
            self.exports[export.id] = export

    async def for_user(self, user_id: UUID, limit: int = 10) -> list[Export]:
        mine = [e for e in self.exports.values() if e.user_id == user_id]
        return sorted(mine, key=lambda e: e.requested_at, reverse=True)[:limit]

    async def expiring(self, now: datetime, limit: int) -> list[Export]:
        due = [
            e
            for e in self.exports.values()
            if e.status is ExportStatus.READY and e.expires_at is not None and e.expires_at <= now
        ]
        return sorted(due, key=lambda e: e.expires_at or now)[:limit]

    async def pending_since(self, before: datetime, limit: int) -> list[Export]:
        stalled = [e for e in self.exports.values() if e.status is ExportStatus.PENDING and e.updated_at < before]
        return sorted(stalled, key=lambda e: e.updated_at)[:limit]

    async def delete_for_user(self, user_id: UUID) -> list[Export]:
        gone = [e for e in self.exports.values() if e.user_id == user_id]
        for export in gone:
            del self.exports[export.id]
        return gone


class MemoryErasureRepository:
    def __init__(self) -> None:
        self.erasures: dict[UUID, Erasure] = {}

    async def add(self, erasure: Erasure) -> bool:
        if erasure.user_id in self.erasures:
            return False
        self.erasures[erasure.user_id] = erasure
        return True

    async def get(self, user_id: UUID) -> Erasure | None:
        return self.erasures.get(user_id)

    async def due(self, now: datetime, limit: int) -> list[Erasure]:
        due = [
            e
            for e in self.erasures.values()
            if e.purged_at is None and e.purge_after is not None and e.purge_after <= now
        ]
        return sorted(due, key=lambda e: e.purge_after or now)[:limit]

    async def mark_purged(self, user_id: UUID, now: datetime) -> None:
        erasure = self.erasures.get(user_id)
        if erasure is not None:
            self.erasures[user_id] = replace(erasure, purged_at=now)


class MemoryEventScrubber:
    def __init__(self, bus: MemoryEventBus) -> None:
        self.bus = bus

    async def scrub_tipper(
        self, tipper_id: UUID, display_name: str, creator_ids: Collection[UUID], replacement: str
    ) -> int:
        topics = {f"user:{creator}" for creator in creator_ids}
        changed = 0
        for index, event in enumerate(self.bus.events):
            data = event.data
            mine = data.get("from_id") == str(tipper_id) or (
                "from_id" not in data and data.get("from_name") == display_name
            )
            if event.name == "tip" and event.topic in topics and mine:
                scrubbed = json.loads(json.dumps(data)) | {"from_name": replacement, "message": ""}
                self.bus.events[index] = replace(event, data=scrubbed)
                changed += 1
        return changed
