-- Rentals from first play (issue 18, item 7; RENTAL_CLOCK=first_play).
--
-- A rental bought under the first-play clock waits for its first play: `waiting_seconds` holds how
-- long it will run once started, and `expires_at` is meanwhile the deadline to start it (the purchase
-- plus RENTAL_START_WINDOW_DAYS). The first key request for the video starts it: `expires_at` becomes
-- the start plus that length, `started_at` the start, and `waiting_seconds` NULL. Rentals bought under
-- the unlock clock leave both NULL, as before.
ALTER TABLE entitlements
    ADD COLUMN waiting_seconds integer CONSTRAINT entitlements_waiting CHECK (waiting_seconds > 0),
    ADD COLUMN started_at timestamptz;

-- unlock_begin_purchase (1100) reads the entitlement with the columns it has: again, with the two new ones.
DROP FUNCTION unlock_begin_purchase(uuid, uuid, text);
CREATE FUNCTION unlock_begin_purchase(p_video uuid, p_viewer uuid, p_key text)
RETURNS TABLE (
    p_video_id uuid, p_free boolean, p_rent_day_points integer, p_rent_month_points integer,
    p_lifetime_points integer, p_preview_seconds integer, p_updated_at timestamptz,
    u_id uuid, u_idempotency_key text, u_viewer_id uuid, u_video_id uuid, u_creator_id uuid, u_offer text,
    u_points integer, u_fee integer, u_transfer_id uuid, u_created_at timestamptz,
    e_viewer_id uuid, e_video_id uuid, e_offer text, e_expires_at timestamptz, e_granted_at timestamptz,
    e_updated_at timestamptz, e_waiting_seconds integer, e_started_at timestamptz
)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    PERFORM pg_advisory_xact_lock(5001, hashtext(p_viewer::text || '/' || p_video::text));
    RETURN QUERY
    SELECT p.video_id, p.free, p.rent_day_points, p.rent_month_points, p.lifetime_points, p.preview_seconds,
           p.updated_at,
           u.id, u.idempotency_key, u.viewer_id, u.video_id, u.creator_id, u.offer, u.points, u.fee,
           u.transfer_id, u.created_at,
           e.viewer_id, e.video_id, e.offer, e.expires_at, e.granted_at, e.updated_at, e.waiting_seconds,
           e.started_at
    FROM (SELECT 1) AS one
    LEFT JOIN video_pricing p ON p.video_id = p_video
    LEFT JOIN unlocks u ON u.viewer_id = p_viewer AND u.idempotency_key = p_key
    LEFT JOIN entitlements e ON e.viewer_id = p_viewer AND e.video_id = p_video;
END
$$;
