-- Portability: each published video's IPFS directory root (what `ipfs add -r --cid-version 1
-- --raw-leaves` gives for its published files, media playlists naming the key by its absolute URL).
-- `source_digest` fingerprints what the root was computed from (the manifest and the key URL), so a
-- changed manifest (a subtitle added) or BASE_URL recomputes it. No foreign key into the studio's
-- tables: features stay removable.
CREATE TABLE ipfs_directories (
    video_id uuid PRIMARY KEY,
    source_digest text NOT NULL,
    root_cid text NOT NULL,
    computed_at timestamptz NOT NULL
);
