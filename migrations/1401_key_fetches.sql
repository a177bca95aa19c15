-- Who fetched which video's AES-128 key, how often, per UTC day (issue 11, item 14). The key endpoint is
-- hot, so a fetch is one upsert on a per-(viewer, video, day) counter, not a row per request. Staff read
-- the busiest counters on /staff/key-fetches: a viewer fetching one key far more than a player needs may
-- be saving it or feeding it to others. Visitors only ever get keys of free videos and are not logged.
CREATE TABLE key_fetches (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    viewer_id uuid NOT NULL,
    video_id uuid NOT NULL,
    day date NOT NULL,
    fetches integer NOT NULL CONSTRAINT key_fetches_positive CHECK (fetches > 0),
    first_at timestamptz NOT NULL,
    last_at timestamptz NOT NULL,
    CONSTRAINT key_fetches_one_per_day UNIQUE (viewer_id, video_id, day)
);
CREATE INDEX key_fetches_busiest ON key_fetches (day, fetches DESC);
