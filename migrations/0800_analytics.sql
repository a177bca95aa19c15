-- Analytics: per-video per-day aggregates folded incrementally from playback heartbeats and from the
-- "sale"/"tip" events of the event log, so report pages read a few rows per video per day whatever
-- the number of heartbeats. Video and user ids are not foreign keys (features stay removable).

-- Read positions in the sources (heartbeat ids, event_log ids), moved in the transaction that folds.
CREATE TABLE analytics_cursors (
    name text PRIMARY KEY,
    position bigint NOT NULL DEFAULT 0,
    gap_seen_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per playback session: where it was last, how far it got, how much it watched.
CREATE TABLE analytics_sessions (
    video_id uuid NOT NULL,
    session_id varchar(64) NOT NULL,
    owner_id uuid NOT NULL,
    day date NOT NULL,
    viewer_key text NOT NULL,
    preview boolean NOT NULL,
    last_at timestamptz NOT NULL,
    last_position_ms bigint NOT NULL,
    max_position_ms bigint NOT NULL,
    watched_ms bigint NOT NULL CONSTRAINT analytics_sessions_watched CHECK (watched_ms >= 0),
    PRIMARY KEY (video_id, session_id)
);

-- Watching per video per day. reach[k + 1] counts the views whose furthest point was k x 5 %.
CREATE TABLE analytics_watch_days (
    video_id uuid NOT NULL,
    day date NOT NULL,
    owner_id uuid NOT NULL,
    views integer NOT NULL DEFAULT 0 CONSTRAINT analytics_watch_days_views CHECK (views >= 0),
    preview_views integer NOT NULL DEFAULT 0,
    watch_ms bigint NOT NULL DEFAULT 0,
    reach integer[] NOT NULL CONSTRAINT analytics_watch_days_reach CHECK (cardinality(reach) = 21),
    PRIMARY KEY (video_id, day)
);
CREATE INDEX analytics_watch_days_owner ON analytics_watch_days (owner_id, day);

-- Who watched a video on a day (distinct viewers over any range are counted from these rows).
CREATE TABLE analytics_viewer_days (
    video_id uuid NOT NULL,
    day date NOT NULL,
    owner_id uuid NOT NULL,
    viewer_key text NOT NULL,
    PRIMARY KEY (video_id, day, viewer_key)
);
CREATE INDEX analytics_viewer_days_owner ON analytics_viewer_days (owner_id, day);

-- Sales and tips per video per day, in integer points.
CREATE TABLE analytics_revenue_days (
    video_id uuid NOT NULL,
    day date NOT NULL,
    owner_id uuid NOT NULL,
    sales integer NOT NULL DEFAULT 0,
    gross_points bigint NOT NULL DEFAULT 0,
    net_points bigint NOT NULL DEFAULT 0,
    tips integer NOT NULL DEFAULT 0,
    tip_points bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (video_id, day)
);
CREATE INDEX analytics_revenue_days_owner ON analytics_revenue_days (owner_id, day);
