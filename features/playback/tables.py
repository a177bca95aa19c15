"""Piccolo tables of playback (only adapters import them); they describe migrations/0510_playback.sql,
1400_playback_views.sql and 1401_key_fetches.sql. The adapters write them with plain SQL (hot paths);
the tables serve the staff data admin and the schema check."""

from __future__ import annotations

from piccolo.columns import UUID, BigSerial, Boolean, Date, DoublePrecision, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class HeartbeatTable(Table, tablename="playback_heartbeats"):
    id = BigSerial(primary_key=True)
    viewer_id = UUID(null=True, default=None)
    video_id = UUID()
    session_id = Varchar(length=64)  # the server's view id (see playback_views)
    position_seconds = DoublePrecision()
    preview = Boolean(default=False)
    at = Timestamptz()


class PlaybackViewTable(Table, tablename="playback_views"):
    id = BigSerial(primary_key=True)
    viewer_key = Text()  # unique with video_id and preview
    video_id = UUID()
    preview = Boolean()
    view_id = Varchar(length=64)
    session_id = Varchar(length=64)
    started_at = Timestamptz()
    last_at = Timestamptz()


class KeyFetchTable(Table, tablename="key_fetches"):
    id = BigSerial(primary_key=True)
    viewer_id = UUID()
    video_id = UUID()
    day = Date()
    fetches = Integer()
    first_at = Timestamptz()
    last_at = Timestamptz()
