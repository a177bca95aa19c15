-- Video keys sealed at rest: AES-256-GCM under a key-encryption key that lives outside the database
-- (derived from KEY_ENCRYPTION_KEY or SECRET_KEY). `kek_id` names the key a row was sealed with, so
-- a process started with another secret fails clearly instead of serving garbage. Rows written
-- before this migration keep their plain key/iv until they are next read, then are sealed in place.
ALTER TABLE video_keys
    ADD COLUMN sealed bytea,
    ADD COLUMN kek_id text,
    ALTER COLUMN key DROP NOT NULL,
    ALTER COLUMN iv DROP NOT NULL,
    ADD CONSTRAINT video_keys_sealed_or_plain CHECK (
        (sealed IS NOT NULL AND kek_id IS NOT NULL AND key IS NULL AND iv IS NULL)
        OR (sealed IS NULL AND key IS NOT NULL AND iv IS NOT NULL)
    );
