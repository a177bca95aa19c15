-- The common unlock click in one round trip (issue 16, item 2): a viewer's first purchase of a video at
-- the price its button showed.
--
-- unlock_click checks, under the locks the general path takes (the video row FOR SHARE, then the
-- (viewer, video) purchase lock of unlock_begin_purchase), that the click is the plain case the caller
-- prepared it for, and only then records the sale through unlock_record_sale (2090: the ledger transfer,
-- the purchase, the entitlement and the events):
--   * the video is published, not taken down, its owner not suspended, and the viewer is not its owner;
--   * the offer is sold (the video is not free) at exactly p_points;
--   * the key bought nothing yet, and the viewer has no running access to the video.
-- The caller (UnlockService.unlock) computed the fee, the access granted (from nothing) and the event
-- payloads for that case; this function adds only what it reads: the video's id, owner and title, and
-- the owner's platform revenue shard (AccountRef.platform_revenue_for: owner.int % p_shards, with
-- p_shards dividing 256, so the owner's last byte decides; shard k's stored owner is UUID(int=k)).
-- Anything else — another state, a price changed, a replayed key, access running — returns "general"
-- having written nothing, and the caller decides it with the model's rules (the general path).
--
-- With p_rate_key, the click first counts one hit (at p_rate_now, the limiter's clock) on the viewer's abuse limit (rate_limit_hit, 2600), as
-- UnlockService.check_request_rate would, in the same statement: past p_rate_limit hits in the window it
-- answers "throttled" and writes nothing else. The count stays unless the call raises (below).
--
-- status:
--   throttled     only the hit counted; rate_hits/rate_window_start say how many and since when
--   general       nothing written but the hit; the caller takes the general path
--   posted        everything written; v is the video, p_* its pricing, e_* the entitlement after
--   insufficient  nothing written; account_kind/account_owner/shortfall say who lacks points
-- A transfer key already used or a purchase key recorded meanwhile (unlock_record_sale's "exists" and
-- "conflict") raises SQLSTATE HU001, undoing the call: the caller takes the general path.
CREATE FUNCTION unlock_click(
    p_viewer uuid, p_public_id text, p_offer text, p_points integer, p_fee integer, p_key text,
    p_unlock_id uuid, p_transfer_id uuid, p_transfer_key text, p_now timestamptz, p_expires_at timestamptz,
    p_waiting_seconds integer, p_shards integer, p_user_topic text, p_sale_event text, p_sale_data jsonb,
    p_wallet_topic text, p_wallet_event text, p_wallet_data jsonb, p_channel text,
    p_rate_key text, p_rate_now timestamptz, p_rate_window double precision, p_rate_limit integer
)
RETURNS TABLE (
    status text, account_kind text, account_owner uuid, shortfall bigint, v videos,
    p_video_id uuid, p_free boolean, p_rent_day_points integer, p_rent_month_points integer,
    p_lifetime_points integer, p_preview_seconds integer, p_updated_at timestamptz,
    e_viewer_id uuid, e_video_id uuid, e_offer text, e_expires_at timestamptz, e_granted_at timestamptz,
    e_updated_at timestamptz, e_waiting_seconds integer, e_started_at timestamptz,
    rate_hits integer, rate_window_start timestamptz
)
LANGUAGE plpgsql VOLATILE SET enable_seqscan = off AS $$
#variable_conflict use_column
DECLARE
    video videos%ROWTYPE;
    pricing video_pricing%ROWTYPE;
    price integer;
    shard_owner uuid;
    sale record;
    counted record;
BEGIN
    -- The result is the one row of the OUT columns (NULL until set): RETURN NEXT hands it over.
    status := 'general';
    IF p_rate_key IS NOT NULL THEN
        SELECT * INTO counted FROM rate_limit_hit(p_rate_key, p_rate_now, p_rate_window);
        IF counted.hits > p_rate_limit THEN
            status := 'throttled';
            rate_hits := counted.hits;
            rate_window_start := counted.window_start;
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;

    -- The studio's row, as PiccoloVideoRepository.by_public_id(share_lock=True) holds it for a purchase.
    SELECT * INTO video FROM videos WHERE public_id = p_public_id FOR SHARE;
    IF NOT FOUND OR video.state <> 'published' OR video.taken_down_reason IS NOT NULL OR video.owner_suspended
       OR video.owner_id = p_viewer OR p_points <= 0 OR p_fee < 0 OR p_fee > p_points THEN
        RETURN NEXT;
        RETURN;
    END IF;

    PERFORM pg_advisory_xact_lock(5001, hashtext(p_viewer::text || '/' || video.id::text));
    SELECT * INTO pricing FROM video_pricing WHERE video_id = video.id;
    price := CASE p_offer
        WHEN 'rent_day' THEN pricing.rent_day_points
        WHEN 'rent_month' THEN pricing.rent_month_points
        WHEN 'lifetime' THEN pricing.lifetime_points
    END;
    IF pricing.video_id IS NULL OR pricing.free OR price IS DISTINCT FROM p_points
       OR EXISTS (SELECT 1 FROM unlocks u WHERE u.viewer_id = p_viewer AND u.idempotency_key = p_key)
       OR EXISTS (SELECT 1 FROM entitlements e WHERE e.viewer_id = p_viewer AND e.video_id = video.id
                  AND (e.expires_at IS NULL OR e.expires_at > p_now)) THEN
        RETURN NEXT;
        RETURN;
    END IF;

    shard_owner := ('00000000-0000-0000-0000-0000000000'
                    || lpad(to_hex(get_byte(uuid_send(video.owner_id), 15) % p_shards), 2, '0'))::uuid;
    SELECT * INTO sale FROM unlock_record_sale(
        p_transfer_id, p_transfer_key,
        jsonb_build_object('video_id', video.id::text, 'offer', p_offer, 'memo', video.title), p_now,
        CASE WHEN p_fee > 0 THEN ARRAY['wallet', 'earnings'] ELSE ARRAY['wallet'] END,
        CASE WHEN p_fee > 0 THEN ARRAY[p_viewer, video.owner_id] ELSE ARRAY[p_viewer] END,
        CASE WHEN p_fee > 0 THEN ARRAY['earnings', 'platform_revenue'] ELSE ARRAY['earnings'] END,
        CASE WHEN p_fee > 0 THEN ARRAY[video.owner_id, shard_owner] ELSE ARRAY[video.owner_id] END,
        CASE WHEN p_fee > 0 THEN ARRAY[p_points, p_fee]::bigint[] ELSE ARRAY[p_points]::bigint[] END,
        p_unlock_id, p_key, p_viewer, video.id, video.owner_id, p_offer, p_points, p_fee, p_now, p_expires_at,
        p_waiting_seconds,
        ARRAY[p_user_topic || video.owner_id::text, p_wallet_topic], ARRAY[p_sale_event, p_wallet_event],
        ARRAY[(p_sale_data || jsonb_build_object('video_id', video.id::text, 'title', video.title))::text,
              p_wallet_data::text],
        p_channel);

    IF sale.status = 'insufficient' THEN
        status := sale.status;
        account_kind := sale.account_kind;
        account_owner := sale.account_owner;
        shortfall := sale.shortfall;
        RETURN NEXT;
        RETURN;
    END IF;
    IF sale.status <> 'posted' THEN
        RAISE EXCEPTION 'unlock_click: %, the general path decides', sale.status USING ERRCODE = 'HU001';
    END IF;

    status := 'posted';
    v := video;
    p_video_id := pricing.video_id;
    p_free := pricing.free;
    p_rent_day_points := pricing.rent_day_points;
    p_rent_month_points := pricing.rent_month_points;
    p_lifetime_points := pricing.lifetime_points;
    p_preview_seconds := pricing.preview_seconds;
    p_updated_at := pricing.updated_at;
    e_viewer_id := sale.e_viewer_id;
    e_video_id := sale.e_video_id;
    e_offer := sale.e_offer;
    e_expires_at := sale.e_expires_at;
    e_granted_at := sale.e_granted_at;
    e_updated_at := sale.e_updated_at;
    e_waiting_seconds := sale.e_waiting_seconds;
    e_started_at := sale.e_started_at;
    RETURN NEXT;
END
$$;
