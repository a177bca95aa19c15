-- The money-moving half of an unlock click in one round trip (issue 16, item 2).
--
-- unlock_record_sale posts the sale's ledger transfer through ledger_post_transfer (0300: accounts
-- locked in order, overdraft refused, idempotent per key), and only if that posted it, records the
-- purchase and the access it grants (the same merge as PostgresUnlockRepository.record) and writes the
-- events (event_log rows and their NOTIFYs, as PostgresEventBus.publish_all does). It runs inside the
-- caller's transaction, after unlock_begin_purchase took the (viewer, video) purchase lock and the
-- caller decided the price, the grant and the legs; it decides nothing of that itself.
--
-- status:
--   posted        everything written; e_* is the entitlement after the purchase
--   insufficient  nothing written; account_kind/account_owner/shortfall say who lacks points
--   exists        nothing written: the transfer key is already used (the caller takes the general path)
--   conflict      the transfer is posted but the purchase key was recorded first by a concurrent click
--                 (another video's lock): no entitlement, no events; the caller replays that purchase
CREATE FUNCTION unlock_record_sale(
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
    posted record;
    granted record;
    notified bigint;
BEGIN
    SELECT * INTO posted FROM ledger_post_transfer(
        p_transfer_id, p_transfer_key, 'unlock', p_metadata, p_created_at, p_source_kinds, p_source_owners,
        p_destination_kinds, p_destination_owners, p_amounts, '{}'::text[], '{}'::uuid[]);
    IF posted.status <> 'posted' THEN
        RETURN QUERY SELECT posted.status, posted.account_kind, posted.account_owner, posted.shortfall,
            NULL::uuid, NULL::uuid, NULL::text, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz,
            NULL::integer, NULL::timestamptz;
        RETURN;
    END IF;

    INSERT INTO unlocks (id, idempotency_key, viewer_id, video_id, creator_id, offer, points, fee, transfer_id,
                         created_at)
    VALUES (p_unlock_id, p_key, p_viewer, p_video, p_creator, p_offer, p_points, p_fee, p_transfer_id, p_unlocked_at)
    ON CONFLICT (viewer_id, idempotency_key) DO NOTHING;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'conflict'::text, NULL::text, NULL::uuid, NULL::bigint,
            NULL::uuid, NULL::uuid, NULL::text, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz,
            NULL::integer, NULL::timestamptz;
        RETURN;
    END IF;

    INSERT INTO entitlements AS e (viewer_id, video_id, offer, expires_at, granted_at, updated_at, waiting_seconds)
    VALUES (p_viewer, p_video, p_offer, p_expires_at, p_unlocked_at, p_unlocked_at, p_waiting_seconds)
    ON CONFLICT (viewer_id, video_id) DO UPDATE SET
        expires_at = CASE
            WHEN e.expires_at IS NULL AND e.waiting_seconds IS NULL THEN NULL
            WHEN EXCLUDED.waiting_seconds IS NOT NULL THEN EXCLUDED.expires_at
            WHEN e.expires_at IS NULL OR EXCLUDED.expires_at IS NULL THEN NULL
            WHEN e.expires_at <= EXCLUDED.updated_at THEN EXCLUDED.expires_at
            ELSE greatest(e.expires_at, EXCLUDED.expires_at)
        END,
        offer = CASE
            WHEN e.expires_at IS NULL THEN e.offer
            WHEN EXCLUDED.waiting_seconds IS NOT NULL OR EXCLUDED.expires_at IS NULL
                 OR e.expires_at <= EXCLUDED.updated_at OR EXCLUDED.expires_at > e.expires_at THEN EXCLUDED.offer
            ELSE e.offer
        END,
        waiting_seconds = CASE
            WHEN e.expires_at IS NULL THEN NULL
            WHEN EXCLUDED.waiting_seconds IS NOT NULL THEN EXCLUDED.waiting_seconds
            WHEN EXCLUDED.expires_at IS NULL OR e.expires_at <= EXCLUDED.updated_at THEN NULL
            ELSE e.waiting_seconds
        END,
        started_at = CASE
            WHEN e.expires_at IS NULL OR EXCLUDED.waiting_seconds IS NOT NULL OR EXCLUDED.expires_at IS NULL
                 OR e.expires_at <= EXCLUDED.updated_at THEN NULL
            ELSE e.started_at
        END,
        updated_at = EXCLUDED.updated_at
    RETURNING e.viewer_id, e.video_id, e.offer, e.expires_at, e.granted_at, e.updated_at, e.waiting_seconds,
              e.started_at
    INTO granted;

    IF cardinality(p_topics) > 0 THEN
        WITH ev AS (
            INSERT INTO event_log (topic, name, data)
            SELECT x.t, x.n, x.d::jsonb FROM unnest(p_topics, p_names, p_data) WITH ORDINALITY AS x(t, n, d, i)
            ORDER BY x.i
            RETURNING id, topic, name, data
        )
        SELECT count(pg_notify(p_channel, json_build_object('id', ev.id, 'topic', ev.topic, 'name', ev.name,
            'data', CASE WHEN octet_length(ev.data::text) < 7000 THEN ev.data END)::text))
        INTO notified
        FROM (SELECT * FROM ev ORDER BY ev.id) AS ev;
    END IF;

    RETURN QUERY SELECT 'posted'::text, NULL::text, NULL::uuid, NULL::bigint,
        granted.viewer_id, granted.video_id, granted.offer, granted.expires_at, granted.granted_at,
        granted.updated_at, granted.waiting_seconds, granted.started_at;
END
$$;
