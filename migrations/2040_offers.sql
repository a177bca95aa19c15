-- Offers: bundles (a creator's videos sold together for one lifetime price) and promo codes (points or a
-- percentage off one video, one bundle or — once memberships land — a tier's first month). Ids of
-- videos, users and tiers are not foreign keys into other features' tables: features stay removable, and
-- purchases and redemptions are records that outlive them.

CREATE TABLE bundles (
    id uuid PRIMARY KEY,
    public_id varchar(24) NOT NULL CONSTRAINT bundles_public_id UNIQUE,
    creator_id uuid NOT NULL,
    title varchar(120) NOT NULL,
    description varchar(2000) NOT NULL DEFAULT '',
    price integer NOT NULL CONSTRAINT bundles_price CHECK (price BETWEEN 1 AND 100000),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX bundles_creator ON bundles (creator_id, created_at);

CREATE TABLE bundle_videos (
    bundle_id uuid NOT NULL REFERENCES bundles (id) ON DELETE CASCADE,
    video_id uuid NOT NULL,
    added_at timestamptz NOT NULL,
    PRIMARY KEY (bundle_id, video_id)
);
CREATE INDEX bundle_videos_video ON bundle_videos (video_id);

-- One purchase per viewer and idempotency key; `list_price` is the bundle's price when bought,
-- `points` what was charged (list_price - discount).
CREATE TABLE bundle_purchases (
    id uuid PRIMARY KEY,
    idempotency_key text NOT NULL,
    bundle_id uuid NOT NULL REFERENCES bundles (id),
    viewer_id uuid NOT NULL,
    creator_id uuid NOT NULL,
    list_price integer NOT NULL CONSTRAINT bundle_purchases_list_price CHECK (list_price > 0),
    discount integer NOT NULL DEFAULT 0 CONSTRAINT bundle_purchases_discount CHECK (discount >= 0 AND discount < list_price),
    points integer NOT NULL CONSTRAINT bundle_purchases_points CHECK (points = list_price - discount),
    fee integer NOT NULL CONSTRAINT bundle_purchases_fee CHECK (fee >= 0 AND fee <= points),
    code_id uuid,
    transfer_id uuid NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT bundle_purchases_viewer_key UNIQUE (viewer_id, idempotency_key)
);
CREATE INDEX bundle_purchases_bundle ON bundle_purchases (bundle_id, viewer_id);
CREATE INDEX bundle_purchases_creator ON bundle_purchases (creator_id, created_at);

-- Codes are stored upper-case (viewers type them in any case) and unique per creator. `target_kind`
-- 'tier' is reserved for memberships' first month (the members feature): no tier code is made yet.
CREATE TABLE promo_codes (
    id uuid PRIMARY KEY,
    creator_id uuid NOT NULL,
    code varchar(32) NOT NULL CONSTRAINT promo_codes_code CHECK (code = upper(code) AND code ~ '^[A-Z0-9_-]{3,32}$'),
    kind text NOT NULL CONSTRAINT promo_codes_kind CHECK (kind IN ('percent', 'points')),
    amount integer NOT NULL CONSTRAINT promo_codes_amount CHECK (amount > 0 AND (kind <> 'percent' OR amount <= 100)),
    target_kind text NOT NULL CONSTRAINT promo_codes_target_kind CHECK (target_kind IN ('video', 'bundle', 'tier')),
    target_id uuid NOT NULL,
    max_uses integer NOT NULL CONSTRAINT promo_codes_max_uses CHECK (max_uses > 0),
    uses integer NOT NULL DEFAULT 0 CONSTRAINT promo_codes_uses CHECK (uses >= 0 AND uses <= max_uses),
    expires_at timestamptz,
    created_at timestamptz NOT NULL,
    CONSTRAINT promo_codes_creator_code UNIQUE (creator_id, code)
);
CREATE INDEX promo_codes_code ON promo_codes (code);

CREATE TABLE promo_redemptions (
    id uuid PRIMARY KEY,
    code_id uuid NOT NULL REFERENCES promo_codes (id),
    viewer_id uuid NOT NULL,
    creator_id uuid NOT NULL,
    target_kind text NOT NULL,
    target_id uuid NOT NULL,
    list_price integer NOT NULL,
    discount integer NOT NULL,
    points integer NOT NULL,
    fee integer NOT NULL,
    transfer_id uuid NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX promo_redemptions_creator ON promo_redemptions (creator_id, created_at);
CREATE INDEX promo_redemptions_code ON promo_redemptions (code_id);
