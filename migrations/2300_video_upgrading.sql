-- A video plays (READY or PUBLISHED) as soon as its first rendition is published; the higher ones
-- still converting are its pending renditions, and why they stopped, if they did, its upgrade failure.
ALTER TABLE videos
    ADD COLUMN pending_renditions JSONB NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN upgrade_failure TEXT;
