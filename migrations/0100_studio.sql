-- Studio: videos and the tus uploads of their source files.
CREATE TABLE videos (
    id uuid PRIMARY KEY,
    public_id varchar(32) NOT NULL CONSTRAINT videos_public_id UNIQUE,
    owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title varchar(120) NOT NULL,
    description text NOT NULL DEFAULT '',
    state varchar(16) NOT NULL CONSTRAINT videos_state CHECK (state IN (
        'draft', 'uploading', 'uploaded', 'converting', 'ready', 'published', 'failed', 'rejected', 'archived')),
    src_meta jsonb,
    source_key text,
    source_size bigint,
    playlist text,
    manifest jsonb NOT NULL DEFAULT '{}',
    video_tracks jsonb NOT NULL DEFAULT '[]',
    audio_tracks jsonb NOT NULL DEFAULT '[]',
    subtitle_tracks jsonb NOT NULL DEFAULT '[]',
    subtitle_sources jsonb NOT NULL DEFAULT '[]',
    cover_image text,
    cover_type text,
    fallback_cover_image text,
    duration double precision,
    failure_reason text,
    progress jsonb,
    queued_at timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX videos_owner_created ON videos (owner_id, created_at DESC, id DESC);
-- the processing queue: "how many are waiting ahead of this one"
CREATE INDEX videos_waiting ON videos (queued_at, id) WHERE state = 'uploaded';

-- One row per tus upload; its offset lives here so any web process can continue it.
CREATE TABLE tus_uploads (
    id varchar(64) PRIMARY KEY,
    video_id uuid NOT NULL REFERENCES videos (id) ON DELETE CASCADE,
    owner_id uuid NOT NULL,
    length bigint NOT NULL CONSTRAINT tus_uploads_length CHECK (length >= 0),
    upload_offset bigint NOT NULL DEFAULT 0,
    filename text NOT NULL DEFAULT '',  -- shown to the creator only; never part of a path
    lease text,
    lease_until timestamptz,
    created_at timestamptz NOT NULL,
    CONSTRAINT tus_uploads_offset CHECK (upload_offset >= 0 AND upload_offset <= length)
);
CREATE INDEX tus_uploads_video ON tus_uploads (video_id);
