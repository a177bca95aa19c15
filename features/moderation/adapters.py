"""Moderation adapters: PostgreSQL (Piccolo on the tables of migrations/1800_moderation.sql) and in memory."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from core.db import Database
from features.moderation.model import Action, AuditEntry, QueueRow, Report, SubjectKind
from features.moderation.tables import AuditTable, ReportTable


def _report(row: Any) -> Report:
    return Report(
        id=row["id"],
        reporter_id=row["reporter_id"],
        subject_kind=SubjectKind(row["subject_kind"]),
        subject_id=row["subject_id"],
        reason=row["reason"],
        details=row["details"],
        created_at=row["created_at"],
        open=row["status"] == "open",
        closed_at=row["closed_at"],
    )


def _entry(row: Any) -> AuditEntry:
    details = row["details"]
    return AuditEntry(
        id=row["id"],
        staff_id=row["staff_id"],
        staff_email=row["staff_email"],
        action=Action(row["action"]),
        subject_kind=row["subject_kind"],
        subject_id=row["subject_id"],
        subject_label=row["subject_label"],
        reason=row["reason"],
        created_at=row["created_at"],
        details=json.loads(details) if isinstance(details, str) else dict(details or {}),
    )


class PostgresReportRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, report: Report) -> None:
        await ReportTable.insert(
            ReportTable(
                id=report.id,
                reporter_id=report.reporter_id,
                subject_kind=report.subject_kind.value,
                subject_id=report.subject_id,
                reason=report.reason,
                details=report.details,
                created_at=report.created_at,
            )
        )

    async def queue(self, limit: int = 100) -> list[QueueRow]:
        # SQL: one GROUP BY with array_agg over the open reports.
        rows = await self.db.fetch(
            "SELECT subject_kind, subject_id, count(*) AS n, min(created_at) AS first_at, max(created_at) AS last_at,"
            " array_agg(DISTINCT reason) AS reasons FROM moderation_reports WHERE status = 'open'"
            " GROUP BY subject_kind, subject_id ORDER BY min(created_at), subject_id LIMIT $1",
            limit,
        )
        return [
            QueueRow(
                SubjectKind(r["subject_kind"]),
                r["subject_id"],
                r["n"],
                r["first_at"],
                r["last_at"],
                tuple(r["reasons"]),
            )
            for r in rows
        ]

    async def for_subject(self, kind: SubjectKind, subject_id: UUID) -> list[Report]:
        rows = (
            await ReportTable.select()
            .where((ReportTable.subject_kind == kind.value) & (ReportTable.subject_id == subject_id))
            .order_by(ReportTable.created_at, ReportTable.id, ascending=False)
            .limit(500)
        )
        return [_report(r) for r in rows]

    async def close_open(self, kind: SubjectKind, subject_id: UUID, now: datetime) -> int:
        closed = (
            await ReportTable.update({ReportTable.status: "closed", ReportTable.closed_at: now})
            .where(
                (ReportTable.subject_kind == kind.value)
                & (ReportTable.subject_id == subject_id)
                & (ReportTable.status == "open")
            )
            .returning(ReportTable.id)
        )
        return len(closed)


class PostgresAuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def append(self, entry: AuditEntry) -> AuditEntry:
        inserted = await AuditTable.insert(
            AuditTable(
                staff_id=entry.staff_id,
                staff_email=entry.staff_email,
                action=entry.action.value,
                subject_kind=entry.subject_kind,
                subject_id=entry.subject_id,
                subject_label=entry.subject_label,
                reason=entry.reason,
                details=json.dumps(entry.details),
                created_at=entry.created_at,
            )
        )
        return replace(entry, id=inserted[0]["id"])

    async def page(self, before_id: int | None, limit: int) -> list[AuditEntry]:
        query = AuditTable.select().order_by(AuditTable.id, ascending=False).limit(limit)
        if before_id is not None:
            query = query.where(AuditTable.id < before_id)
        return [_entry(r) for r in await query]

    async def for_subject(self, kind: str, subject_id: UUID) -> list[AuditEntry]:
        rows = (
            await AuditTable.select()
            .where((AuditTable.subject_kind == kind) & (AuditTable.subject_id == subject_id))
            .order_by(AuditTable.id, ascending=False)
            .limit(500)
        )
        return [_entry(r) for r in rows]


class MemoryReportRepository:
    def __init__(self) -> None:
        self.reports: dict[UUID, Report] = {}

    async def add(self, report: Report) -> None:
        self.reports[report.id] = report

    async def queue(self, limit: int = 100) -> list[QueueRow]:
        groups: dict[tuple[SubjectKind, UUID], list[Report]] = {}
        for report in self.reports.values():
            if report.open:
                groups.setdefault((report.subject_kind, report.subject_id), []).append(report)
        rows = [
            QueueRow(
                kind,
                subject_id,
                len(found),
                min(r.created_at for r in found),
                max(r.created_at for r in found),
                tuple(sorted({r.reason for r in found})),
            )
            for (kind, subject_id), found in groups.items()
        ]
        rows.sort(key=lambda row: (row.first_at, row.subject_id))
        return rows[:limit]

    async def for_subject(self, kind: SubjectKind, subject_id: UUID) -> list[Report]:
        found = [r for r in self.reports.values() if r.subject_kind is kind and r.subject_id == subject_id]
        return sorted(found, key=lambda r: (r.created_at, r.id), reverse=True)

    async def close_open(self, kind: SubjectKind, subject_id: UUID, now: datetime) -> int:
        closing = [r for r in await self.for_subject(kind, subject_id) if r.open]
        for report in closing:
            self.reports[report.id] = replace(report, open=False, closed_at=now)
        return len(closing)


class MemoryAuditLog:
    """Append-only like the table: there is no way to change or remove an entry."""

    def __init__(self) -> None:
        self._entries: list[AuditEntry] = []

    async def append(self, entry: AuditEntry) -> AuditEntry:
        stored = replace(entry, id=len(self._entries) + 1, details=dict(entry.details))
        self._entries.append(stored)
        return stored

    async def page(self, before_id: int | None, limit: int) -> list[AuditEntry]:
        found = [e for e in reversed(self._entries) if before_id is None or (e.id or 0) < before_id]
        return found[:limit]

    async def for_subject(self, kind: str, subject_id: UUID) -> list[AuditEntry]:
        return [e for e in reversed(self._entries) if e.subject_kind == kind and e.subject_id == subject_id]
