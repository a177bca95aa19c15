-- The sandbox payment vendor's own records: checkouts, refunds/disputes, and the webhooks it owes.
CREATE TABLE sandbox_payments (
    id text PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    currency text NOT NULL,
    description text NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',
    success_url text NOT NULL,
    cancel_url text NOT NULL,
    status text NOT NULL CHECK (status IN ('open', 'paid', 'failed', 'canceled')),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX sandbox_payments_created_at ON sandbox_payments (created_at);

CREATE TABLE sandbox_reversals (
    id text PRIMARY KEY,
    payment_id text NOT NULL REFERENCES sandbox_payments (id),
    kind text NOT NULL CHECK (kind IN ('refund', 'dispute')),
    amount_minor bigint NOT NULL CHECK (amount_minor > 0),
    idempotency_key text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);
CREATE INDEX sandbox_reversals_payment ON sandbox_reversals (payment_id, created_at);

CREATE TABLE sandbox_webhook_outbox (
    id bigserial PRIMARY KEY,
    event_id text NOT NULL UNIQUE,
    event_type text NOT NULL,
    payment_id text NOT NULL REFERENCES sandbox_payments (id),
    body text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL,
    delivered_at timestamptz,
    last_error text NOT NULL DEFAULT ''
);
CREATE INDEX sandbox_webhook_outbox_due ON sandbox_webhook_outbox (next_attempt_at) WHERE delivered_at IS NULL;
CREATE INDEX sandbox_webhook_outbox_payment ON sandbox_webhook_outbox (payment_id, id);
