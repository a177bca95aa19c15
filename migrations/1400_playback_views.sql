-- Views decided by the server (issue 11, item 11). A player's session id is the client's to choose, so
-- it does not make a view: each viewer — "user:<id>", a visitor's signed device "device:<id>", else
-- "ip:<address>" — has one current view per video (and per kind: preview or full). A heartbeat joins
-- it unless it comes from another player session and the view began VIEW_WINDOW_SECONDS ago or more;
-- then it starts the next view. Heartbeats are stored with the view's id as their session id.
CREATE TABLE playback_views (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    viewer_key text NOT NULL,
    video_id uuid NOT NULL,
    preview boolean NOT NULL,
    view_id varchar(64) NOT NULL,
    session_id varchar(64) NOT NULL, -- the player session that sent the latest heartbeat
    started_at timestamptz NOT NULL,
    last_at timestamptz NOT NULL,
    CONSTRAINT playback_views_one_per_viewer UNIQUE (viewer_key, video_id, preview)
);
