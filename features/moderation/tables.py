"""Piccolo tables of moderation (only adapters import them); they describe migrations/1800_moderation.sql."""

from __future__ import annotations

from piccolo.columns import JSONB, UUID, BigSerial, Text, Timestamptz, Varchar
from piccolo.table import Table


class ReportTable(Table, tablename="moderation_reports"):
    id = UUID(primary_key=True)
    reporter_id = UUID()
    subject_kind = Varchar(length=16)
    subject_id = UUID()
    reason = Varchar(length=32)
    details = Varchar(length=2000, default="")
    status = Varchar(length=16, default="open")
    created_at = Timestamptz()
    closed_at = Timestamptz(null=True, default=None)


class AuditTable(Table, tablename="moderation_audit"):
    """Append-only: a trigger refuses UPDATE and DELETE."""

    id = BigSerial(primary_key=True)
    staff_id = UUID(null=True, default=None)
    staff_email = Varchar(length=254)
    action = Varchar(length=32)
    subject_kind = Varchar(length=16)
    subject_id = UUID()
    subject_label = Text(default="")
    reason = Text(default="")
    details = JSONB(default={})
    created_at = Timestamptz()
