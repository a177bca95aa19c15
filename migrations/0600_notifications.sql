-- Notifications: the outbox (mail kept instead of sent when SMTP is not configured), the read
-- position in event_log, and one delivery record per event that called for mail.
CREATE TABLE outbox_mail (
    id bigserial PRIMARY KEY,
    to_address text NOT NULL,
    to_normalized text NOT NULL,
    subject text NOT NULL,
    text_body text NOT NULL,
    html_body text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outbox_mail_to ON outbox_mail (to_normalized, id DESC);

CREATE TABLE notification_cursors (
    name text PRIMARY KEY,
    position bigint NOT NULL,
    gap_seen_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notification_deliveries (
    event_id bigint PRIMARY KEY,
    user_id uuid,
    kind text NOT NULL,
    to_address text,
    subject text,
    text_body text,
    html_body text,
    status text NOT NULL CHECK (status IN ('PENDING', 'SENT', 'FAILED', 'GAVE_UP')),
    attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error text NOT NULL DEFAULT '',
    next_attempt_at timestamptz,
    sent_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (status <> 'FAILED' OR next_attempt_at IS NOT NULL)
);
CREATE INDEX notification_deliveries_due ON notification_deliveries (next_attempt_at) WHERE status = 'FAILED';
