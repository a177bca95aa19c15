"""Piccolo tables of playback (only adapters import them); they describe migrations/1400_playback_views.sql
and migrations/1401_key_fetches.sql. Heartbeats (0510_playback.sql) are written with plain SQL only."""

from __future__ import annotations

from piccolo.columns import UUID, BigSerial, Boolean, Date, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


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
