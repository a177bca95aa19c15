-- Accounts: users and server-side sessions (the browser holds a token, we store its SHA-256).
CREATE TABLE users (
    id uuid PRIMARY KEY,
    email varchar(254) NOT NULL,
    email_normalized varchar(254) NOT NULL UNIQUE,
    display_name varchar(80) NOT NULL,
    password_hash text NOT NULL,
    is_creator boolean NOT NULL DEFAULT false,
    is_staff boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    id_hash varchar(64) PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
