-- One table of read positions for every consumer of an id sequence: the event log's consumers
-- (analytics' revenue fold, notifications) and the heartbeat readers (analytics, the dashboard).
-- Retention prunes event_log below the lowest cursor of the registered event-log consumers.
CREATE TABLE log_cursors (
    log text NOT NULL,
    consumer text NOT NULL,
    position bigint NOT NULL DEFAULT 0 CONSTRAINT log_cursors_position CHECK (position >= 0),
    gap_seen_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (log, consumer)
);

INSERT INTO log_cursors (log, consumer, position, gap_seen_at, updated_at)
SELECT 'heartbeats', 'analytics', position, gap_seen_at, updated_at FROM analytics_cursors WHERE name = 'heartbeats'
UNION ALL
SELECT 'event_log', 'analytics', position, gap_seen_at, updated_at FROM analytics_cursors WHERE name = 'revenue'
UNION ALL
SELECT 'event_log', 'notifications', position, gap_seen_at, updated_at FROM notification_cursors
 WHERE name = 'notifications'
UNION ALL
SELECT 'heartbeats', 'dashboard', position, NULL, now() FROM dashboard_cursors WHERE name = 'heartbeats';

DROP TABLE analytics_cursors;
DROP TABLE notification_cursors;
DROP TABLE dashboard_cursors;

