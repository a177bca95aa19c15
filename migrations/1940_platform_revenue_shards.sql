-- Platform revenue in shards (issue 16, item 3): every fee-paying sale used to lock the one
-- platform_revenue row, so all of them queued for it. Fee legs now go to one of 64 sub-accounts of
-- kind platform_revenue, chosen by the creator (features/ledger/model.py, PLATFORM_REVENUE_SHARDS):
-- shard 0 is the original account (the nil owner), shard k has owner UUID(int=k). The platform's
-- revenue is their sum. Nothing else changes: every shard is an ordinary account, so balances,
-- entries, the zero-sum and running-balance checks of `hypha ledger verify` and the lock order of
-- ledger_post_transfer ((kind, owner)) apply to them as to any other account.
ALTER TABLE ledger_accounts DROP CONSTRAINT ledger_accounts_owner;
ALTER TABLE ledger_accounts ADD CONSTRAINT ledger_accounts_owner CHECK (
    CASE
        WHEN kind IN ('wallet', 'earnings') THEN owner_id <> '00000000-0000-0000-0000-000000000000'
        WHEN kind = 'platform_revenue' THEN owner_id <= '00000000-0000-0000-0000-00000000003f'
        ELSE owner_id = '00000000-0000-0000-0000-000000000000'
    END
);
