-- The ledger: double entry in integer points.
--
-- Accounts hold a balance; transfers are immutable and unique per idempotency key; each leg of a
-- transfer leaves two immutable entries (a debit and an equal credit) that record the balance after.
-- Wallets and earnings cannot be debited below zero: the CHECK ledger_entries_no_overdraft fails the
-- statement, unless the entry is marked as an allowed overdraft (a refund or chargeback of spent points).

CREATE TABLE ledger_accounts (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind text NOT NULL CONSTRAINT ledger_accounts_kind
        CHECK (kind IN ('wallet', 'earnings', 'platform_revenue', 'vendor_clearing', 'payouts_in_transit')),
    -- wallets and earnings belong to a user; the platform's accounts use the nil UUID
    owner_id uuid NOT NULL,
    balance bigint NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ledger_accounts_natural_key UNIQUE (kind, owner_id),
    -- lets entries reference (id, kind), so the kind they copy for their CHECK is the account's real kind
    CONSTRAINT ledger_accounts_id_kind UNIQUE (id, kind),
    CONSTRAINT ledger_accounts_owner
        CHECK ((kind IN ('wallet', 'earnings')) = (owner_id <> '00000000-0000-0000-0000-000000000000'))
);

CREATE TABLE ledger_transfers (
    id uuid PRIMARY KEY,
    idempotency_key text NOT NULL CONSTRAINT ledger_transfers_idempotency_key UNIQUE,
    kind text NOT NULL,
    metadata jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL
);
-- "which purchase transfers exist for payment ref X" (metadata @> '{"payment_ref": "X"}')
CREATE INDEX ledger_transfers_metadata ON ledger_transfers USING gin (metadata jsonb_path_ops);

CREATE TABLE ledger_entries (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transfer_id uuid NOT NULL REFERENCES ledger_transfers (id),
    leg smallint NOT NULL,
    account_id bigint NOT NULL,
    account_kind text NOT NULL,
    amount bigint NOT NULL CONSTRAINT ledger_entries_amount CHECK (amount <> 0),
    balance_after bigint NOT NULL,
    overdraft_allowed boolean NOT NULL DEFAULT false,
    CONSTRAINT ledger_entries_account FOREIGN KEY (account_id, account_kind)
        REFERENCES ledger_accounts (id, kind),
    CONSTRAINT ledger_entries_no_overdraft CHECK (
        balance_after >= 0 OR amount > 0 OR overdraft_allowed OR account_kind NOT IN ('wallet', 'earnings')
    )
);
CREATE INDEX ledger_entries_account_id ON ledger_entries (account_id, id);
CREATE INDEX ledger_entries_transfer ON ledger_entries (transfer_id, leg);

-- Transfers and entries are never changed or removed; a mistake is corrected by another transfer.
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% rows are immutable: correct a transfer with another transfer', TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END;
$$;
CREATE TRIGGER ledger_transfers_immutable BEFORE UPDATE OR DELETE ON ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
CREATE TRIGGER ledger_entries_immutable BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

-- Post one transfer in one round trip. Legs are parallel arrays (source kind/owner, destination
-- kind/owner, amount), applied in order; the overdraft arrays name the accounts that may go negative.
--
-- 1. Lock every account the legs touch, in (kind, owner) order, creating missing ones on the way:
--    every transfer takes its locks in that one order, so two transfers never wait on each other in
--    a circle. The idempotency key is claimed last, after all account locks.
-- 2. If the key is already taken (also by a transfer that committed while we waited), write nothing
--    and return status 'exists' with that transfer's id.
-- 3. Apply the legs; at the first leg that would overdraw a wallet or earnings account, write nothing
--    and return 'insufficient' with the account and the shortfall. Expected refusals are returned, not
--    raised, so a caller's surrounding transaction stays usable.
-- 4. Insert the transfer, its entries and the new balances; return 'posted'.
CREATE FUNCTION ledger_post_transfer(
    p_id uuid,
    p_key text,
    p_kind text,
    p_metadata jsonb,
    p_created_at timestamptz,
    p_source_kinds text[],
    p_source_owners uuid[],
    p_destination_kinds text[],
    p_destination_owners uuid[],
    p_amounts bigint[],
    p_overdraft_kinds text[],
    p_overdraft_owners uuid[],
    OUT status text,
    OUT transfer_id uuid,
    OUT account_kind text,
    OUT account_owner uuid,
    OUT shortfall bigint
) LANGUAGE plpgsql AS $$
DECLARE
    account record;
    locked_keys text[] := '{}';
    locked_ids bigint[] := '{}';
    locked_kinds text[] := '{}';
    balances bigint[] := '{}';
    may_overdraw text[];
    found_id bigint;
    found_balance bigint;
    s int;
    d int;
    allowed boolean;
    e_leg smallint[] := '{}';
    e_account bigint[] := '{}';
    e_kind text[] := '{}';
    e_amount bigint[] := '{}';
    e_after bigint[] := '{}';
    e_allowed boolean[] := '{}';
BEGIN
    FOR account IN
        SELECT DISTINCT x.kind COLLATE "C" AS kind, x.owner
        FROM unnest(p_source_kinds || p_destination_kinds, p_source_owners || p_destination_owners) AS x(kind, owner)
        ORDER BY 1, 2
    LOOP
        SELECT a.id, a.balance INTO found_id, found_balance
        FROM ledger_accounts a WHERE a.kind = account.kind AND a.owner_id = account.owner FOR UPDATE;
        IF NOT FOUND THEN
            INSERT INTO ledger_accounts (kind, owner_id) VALUES (account.kind, account.owner)
            ON CONFLICT (kind, owner_id) DO NOTHING;
            SELECT a.id, a.balance INTO found_id, found_balance
            FROM ledger_accounts a WHERE a.kind = account.kind AND a.owner_id = account.owner FOR UPDATE;
        END IF;
        locked_keys := locked_keys || (account.kind || '/' || account.owner::text);
        locked_ids := locked_ids || found_id;
        locked_kinds := locked_kinds || account.kind;
        balances := balances || found_balance;
    END LOOP;

    SELECT t.id INTO transfer_id FROM ledger_transfers t WHERE t.idempotency_key = p_key;
    IF FOUND THEN
        status := 'exists';
        RETURN;
    END IF;

    may_overdraw := ARRAY(
        SELECT o.kind || '/' || o.owner::text FROM unnest(p_overdraft_kinds, p_overdraft_owners) AS o(kind, owner)
    );
    FOR i IN 1 .. cardinality(p_amounts) LOOP
        s := array_position(locked_keys, p_source_kinds[i] || '/' || p_source_owners[i]::text);
        d := array_position(locked_keys, p_destination_kinds[i] || '/' || p_destination_owners[i]::text);
        allowed := locked_keys[s] = ANY (may_overdraw);
        balances[s] := balances[s] - p_amounts[i];
        IF balances[s] < 0 AND NOT allowed AND locked_kinds[s] IN ('wallet', 'earnings') THEN
            status := 'insufficient';
            account_kind := locked_kinds[s];
            account_owner := p_source_owners[i];
            shortfall := -balances[s];
            RETURN;
        END IF;
        balances[d] := balances[d] + p_amounts[i];
        e_leg := e_leg || (i - 1)::smallint || (i - 1)::smallint;
        e_account := e_account || locked_ids[s] || locked_ids[d];
        e_kind := e_kind || locked_kinds[s] || locked_kinds[d];
        e_amount := e_amount || -p_amounts[i] || p_amounts[i];
        e_after := e_after || balances[s] || balances[d];
        e_allowed := e_allowed || allowed || false;
    END LOOP;

    INSERT INTO ledger_transfers (id, idempotency_key, kind, metadata, created_at)
    VALUES (p_id, p_key, p_kind, p_metadata, p_created_at)
    ON CONFLICT (idempotency_key) DO NOTHING;
    IF NOT FOUND THEN  -- the same key, posted concurrently over other accounts, committed first
        SELECT t.id INTO transfer_id FROM ledger_transfers t WHERE t.idempotency_key = p_key;
        status := 'exists';
        RETURN;
    END IF;

    INSERT INTO ledger_entries (transfer_id, leg, account_id, account_kind, amount, balance_after, overdraft_allowed)
    SELECT p_id, x.leg, x.account_id, x.kind, x.amount, x.after, x.allowed
    FROM unnest(e_leg, e_account, e_kind, e_amount, e_after, e_allowed)
        WITH ORDINALITY AS x(leg, account_id, kind, amount, after, allowed, n)
    ORDER BY x.n;

    UPDATE ledger_accounts a SET balance = v.balance
    FROM unnest(locked_ids, balances) AS v(id, balance)
    WHERE a.id = v.id AND a.balance <> v.balance;

    status := 'posted';
    transfer_id := p_id;
END;
$$;
