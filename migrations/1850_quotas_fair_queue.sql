-- Quotas per creator and the fair transcoding queue (issue 13, items 1 and 2).

-- Bytes the pipeline published for a video (renditions, playlists, cover), measured when stored.
ALTER TABLE videos ADD COLUMN published_bytes bigint NOT NULL DEFAULT 0;
-- Start-time fair queueing: a video's place in the transcoding queue (see docs/scaling.md).
ALTER TABLE videos ADD COLUMN fair_tag bigint NOT NULL DEFAULT 0;
-- The job (its key) that claimed this video for conversion; a retried job resumes the same video.
ALTER TABLE videos ADD COLUMN transcode_job text;
DROP INDEX IF EXISTS videos_waiting;
CREATE INDEX videos_waiting ON videos (fair_tag, queued_at, id) WHERE state = 'uploaded';
CREATE INDEX videos_fair_tag ON videos (fair_tag);
CREATE INDEX videos_transcode_job ON videos (transcode_job) WHERE state = 'converting';

-- Staff overrides of the default quotas (NULL: the default from settings).
CREATE TABLE creator_quotas (
    owner_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    storage_bytes bigint CONSTRAINT creator_quotas_storage CHECK (storage_bytes >= 0),
    daily_upload_bytes bigint CONSTRAINT creator_quotas_daily CHECK (daily_upload_bytes >= 0),
    updated_at timestamptz NOT NULL
);

-- Every accepted tus create, for the rolling 24 h upload allowance (declared Upload-Length).
CREATE TABLE upload_allowance (
    upload_id varchar(64) PRIMARY KEY,
    owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    bytes bigint NOT NULL CONSTRAINT upload_allowance_bytes CHECK (bytes >= 0),
    created_at timestamptz NOT NULL
);
CREATE INDEX upload_allowance_owner ON upload_allowance (owner_id, created_at);
