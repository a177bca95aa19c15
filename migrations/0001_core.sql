-- Core infrastructure: events, checkpoints, rate limits, shared secrets.
CREATE TABLE event_log (
    id bigserial PRIMARY KEY,
    topic text NOT NULL,
    name text NOT NULL,
    data jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_log_topic_id ON event_log (topic, id);

CREATE TABLE pipeline_checkpoints (
    run_id text NOT NULL,
    unit text NOT NULL,
    output jsonb NOT NULL,
    completed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (run_id, unit)
);

CREATE TABLE rate_limits (
    key text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    hits integer NOT NULL
);

CREATE TABLE app_secrets (
    name text PRIMARY KEY,
    value text NOT NULL
);
