-- Pipeline: the AES-128 key and IV of each video's HLS segments (never published with the segments).
CREATE TABLE video_keys (
    run_id text PRIMARY KEY,
    key bytea NOT NULL CHECK (octet_length(key) = 16),
    iv bytea NOT NULL CHECK (octet_length(iv) = 16),
    created_at timestamptz NOT NULL DEFAULT now()
);
