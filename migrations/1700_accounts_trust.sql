-- Accounts a stranger can trust: verified e-mail addresses, single-use links (verification, password
-- reset) stored as SHA-256 hashes, and what the sessions page shows about each session.

-- NULL: not verified yet. Accounts created before this migration are taken as verified (they were
-- made before verification existed, and locking their owners out of buying would break trust more
-- than it adds): their created_at stands in as the verification time.
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;
UPDATE users SET email_verified_at = created_at;

CREATE TABLE account_tokens (
    token_hash varchar(64) PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose varchar(20) NOT NULL CHECK (purpose IN ('verify_email', 'reset_password')),
    email varchar(254) NOT NULL,  -- the address the link was mailed to (a verification is for it only)
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz
);
CREATE INDEX account_tokens_user ON account_tokens (user_id, purpose);

-- A public id to name a session on the sessions page (the id_hash stays a lookup key only), when
-- it was last seen (written at most once a minute), the browser and an approximate address.
ALTER TABLE sessions ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE sessions ADD COLUMN last_seen_at timestamptz;
ALTER TABLE sessions ADD COLUMN browser varchar(80) NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN ip_prefix varchar(64) NOT NULL DEFAULT '';
UPDATE sessions SET last_seen_at = created_at;
ALTER TABLE sessions ALTER COLUMN last_seen_at SET NOT NULL;
ALTER TABLE sessions ALTER COLUMN id DROP DEFAULT;  -- existing rows got one; new sessions bring theirs
CREATE UNIQUE INDEX sessions_id ON sessions (id);
