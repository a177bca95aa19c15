-- Moderation (issue 13): suspended accounts, hidden videos, reports and the staff audit log.

-- A suspended account cannot log in; its videos are hidden and its payouts held.
ALTER TABLE users
    ADD COLUMN suspended_at timestamptz,
    ADD COLUMN suspension_reason text NOT NULL DEFAULT '';

-- A video taken down by staff (reason set), or hidden because its owner is suspended.
ALTER TABLE videos
    ADD COLUMN taken_down_reason text,
    ADD COLUMN owner_suspended boolean NOT NULL DEFAULT false;

-- What signed-in people report: a video or a creator. Ids are not foreign keys (features stay removable).
CREATE TABLE moderation_reports (
    id uuid PRIMARY KEY,
    reporter_id uuid NOT NULL,
    subject_kind varchar(16) NOT NULL CONSTRAINT moderation_reports_kind CHECK (subject_kind IN ('video', 'creator')),
    subject_id uuid NOT NULL,
    reason varchar(32) NOT NULL,
    details varchar(2000) NOT NULL DEFAULT '',
    status varchar(16) NOT NULL DEFAULT 'open' CONSTRAINT moderation_reports_status CHECK (status IN ('open', 'closed')),
    created_at timestamptz NOT NULL,
    closed_at timestamptz
);
CREATE INDEX moderation_reports_open ON moderation_reports (subject_kind, subject_id, created_at) WHERE status = 'open';
CREATE INDEX moderation_reports_subject ON moderation_reports (subject_kind, subject_id, created_at);

-- Every staff action, append-only: the trigger refuses UPDATE and DELETE of any row.
CREATE TABLE moderation_audit (
    id bigserial PRIMARY KEY,
    staff_id uuid,  -- NULL: done from the command line (hypha staff add/remove)
    staff_email varchar(254) NOT NULL,
    action varchar(32) NOT NULL,
    subject_kind varchar(16) NOT NULL,
    subject_id uuid NOT NULL,
    subject_label text NOT NULL DEFAULT '',
    reason text NOT NULL DEFAULT '',
    details jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL
);
CREATE INDEX moderation_audit_subject ON moderation_audit (subject_kind, subject_id, id);

CREATE FUNCTION moderation_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'moderation_audit is append-only: % refused', TG_OP;
END;
$$;
CREATE TRIGGER moderation_audit_no_update_delete BEFORE UPDATE OR DELETE ON moderation_audit
    FOR EACH ROW EXECUTE FUNCTION moderation_audit_append_only();
