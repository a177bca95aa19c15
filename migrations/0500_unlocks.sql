-- Unlocks: what each video costs, every purchase (one per viewer and idempotency key), the access
-- purchases add up to, and tips. Points are integers. Video and user ids are not foreign keys into the
-- studio's and accounts' tables: features stay removable, and purchases are records that outlive them.

CREATE TABLE video_pricing (
    video_id uuid PRIMARY KEY,
    free boolean NOT NULL DEFAULT false,
    rent_day_points integer CONSTRAINT video_pricing_rent_day CHECK (rent_day_points BETWEEN 1 AND 100000),
    rent_month_points integer CONSTRAINT video_pricing_rent_month CHECK (rent_month_points BETWEEN 1 AND 100000),
    lifetime_points integer CONSTRAINT video_pricing_lifetime CHECK (lifetime_points BETWEEN 1 AND 100000),
    preview_seconds integer NOT NULL DEFAULT 0 CONSTRAINT video_pricing_preview CHECK (preview_seconds >= 0),
    updated_at timestamptz NOT NULL
);

CREATE TABLE unlocks (
    id uuid PRIMARY KEY,
    idempotency_key text NOT NULL,
    viewer_id uuid NOT NULL,
    video_id uuid NOT NULL,
    creator_id uuid NOT NULL,
    offer text NOT NULL CONSTRAINT unlocks_offer CHECK (offer IN ('rent_day', 'rent_month', 'lifetime')),
    points integer NOT NULL CONSTRAINT unlocks_points CHECK (points > 0),
    fee integer NOT NULL CONSTRAINT unlocks_fee CHECK (fee >= 0 AND fee <= points),
    transfer_id uuid NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT unlocks_viewer_key UNIQUE (viewer_id, idempotency_key)
);
CREATE INDEX unlocks_creator ON unlocks (creator_id, created_at);
CREATE INDEX unlocks_video ON unlocks (video_id, created_at);

-- One row per viewer and video: access until expires_at, or for life when it is NULL.
CREATE TABLE entitlements (
    viewer_id uuid NOT NULL,
    video_id uuid NOT NULL,
    offer text NOT NULL CONSTRAINT entitlements_offer CHECK (offer IN ('rent_day', 'rent_month', 'lifetime')),
    expires_at timestamptz,
    granted_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (viewer_id, video_id)
);

CREATE TABLE tips (
    id uuid PRIMARY KEY,
    idempotency_key text NOT NULL,
    viewer_id uuid NOT NULL,
    creator_id uuid NOT NULL,
    video_id uuid NOT NULL,
    amount integer NOT NULL CONSTRAINT tips_amount CHECK (amount > 0),
    message varchar(280) NOT NULL DEFAULT '',
    transfer_id uuid NOT NULL,
    created_at timestamptz NOT NULL,
    CONSTRAINT tips_viewer_key UNIQUE (viewer_id, idempotency_key)
);
CREATE INDEX tips_viewer ON tips (viewer_id);
CREATE INDEX tips_creator ON tips (creator_id, created_at);
