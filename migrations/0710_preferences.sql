-- Preferences: the videos each viewer keeps as favourites. The creator is stored with the favourite
-- (a video never changes owner) so picks find "creators I favourited" without reading the studio's
-- tables. Like unlocks, no foreign keys into other features' tables: features stay removable.
CREATE TABLE favourites (
    viewer_id uuid NOT NULL,
    video_id uuid NOT NULL,
    creator_id uuid NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (viewer_id, video_id)
);
-- A viewer's favourites, newest first, a page at a time (keyset on created_at, video_id).
CREATE INDEX favourites_viewer_recent ON favourites (viewer_id, created_at DESC, video_id DESC);
