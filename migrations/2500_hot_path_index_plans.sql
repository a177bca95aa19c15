-- The click's functions plan on the indexes whatever the tables' size (issue 16, item 3).
--
-- A pooled connection keeps a PL/pgSQL function's plans (and those of the foreign-key checks its
-- inserts fire) for as long as it lives; after five executions PostgreSQL settles on one generic plan
-- and re-plans it only when a table it reads is analyzed again. Planned while the tables were small (a
-- new install, a database just VACUUM ANALYZEd after seeding), every keyed lookup here was cheapest as
-- a sequential scan, and that plan stayed while the ledger, the purchases and the entitlements grew:
-- each click read every account, transfer, purchase and entitlement row (measured: 3,000 rows of each
-- per click after 3,000 sales; tests/integration/test_unlock_plans.py), and got slower with every sale
-- until an ANALYZE, or for ever on a server without autovacuum.
--
-- Every statement in these functions finds its rows by a unique key (or writes one row), so an index
-- is always the right plan: the functions run with sequential scans disabled, which the planner honours
-- for their own statements and for the foreign-key checks planned inside them. (A function-level SET
-- costs a few microseconds per call; re-planning every statement on each call would cost far more.)
ALTER FUNCTION ledger_post_transfer(
    uuid, text, text, jsonb, timestamptz, text[], uuid[], text[], uuid[], bigint[], text[], uuid[]
) SET enable_seqscan = off;
ALTER FUNCTION unlock_begin_purchase(uuid, uuid, text) SET enable_seqscan = off;
ALTER FUNCTION unlock_record_sale(
    uuid, text, jsonb, timestamptz, text[], uuid[], text[], uuid[], bigint[],
    uuid, text, uuid, uuid, uuid, text, integer, integer, timestamptz, timestamptz, integer,
    text[], text[], text[], text
) SET enable_seqscan = off;
