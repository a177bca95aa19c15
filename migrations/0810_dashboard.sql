-- The live dashboard: who is watching which creator's videos right now (sightings from heartbeats,
-- kept ~30 s), the heartbeat read position, and the viewer counts last published as "viewers" events.
CREATE TABLE dashboard_cursors (
    name text PRIMARY KEY,
    position bigint NOT NULL DEFAULT 0
);

CREATE TABLE dashboard_presence (
    owner_id uuid NOT NULL,
    viewer_key text NOT NULL,
    video_id uuid NOT NULL,
    last_seen timestamptz NOT NULL,
    PRIMARY KEY (owner_id, viewer_key, video_id)
);
CREATE INDEX dashboard_presence_last_seen ON dashboard_presence (last_seen);

CREATE TABLE dashboard_viewer_counts (
    owner_id uuid PRIMARY KEY,
    viewers integer NOT NULL CONSTRAINT dashboard_viewer_counts_positive CHECK (viewers > 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);
