"""Piccolo tables of unlocks (only adapters import them); they describe migrations/0500_unlocks.sql,
1100_unlock_purchase_lock.sql and 2050_rental_first_play.sql.
The unlock itself is written by a measured SQL path (adapters.py).

PostgreSQL keys `entitlements` on (viewer_id, video_id); Piccolo has no composite keys, so the class
names the key's first column its primary key, and queries always filter on the whole key.
"""

from __future__ import annotations

from piccolo.columns import UUID, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class PricingTable(Table, tablename="video_pricing"):
    video_id = UUID(primary_key=True)
    free = Boolean(default=False)
    rent_day_points = Integer(null=True, default=None)
    rent_month_points = Integer(null=True, default=None)
    lifetime_points = Integer(null=True, default=None)
    preview_seconds = Integer(default=0)
    updated_at = Timestamptz()


class UnlockTable(Table, tablename="unlocks"):
    id = UUID(primary_key=True)
    idempotency_key = Text()
    viewer_id = UUID()
    video_id = UUID()
    creator_id = UUID()
    offer = Text()
    points = Integer()
    fee = Integer()
    transfer_id = UUID()  # ledger_transfers.id
    created_at = Timestamptz()


class EntitlementTable(Table, tablename="entitlements"):
    """What a viewer may watch; key (viewer_id, video_id)."""

    viewer_id = UUID(primary_key=True)
    video_id = UUID()
    offer = Text()
    expires_at = Timestamptz(null=True, default=None)
    granted_at = Timestamptz()
    updated_at = Timestamptz()
    waiting_seconds = Integer(null=True, default=None)  # a first-play rental not started yet (2050)
    started_at = Timestamptz(null=True, default=None)


class TipTable(Table, tablename="tips"):
    id = UUID(primary_key=True)
    idempotency_key = Text()
    viewer_id = UUID()
    creator_id = UUID()
    video_id = UUID()
    amount = Integer()
    message = Varchar(length=280, default="")
    transfer_id = UUID()  # ledger_transfers.id
    created_at = Timestamptz()
