-- Gift points (issue 17, item 4; features/gifts).
--
-- A viewer gifts points to an e-mail address: the points leave their wallet at once for the one
-- platform account of kind gifts_pending, and stay there until the recipient, logged in with that
-- address confirmed, claims them (to their wallet), or the gift expires and returns (to the sender's
-- wallet). Claiming and returning post under one idempotency key per gift (`gift-settle:<id>`), so a
-- gift settles once, whichever comes first.
ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_kind;
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_kind CHECK (
    kind IN ('wallet', 'earnings', 'platform_revenue', 'vendor_clearing', 'payouts_in_transit', 'gifts_pending')
);

CREATE TABLE gifts (
    id uuid PRIMARY KEY,
    sender_id uuid NOT NULL,
    idempotency_key text NOT NULL,
    recipient_email text NOT NULL,  -- normalized (trimmed, lower-cased)
    amount integer NOT NULL CONSTRAINT gifts_amount CHECK (amount > 0),
    message varchar(280) NOT NULL DEFAULT '',
    state text NOT NULL CONSTRAINT gifts_state CHECK (state IN ('pending', 'claimed', 'returned')),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    send_transfer_id uuid NOT NULL,  -- ledger_transfers.id: sender's wallet → gifts pending
    settled_at timestamptz,  -- claimed or returned
    settle_transfer_id uuid,  -- ledger_transfers.id: gifts pending → recipient's or sender's wallet
    claimed_by uuid,
    mailed_at timestamptz,  -- the recipient's mail was handed over
    CONSTRAINT gifts_sender_key UNIQUE (sender_id, idempotency_key),
    CONSTRAINT gifts_settled CHECK ((state = 'pending') = (settled_at IS NULL)),
    CONSTRAINT gifts_claimed CHECK ((state = 'claimed') = (claimed_by IS NOT NULL))
);
CREATE INDEX gifts_sender ON gifts (sender_id, created_at);
CREATE INDEX gifts_pending_recipient ON gifts (recipient_email) WHERE state = 'pending';
CREATE INDEX gifts_pending_expiry ON gifts (expires_at) WHERE state = 'pending';
