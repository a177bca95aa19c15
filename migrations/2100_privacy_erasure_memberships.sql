-- Account deletion refunds the unused part of a closing creator's running membership periods
-- (issue 17; features/privacy, features/memberships): the erasure record says how many and how much.
ALTER TABLE privacy_erasures
    ADD COLUMN refunded_memberships integer NOT NULL DEFAULT 0,
    ADD COLUMN refunded_membership_points bigint NOT NULL DEFAULT 0;
