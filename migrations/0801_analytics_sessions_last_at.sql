-- Session state older than two days (before the newest heartbeat folded) is dropped after each batch.
CREATE INDEX analytics_sessions_last_at ON analytics_sessions (last_at);
