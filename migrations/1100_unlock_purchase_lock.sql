-- A viewer's purchases of one video are decided one at a time (issue 11, item 2).
--
-- unlock_begin_purchase waits for, and holds until the calling transaction ends, an advisory lock on
-- (viewer, video), then reads what deciding the purchase needs: the video's pricing, the purchase the
-- viewer already made with this idempotency key, and the viewer's entitlement to the video. In a
-- VOLATILE PL/pgSQL function each statement takes its own snapshot, so the read sees whatever an
-- earlier purchase of the same (viewer, video) committed while this one waited; one plain statement
-- holding both would read with the snapshot taken before it waited. One round trip, as the plain read
-- was. (PL/pgSQL, not SQL: it caches its plans; the SQL version was re-planned on every call, ~3x
-- slower.)
--
-- The lock's namespace (5001) keeps it apart from the wallet's (4001) and payouts' (7501) locks. Two
-- pairs whose hashes collide only wait for each other; nothing else depends on the hash. The lock is
-- taken before the ledger locks any account, and no transaction takes it after one, so it adds no
-- deadlock.

CREATE FUNCTION unlock_begin_purchase(p_video uuid, p_viewer uuid, p_key text)
RETURNS TABLE (
    p_video_id uuid, p_free boolean, p_rent_day_points integer, p_rent_month_points integer,
    p_lifetime_points integer, p_preview_seconds integer, p_updated_at timestamptz,
    u_id uuid, u_idempotency_key text, u_viewer_id uuid, u_video_id uuid, u_creator_id uuid, u_offer text,
    u_points integer, u_fee integer, u_transfer_id uuid, u_created_at timestamptz,
    e_viewer_id uuid, e_video_id uuid, e_offer text, e_expires_at timestamptz, e_granted_at timestamptz,
    e_updated_at timestamptz
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
           e.viewer_id, e.video_id, e.offer, e.expires_at, e.granted_at, e.updated_at
    FROM (SELECT 1) AS one
    LEFT JOIN video_pricing p ON p.video_id = p_video
    LEFT JOIN unlocks u ON u.viewer_id = p_viewer AND u.idempotency_key = p_key
    LEFT JOIN entitlements e ON e.viewer_id = p_viewer AND e.video_id = p_video;
END
$$;
