-- Playback: where players are, every ~10 s (analytics, "watched" for picks). viewer_id is NULL for
-- visitors watching a free video or a preview.
CREATE TABLE playback_heartbeats (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    viewer_id uuid,
    video_id uuid NOT NULL,
    session_id varchar(64) NOT NULL,
    position_seconds double precision NOT NULL CONSTRAINT playback_heartbeats_position CHECK (position_seconds >= 0),
    preview boolean NOT NULL DEFAULT false,
    at timestamptz NOT NULL
);
CREATE INDEX playback_heartbeats_viewer ON playback_heartbeats (viewer_id, video_id) WHERE viewer_id IS NOT NULL;
CREATE INDEX playback_heartbeats_video ON playback_heartbeats (video_id, at);
