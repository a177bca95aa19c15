-- A click in two database calls after the video (issue 16, item 2): read, decide in Python, sell.
--
-- rate_limit_hit counts one hit of a fixed-window counter (core.postgres.PostgresRateLimiter.hit and
-- unlock_open_purchase both count with it: the counter's rule lives here once). It opens a new window
-- when the current one is `p_window` seconds old or older.
CREATE FUNCTION rate_limit_hit(p_key text, p_now timestamptz, p_window double precision,
                               OUT window_start timestamptz, OUT hits integer)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    INSERT INTO rate_limits AS r (key, window_start, hits) VALUES (p_key, p_now, 1)
    ON CONFLICT (key) DO UPDATE SET
        hits = CASE WHEN r.window_start <= p_now - make_interval(secs => p_window) THEN 1 ELSE r.hits + 1 END,
        window_start = CASE WHEN r.window_start <= p_now - make_interval(secs => p_window) THEN p_now
                            ELSE r.window_start END
    RETURNING r.window_start, r.hits INTO window_start, hits;
END
$$;

-- unlock_open_purchase: call 1 of a click, outside any transaction of the caller. It counts the click on
-- the viewer's abuse limit (when p_limit_key is given; the count commits whatever the click becomes, so
-- refused clicks are throttled too) and reads, without the purchase lock, what deciding the purchase
-- needs: as unlock_begin_purchase (2050) reads it, plus the version of the pricing and of the
-- entitlement read (md5 of the whole row; NULL: no row), which unlock_sell_as_read compares under the lock.
CREATE FUNCTION unlock_open_purchase(p_video uuid, p_viewer uuid, p_key text, p_limit_key text,
                                     p_now timestamptz, p_window double precision)
RETURNS TABLE (
    l_window_start timestamptz, l_hits integer,
    p_video_id uuid, p_free boolean, p_rent_day_points integer, p_rent_month_points integer,
    p_lifetime_points integer, p_preview_seconds integer, p_updated_at timestamptz,
    u_id uuid, u_idempotency_key text, u_viewer_id uuid, u_video_id uuid, u_creator_id uuid, u_offer text,
    u_points integer, u_fee integer, u_transfer_id uuid, u_created_at timestamptz,
    e_viewer_id uuid, e_video_id uuid, e_offer text, e_expires_at timestamptz, e_granted_at timestamptz,
    e_updated_at timestamptz, e_waiting_seconds integer, e_started_at timestamptz,
    pricing_version text, entitlement_version text
)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    counted_since timestamptz;
    counted integer;
BEGIN
    IF p_limit_key IS NOT NULL THEN
        SELECT h.window_start, h.hits INTO counted_since, counted
        FROM rate_limit_hit(p_limit_key, p_now, p_window) AS h;
    END IF;
    RETURN QUERY
    SELECT counted_since, counted,
           p.video_id, p.free, p.rent_day_points, p.rent_month_points, p.lifetime_points, p.preview_seconds,
           p.updated_at,
           u.id, u.idempotency_key, u.viewer_id, u.video_id, u.creator_id, u.offer, u.points, u.fee,
           u.transfer_id, u.created_at,
           e.viewer_id, e.video_id, e.offer, e.expires_at, e.granted_at, e.updated_at, e.waiting_seconds,
           e.started_at,
           md5(p::text), md5(e::text)
    FROM (SELECT 1) AS one
    LEFT JOIN video_pricing p ON p.video_id = p_video
    LEFT JOIN unlocks u ON u.viewer_id = p_viewer AND u.idempotency_key = p_key
    LEFT JOIN entitlements e ON e.viewer_id = p_viewer AND e.video_id = p_video;
END
$$;

-- unlock_sell_as_read: call 2 of a click, one statement outside any transaction of the caller (its own
-- transaction, committed when it returns). It takes the purchase lock of (viewer, video) — the one
-- unlock_begin_purchase and the first play take — and, with a snapshot taken after the lock was granted,
-- checks that what call 1 read and the caller decided on is still so: the pricing and the entitlement
-- rows are the versions read, no purchase holds the click's key, and the video's owner, title, state
-- and moderation fields are the ones the caller read (an equality check only: the rules stay in Python).
-- If anything differs it writes nothing and returns status 'stale' (the caller decides again on the
-- general path). Otherwise it is unlock_record_sale (2090), with its statuses; its 'conflict' (the
-- transfer posted but the purchase key taken: not reachable while the transfer key names the purchase
-- key, checked above under the lock) raises instead, so that nothing of the click commits, and the
-- caller treats that error as 'stale'.
CREATE FUNCTION unlock_sell_as_read(
    p_pricing_version text, p_entitlement_version text,
    p_video_state text, p_video_title text, p_taken_down_reason text, p_owner_suspended boolean,
    p_transfer_id uuid, p_transfer_key text, p_metadata jsonb, p_created_at timestamptz,
    p_source_kinds text[], p_source_owners uuid[], p_destination_kinds text[], p_destination_owners uuid[],
    p_amounts bigint[],
    p_unlock_id uuid, p_key text, p_viewer uuid, p_video uuid, p_creator uuid, p_offer text,
    p_points integer, p_fee integer, p_unlocked_at timestamptz, p_expires_at timestamptz,
    p_waiting_seconds integer,
    p_topics text[], p_names text[], p_data text[], p_channel text
)
RETURNS TABLE (
    status text, account_kind text, account_owner uuid, shortfall bigint,
    e_viewer_id uuid, e_video_id uuid, e_offer text, e_expires_at timestamptz, e_granted_at timestamptz,
    e_updated_at timestamptz, e_waiting_seconds integer, e_started_at timestamptz
)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    sold record;
BEGIN
    PERFORM pg_advisory_xact_lock(5001, hashtext(p_viewer::text || '/' || p_video::text));
    IF (SELECT md5(p::text) FROM video_pricing p WHERE p.video_id = p_video) IS DISTINCT FROM p_pricing_version
       OR (SELECT md5(e::text) FROM entitlements e WHERE e.viewer_id = p_viewer AND e.video_id = p_video)
          IS DISTINCT FROM p_entitlement_version
       OR EXISTS (SELECT 1 FROM unlocks u WHERE u.viewer_id = p_viewer AND u.idempotency_key = p_key)
       OR NOT EXISTS (
           SELECT 1 FROM videos v
           WHERE v.id = p_video AND v.owner_id = p_creator AND v.state = p_video_state AND v.title = p_video_title
             AND v.taken_down_reason IS NOT DISTINCT FROM p_taken_down_reason
             AND v.owner_suspended = p_owner_suspended)
    THEN
        RETURN QUERY SELECT 'stale'::text, NULL::text, NULL::uuid, NULL::bigint,
            NULL::uuid, NULL::uuid, NULL::text, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz,
            NULL::integer, NULL::timestamptz;
        RETURN;
    END IF;

    SELECT * INTO sold FROM unlock_record_sale(
        p_transfer_id, p_transfer_key, p_metadata, p_created_at, p_source_kinds, p_source_owners,
        p_destination_kinds, p_destination_owners, p_amounts, p_unlock_id, p_key, p_viewer, p_video, p_creator,
        p_offer, p_points, p_fee, p_unlocked_at, p_expires_at, p_waiting_seconds, p_topics, p_names, p_data,
        p_channel);
    IF sold.status = 'conflict' THEN
        RAISE EXCEPTION 'unlock_sell_as_read: conflict';
    END IF;
    RETURN QUERY SELECT sold.status, sold.account_kind, sold.account_owner, sold.shortfall,
        sold.e_viewer_id, sold.e_video_id, sold.e_offer, sold.e_expires_at, sold.e_granted_at,
        sold.e_updated_at, sold.e_waiting_seconds, sold.e_started_at;
END
$$;
