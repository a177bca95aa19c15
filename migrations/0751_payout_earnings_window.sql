-- A copy of the recent entries of creators' earnings accounts (the last hold period and a little
-- more), taken from the ledger's statement: availability sums a few rows here instead of scanning a
-- busy creator's week of sales on every page view. Pruned by the payouts sweep.
CREATE TABLE payout_earnings_window (
    creator_id uuid NOT NULL,
    entry_id bigint NOT NULL,  -- the ledger entry's id
    amount bigint NOT NULL,
    created_at timestamptz NOT NULL,
    kind text NOT NULL,  -- the ledger transfer's kind ('payout' entries are not new money)
    PRIMARY KEY (creator_id, entry_id)
);
CREATE INDEX payout_earnings_window_recent ON payout_earnings_window (creator_id, created_at);
CREATE INDEX payout_earnings_window_old ON payout_earnings_window (created_at);
