-- Memberships (issue 17, item 1): a creator's tiers (at most three on sale), the videos a tier
-- includes when it does not include them all, each viewer's membership of a creator, and every charge
-- made for one. Points are integers; user and video ids are not foreign keys into other features'
-- tables (features stay removable, charges are records that outlive them).

CREATE TABLE membership_tiers (
    id uuid PRIMARY KEY,
    creator_id uuid NOT NULL,
    name varchar(60) NOT NULL CONSTRAINT membership_tiers_name CHECK (length(btrim(name)) > 0),
    price_points integer NOT NULL CONSTRAINT membership_tiers_price CHECK (price_points BETWEEN 1 AND 100000),
    all_videos boolean NOT NULL DEFAULT true,
    retired_at timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX membership_tiers_creator ON membership_tiers (creator_id, created_at);

-- The chosen videos of a tier that does not include all of the creator's videos.
CREATE TABLE membership_tier_videos (
    tier_id uuid NOT NULL REFERENCES membership_tiers (id) ON DELETE CASCADE,
    video_id uuid NOT NULL,
    PRIMARY KEY (tier_id, video_id)
);
CREATE INDEX membership_tier_videos_video ON membership_tier_videos (video_id);

-- One membership per viewer and creator that has not ended. The period runs [period_start, period_end);
-- anchor_day is the day of the month the membership started on, so a month clamped to a short month
-- (31 Jan → 28 Feb) comes back to it (→ 31 Mar). A lapsed membership keeps access until grace_until.
CREATE TABLE memberships (
    id uuid PRIMARY KEY,
    viewer_id uuid NOT NULL,
    creator_id uuid NOT NULL,
    tier_id uuid NOT NULL REFERENCES membership_tiers (id),
    price_points integer NOT NULL CONSTRAINT memberships_price CHECK (price_points > 0),
    state text NOT NULL CONSTRAINT memberships_state CHECK (state IN ('active', 'cancelled', 'lapsed', 'ended')),
    anchor_day smallint NOT NULL CONSTRAINT memberships_anchor CHECK (anchor_day BETWEEN 1 AND 31),
    period_start timestamptz NOT NULL,
    period_end timestamptz NOT NULL,
    grace_until timestamptz,
    next_tier_id uuid REFERENCES membership_tiers (id),
    next_price_points integer CONSTRAINT memberships_next_price CHECK (next_price_points > 0),
    reminded_for timestamptz,
    join_key text NOT NULL,
    joined_at timestamptz NOT NULL,
    lapsed_at timestamptz,
    ended_at timestamptz,
    updated_at timestamptz NOT NULL,
    CONSTRAINT memberships_period CHECK (period_end > period_start),
    CONSTRAINT memberships_viewer_key UNIQUE (viewer_id, join_key)
);
CREATE UNIQUE INDEX memberships_one_live ON memberships (viewer_id, creator_id) WHERE state <> 'ended';
CREATE INDEX memberships_due ON memberships (period_end) WHERE state <> 'ended';
CREATE INDEX memberships_creator ON memberships (creator_id, joined_at);

-- Every charge for a membership: the join, each renewal (one per period: the ledger key names the
-- membership and the period's start) and each upgrade's pro-rata difference.
CREATE TABLE membership_charges (
    id uuid PRIMARY KEY,
    membership_id uuid NOT NULL REFERENCES memberships (id),
    viewer_id uuid NOT NULL,
    creator_id uuid NOT NULL,
    tier_id uuid NOT NULL,
    kind text NOT NULL CONSTRAINT membership_charges_kind CHECK (kind IN ('join', 'renewal', 'upgrade')),
    period_start timestamptz NOT NULL,
    points integer NOT NULL CONSTRAINT membership_charges_points CHECK (points > 0),
    fee integer NOT NULL CONSTRAINT membership_charges_fee CHECK (fee >= 0 AND fee <= points),
    transfer_id uuid NOT NULL,
    idempotency_key text NOT NULL CONSTRAINT membership_charges_key UNIQUE,
    created_at timestamptz NOT NULL
);
CREATE INDEX membership_charges_membership ON membership_charges (membership_id, created_at);
CREATE INDEX membership_charges_creator ON membership_charges (creator_id, created_at);
