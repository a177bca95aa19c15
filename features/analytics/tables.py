"""Piccolo tables of analytics (only adapters import them); they describe migrations/0800_analytics.sql
and 0801_analytics_sessions_last_at.sql. The folds that fill them are SQL (adapters.py).

PostgreSQL keys the daily tables and the sessions on several columns (named in each docstring);
Piccolo has no composite keys, so each class names the key's first column its primary key, and
queries always filter on the whole key.
"""

from __future__ import annotations

from piccolo.columns import UUID, Array, BigInt, Boolean, Date, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class AnalyticsCursorTable(Table, tablename="analytics_cursors"):
    name = Text(primary_key=True)
    position = BigInt(default=0)
    gap_seen_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz()


class SessionFoldTable(Table, tablename="analytics_sessions"):
    """One viewing session as folded from heartbeats; key (video_id, session_id)."""

    video_id = UUID(primary_key=True)
    session_id = Varchar(length=64)
    owner_id = UUID()
    day = Date()
    viewer_key = Text()
    preview = Boolean()
    last_at = Timestamptz()
    last_position_ms = BigInt()
    max_position_ms = BigInt()
    watched_ms = BigInt()


class WatchDayTable(Table, tablename="analytics_watch_days"):
    """Views and watch time per video and day; key (video_id, day)."""

    video_id = UUID(primary_key=True)
    day = Date()
    owner_id = UUID()
    views = Integer(default=0)
    preview_views = Integer(default=0)
    watch_ms = BigInt(default=0)
    reach = Array(base_column=Integer())  # reach[k + 1]: views whose furthest point was k x 5 %


class ViewerDayTable(Table, tablename="analytics_viewer_days"):
    """Distinct viewers per video and day; key (video_id, day, viewer_key)."""

    video_id = UUID(primary_key=True)
    day = Date()
    owner_id = UUID()
    viewer_key = Text()


class RevenueDayTable(Table, tablename="analytics_revenue_days"):
    """Sales and tips per video and day; key (video_id, day)."""

    video_id = UUID(primary_key=True)
    day = Date()
    owner_id = UUID()
    sales = Integer(default=0)
    gross_points = BigInt(default=0)
    net_points = BigInt(default=0)
    tips = Integer(default=0)
    tip_points = BigInt(default=0)
