-- tus uploads expire (the tus `expiration` extension): an unfinished upload is deleted with its bytes
-- once `expires_at` passes without progress; a finished one keeps answering HEAD (offset = length)
-- until then, so a client that lost the last PATCH response learns that the upload succeeded.
ALTER TABLE tus_uploads ADD COLUMN expires_at timestamptz;
ALTER TABLE tus_uploads ADD COLUMN finished_at timestamptz;
-- uploads begun before this migration get the default window (24 hours) from their creation
UPDATE tus_uploads SET expires_at = created_at + interval '24 hours' WHERE expires_at IS NULL;
CREATE INDEX tus_uploads_expires ON tus_uploads (expires_at);
