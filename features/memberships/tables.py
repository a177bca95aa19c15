"""Piccolo tables of memberships (only adapters import them); they describe migrations/2030_memberships.sql.

PostgreSQL keys `membership_tier_videos` on (tier_id, video_id); Piccolo has no composite keys, so the
class names the key's first column its primary key, and queries always filter on the whole key.
"""

from __future__ import annotations

from piccolo.columns import UUID, Boolean, Integer, SmallInt, Text, Timestamptz, Varchar
from piccolo.table import Table


class TierTable(Table, tablename="membership_tiers"):
    id = UUID(primary_key=True)
    creator_id = UUID()
    name = Varchar(length=60)
    price_points = Integer()
    all_videos = Boolean(default=True)
    retired_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class TierVideoTable(Table, tablename="membership_tier_videos"):
    """The chosen videos of a tier; key (tier_id, video_id)."""

    tier_id = UUID(primary_key=True)
    video_id = UUID()


class MembershipTable(Table, tablename="memberships"):
    id = UUID(primary_key=True)
    viewer_id = UUID()
    creator_id = UUID()
    tier_id = UUID()
    price_points = Integer()
    state = Text()
    anchor_day = SmallInt()
    period_start = Timestamptz()
    period_end = Timestamptz()
    grace_until = Timestamptz(null=True, default=None)
    next_tier_id = UUID(null=True, default=None)
    next_price_points = Integer(null=True, default=None)
    reminded_for = Timestamptz(null=True, default=None)
    join_key = Text()
    joined_at = Timestamptz()
    lapsed_at = Timestamptz(null=True, default=None)
    ended_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz()


class ChargeTable(Table, tablename="membership_charges"):
    id = UUID(primary_key=True)
    membership_id = UUID()
    viewer_id = UUID()
    creator_id = UUID()
    tier_id = UUID()
    kind = Text()
    period_start = Timestamptz()
    points = Integer()
    fee = Integer()
    transfer_id = UUID()  # ledger_transfers.id
    idempotency_key = Text()
    created_at = Timestamptz()
