-- Catalog: title search. The feed and creator pages use the studio's keyset indexes
-- (0101_studio_published.sql); search is `title ILIKE '%words%'` on published videos.
-- With pg_trgm (PostgreSQL's contrib, present on most servers and in CI) a trigram GIN index answers
-- it; without it (the embedded development server has no contrib) the query walks videos_published
-- newest first and stops once the page is full.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
        CREATE INDEX videos_published_title_trgm ON videos USING gin (title gin_trgm_ops)
            WHERE state = 'published';
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'pg_trgm could not be created: title search runs without a trigram index';
END $$;
