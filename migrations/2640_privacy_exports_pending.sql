-- The privacy cron looks for PENDING exports that stopped moving (their job lost with a killed
-- process) to queue them again: few rows, found without reading the whole table.
CREATE INDEX privacy_exports_pending ON privacy_exports (updated_at) WHERE status = 'PENDING';
