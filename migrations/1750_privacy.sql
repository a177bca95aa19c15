-- Privacy: data exports (GDPR art. 15/20) and account erasures (art. 17).
-- User ids are not foreign keys (features stay removable; an erased user's row stays as a pseudonym).

-- One row per export a person asked for. The ZIP lives in blob storage under `blob_key` (built from
-- the export's random id, never from user input) until `expires_at`; the cron then deletes the file
-- and marks the row EXPIRED, so the link can say so.
CREATE TABLE privacy_exports (
    id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    status text NOT NULL CONSTRAINT privacy_exports_status CHECK (status IN ('PENDING', 'READY', 'FAILED', 'EXPIRED')),
    blob_key text,
    size_bytes bigint CONSTRAINT privacy_exports_size CHECK (size_bytes IS NULL OR size_bytes >= 0),
    failure text NOT NULL DEFAULT '',
    requested_at timestamptz NOT NULL,
    ready_at timestamptz,
    expires_at timestamptz,
    updated_at timestamptz NOT NULL,
    CONSTRAINT privacy_exports_ready CHECK (status <> 'READY' OR (blob_key IS NOT NULL AND expires_at IS NOT NULL))
);
CREATE INDEX privacy_exports_user ON privacy_exports (user_id, requested_at DESC);
CREATE INDEX privacy_exports_expiring ON privacy_exports (expires_at) WHERE status = 'READY';

-- One row per erased account: what the erasure did with the money, and (for creators) when their
-- videos' content is removed from storage (after the grace period).
CREATE TABLE privacy_erasures (
    user_id uuid PRIMARY KEY,
    was_creator boolean NOT NULL,
    erased_at timestamptz NOT NULL,
    refunded_rentals integer NOT NULL DEFAULT 0,
    refunded_points bigint NOT NULL DEFAULT 0,
    forfeited_wallet_points bigint NOT NULL DEFAULT 0,
    settled_earnings_points bigint NOT NULL DEFAULT 0,
    purge_after timestamptz,
    purged_at timestamptz
);
CREATE INDEX privacy_erasures_due ON privacy_erasures (purge_after) WHERE purged_at IS NULL AND purge_after IS NOT NULL;
