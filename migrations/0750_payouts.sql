-- Payouts: what creators asked to be paid, where it goes, and the sandbox payout vendor's own records.
-- Points move only through the ledger (ledger_post_transfer); these tables keep the story around them.

CREATE TABLE payouts (
    id uuid PRIMARY KEY,
    creator_id uuid NOT NULL REFERENCES users (id),
    idempotency_key text NOT NULL,
    points bigint NOT NULL CHECK (points > 0),
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    currency text NOT NULL,
    state text NOT NULL CHECK (state IN ('REQUESTED', 'PROCESSING', 'PAID', 'FAILED')),
    trigger text NOT NULL CHECK (trigger IN ('request', 'monthly')),
    gateway text NOT NULL,
    vendor_ref text UNIQUE,
    failure_reason text NOT NULL DEFAULT '',
    requested_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    paid_at timestamptz,
    failed_at timestamptz,
    CONSTRAINT payouts_key UNIQUE (creator_id, idempotency_key)
);
CREATE INDEX payouts_creator ON payouts (creator_id, requested_at DESC);
-- the sweep: payouts waiting on the vendor
CREATE INDEX payouts_open ON payouts (state, updated_at) WHERE state IN ('REQUESTED', 'PROCESSING');

CREATE TABLE payout_payees (
    creator_id uuid PRIMARY KEY REFERENCES users (id),
    stripe_account_id text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE payout_sandbox_payouts (
    ref text PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    creator_id uuid NOT NULL,
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    currency text NOT NULL,
    status text NOT NULL CHECK (status IN ('pending', 'paid', 'failed')),
    failure_reason text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    settle_at timestamptz NOT NULL,
    settled_at timestamptz
);
CREATE INDEX payout_sandbox_due ON payout_sandbox_payouts (settle_at) WHERE status = 'pending';
CREATE INDEX payout_sandbox_recent ON payout_sandbox_payouts (created_at DESC);

-- One row: how many of the next sandbox payouts will fail (a staff control for demos and tests).
CREATE TABLE payout_sandbox_controls (
    id smallint PRIMARY KEY CHECK (id = 1),
    fail_next integer NOT NULL DEFAULT 0 CHECK (fail_next >= 0)
);
