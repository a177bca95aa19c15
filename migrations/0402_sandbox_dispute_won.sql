-- The sandbox vendor's disputes can be won by the merchant: the bank gives the money back.
-- (The wallet's "dispute won" ledger transfers need no schema change: ledger transfer kinds are not
-- constrained in migrations/0300_ledger.sql.)
ALTER TABLE sandbox_reversals
    ADD COLUMN won_at timestamptz,
    ADD CONSTRAINT sandbox_reversals_only_disputes_are_won CHECK (won_at IS NULL OR kind = 'dispute');
