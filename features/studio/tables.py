"""Piccolo tables of the studio (only adapters import them); they describe migrations/0100_studio.sql."""

from __future__ import annotations

from piccolo.columns import JSONB, UUID, BigInt, Boolean, DoublePrecision, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class VideoTable(Table, tablename="videos"):
    id = UUID(primary_key=True)
    public_id = Varchar(length=32, unique=True)
    owner_id = UUID()
    title = Varchar(length=120)
    description = Text(default="")
    state = Varchar(length=16)
    src_meta = JSONB(null=True, default=None)
    source_key = Text(null=True, default=None)
    source_size = BigInt(null=True, default=None)
    playlist = Text(null=True, default=None)
    manifest = JSONB(default={})
    video_tracks = JSONB(default=[])
    audio_tracks = JSONB(default=[])
    subtitle_tracks = JSONB(default=[])
    subtitle_sources = JSONB(default=[])
    cover_image = Text(null=True, default=None)
    cover_type = Text(null=True, default=None)
    fallback_cover_image = Text(null=True, default=None)
    duration = DoublePrecision(null=True, default=None)
    failure_reason = Text(null=True, default=None)
    progress = JSONB(null=True, default=None)
    queued_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()
    published_bytes = BigInt(default=0)
    fair_tag = BigInt(default=0)
    transcode_job = Text(null=True, default=None)
    pending_renditions = JSONB(default=[])  # migrations/2300_video_upgrading.sql
    upgrade_failure = Text(null=True, default=None)
    taken_down_reason = Text(null=True, default=None)  # migrations/1800_moderation.sql
    owner_suspended = Boolean(default=False)


class UploadTable(Table, tablename="tus_uploads"):
    id = Varchar(length=64, primary_key=True)
    video_id = UUID()
    owner_id = UUID()
    length = BigInt()
    upload_offset = BigInt(default=0)
    filename = Text(default="")
    lease = Text(null=True, default=None)
    lease_until = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    expires_at = Timestamptz(null=True, default=None)  # migrations/1300_tus_upload_expiry.sql
    finished_at = Timestamptz(null=True, default=None)


class CreatorQuotaTable(Table, tablename="creator_quotas"):
    owner_id = UUID(primary_key=True)
    storage_bytes = BigInt(null=True, default=None)
    daily_upload_bytes = BigInt(null=True, default=None)
    updated_at = Timestamptz()


class UploadAllowanceTable(Table, tablename="upload_allowance"):
    upload_id = Varchar(length=64, primary_key=True)
    owner_id = UUID()
    bytes = BigInt()
    created_at = Timestamptz()


class ChapterTable(Table, tablename="video_chapters"):
    """A video's chapter (migrations/2010_video_chapters.sql). Keyed by (video_id, position): Piccolo has
    no composite keys, so `video_id` is named the primary key and queries filter on the whole key."""

    video_id = UUID(primary_key=True)
    position = Integer()
    at_seconds = Integer()
    title = Varchar(length=100)
