"""Piccolo tables of offers (only its adapters and module import them); they describe
migrations/2040_offers.sql.

PostgreSQL keys `bundle_videos` on (bundle_id, video_id); Piccolo has no composite keys, so the class
names the key's first column its primary key, and queries always filter on the whole key.
"""

from __future__ import annotations

from piccolo.columns import UUID, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class BundleTable(Table, tablename="bundles"):
    id = UUID(primary_key=True)
    public_id = Varchar(length=24)
    creator_id = UUID()
    title = Varchar(length=120)
    description = Varchar(length=2000, default="")
    price = Integer()
    created_at = Timestamptz()
    updated_at = Timestamptz()


class BundleVideoTable(Table, tablename="bundle_videos"):
    """A video in a bundle; key (bundle_id, video_id)."""

    bundle_id = UUID(primary_key=True)
    video_id = UUID()
    added_at = Timestamptz()


class BundlePurchaseTable(Table, tablename="bundle_purchases"):
    id = UUID(primary_key=True)
    idempotency_key = Text()
    bundle_id = UUID()
    viewer_id = UUID()
    creator_id = UUID()
    list_price = Integer()
    discount = Integer(default=0)
    points = Integer()
    fee = Integer()
    code_id = UUID(null=True, default=None)
    transfer_id = UUID()  # ledger_transfers.id
    created_at = Timestamptz()


class PromoCodeTable(Table, tablename="promo_codes"):
    id = UUID(primary_key=True)
    creator_id = UUID()
    code = Varchar(length=32)
    kind = Text()
    amount = Integer()
    target_kind = Text()
    target_id = UUID()
    max_uses = Integer()
    uses = Integer(default=0)
    expires_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()


class PromoRedemptionTable(Table, tablename="promo_redemptions"):
    id = UUID(primary_key=True)
    code_id = UUID()
    viewer_id = UUID()
    creator_id = UUID()
    target_kind = Text()
    target_id = UUID()
    list_price = Integer()
    discount = Integer()
    points = Integer()
    fee = Integer()
    transfer_id = UUID()  # ledger_transfers.id
    created_at = Timestamptz()
