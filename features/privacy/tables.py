"""Piccolo tables of the privacy feature (only adapters import them); they describe
migrations/1750_privacy.sql and 2100_privacy_erasure_memberships.sql."""

from __future__ import annotations

from piccolo.columns import UUID, BigInt, Boolean, Integer, Text, Timestamptz
from piccolo.table import Table


class ExportTable(Table, tablename="privacy_exports"):
    id = UUID(primary_key=True)
    user_id = UUID()
    status = Text()
    blob_key = Text(null=True, default=None)
    size_bytes = BigInt(null=True, default=None)
    failure = Text(default="")
    requested_at = Timestamptz()
    ready_at = Timestamptz(null=True, default=None)
    expires_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz()


class ErasureTable(Table, tablename="privacy_erasures"):
    user_id = UUID(primary_key=True)
    was_creator = Boolean()
    erased_at = Timestamptz()
    refunded_rentals = Integer(default=0)
    refunded_points = BigInt(default=0)
    refunded_memberships = Integer(default=0)
    refunded_membership_points = BigInt(default=0)
    forfeited_wallet_points = BigInt(default=0)
    settled_earnings_points = BigInt(default=0)
    purge_after = Timestamptz(null=True, default=None)
    purged_at = Timestamptz(null=True, default=None)
