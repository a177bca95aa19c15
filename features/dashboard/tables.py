"""Piccolo tables of the creator dashboard (only adapters import them); they describe
migrations/0810_dashboard.sql.

PostgreSQL keys `dashboard_presence` on (owner_id, viewer_key, video_id); Piccolo has no composite
keys, so the class names the key's first column its primary key, and queries always filter on the
whole key.
"""

from __future__ import annotations

from piccolo.columns import UUID, BigInt, Integer, Text, Timestamptz
from piccolo.table import Table


class DashboardCursorTable(Table, tablename="dashboard_cursors"):
    name = Text(primary_key=True)
    position = BigInt(default=0)


class PresenceTable(Table, tablename="dashboard_presence"):
    """Who watches a creator's videos right now; key (owner_id, viewer_key, video_id)."""

    owner_id = UUID(primary_key=True)
    viewer_key = Text()
    video_id = UUID()
    last_seen = Timestamptz()


class ViewerCountTable(Table, tablename="dashboard_viewer_counts"):
    owner_id = UUID(primary_key=True)
    viewers = Integer()
    updated_at = Timestamptz()
