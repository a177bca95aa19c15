-- When the account took its current address (NULL: it has had it since the account was made). The
-- outbox page shows a person only the mail kept for their address from then on: an address freed by an
-- e-mail change does not hand its former owner's mail to the next account that takes it.
ALTER TABLE users ADD COLUMN email_since timestamptz;
