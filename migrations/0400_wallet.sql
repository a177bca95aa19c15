-- Wallet: checkouts we started (purchases), the vendor webhook inbox, and reconciliation runs.
-- Points themselves live in the ledger (migrations/0300_ledger.sql).
CREATE TABLE wallet_purchases (
    payment_ref text PRIMARY KEY,
    user_id uuid NOT NULL,
    pack_id text NOT NULL,
    points bigint NOT NULL CHECK (points > 0),
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    currency text NOT NULL,
    idempotency_key text NOT NULL,
    checkout_url text NOT NULL,
    status text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    UNIQUE (user_id, idempotency_key)
);
CREATE INDEX wallet_purchases_created_at ON wallet_purchases (created_at);

-- One row per vendor event accepted; written in the same transaction as the ledger transfers it causes.
CREATE TABLE wallet_webhook_inbox (
    vendor text NOT NULL,
    event_id text NOT NULL,
    event_type text NOT NULL,
    payment_ref text,
    received_at timestamptz NOT NULL,
    outcome text NOT NULL DEFAULT 'received',
    PRIMARY KEY (vendor, event_id)
);
CREATE INDEX wallet_webhook_inbox_payment ON wallet_webhook_inbox (payment_ref);

CREATE TABLE wallet_reconciliation_runs (
    id uuid PRIMARY KEY,
    since timestamptz NOT NULL,
    until timestamptz NOT NULL,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    payments_checked integer NOT NULL,
    purchases_checked integer NOT NULL
);
CREATE INDEX wallet_reconciliation_runs_started ON wallet_reconciliation_runs (started_at DESC);

CREATE TABLE wallet_reconciliation_findings (
    id bigserial PRIMARY KEY,
    run_id uuid NOT NULL REFERENCES wallet_reconciliation_runs (id) ON DELETE CASCADE,
    kind text NOT NULL,
    payment_ref text NOT NULL,
    detail text NOT NULL,
    healed boolean NOT NULL DEFAULT false,
    points bigint NOT NULL DEFAULT 0,
    amount_minor bigint NOT NULL DEFAULT 0
);
CREATE INDEX wallet_reconciliation_findings_run ON wallet_reconciliation_findings (run_id, id);
