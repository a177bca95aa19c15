"""Piccolo tables of the ledger (only adapters import them). They describe migrations/0300_ledger.sql;
the hot path itself is plain SQL and the `ledger_post_transfer` function."""

from __future__ import annotations

from piccolo.columns import JSONB, UUID, BigInt, Boolean, ForeignKey, SmallInt, Text, Timestamptz
from piccolo.columns.column_types import BigSerial
from piccolo.table import Table


class LedgerAccountTable(Table, tablename="ledger_accounts"):
    id = BigSerial(primary_key=True)
    kind = Text()
    owner_id = UUID()  # the nil UUID for the platform's own accounts
    balance = BigInt(default=0)
    created_at = Timestamptz()


class LedgerTransferTable(Table, tablename="ledger_transfers"):
    id = UUID(primary_key=True)
    idempotency_key = Text(unique=True)
    kind = Text()
    metadata = JSONB()
    created_at = Timestamptz()


class LedgerEntryTable(Table, tablename="ledger_entries"):
    id = BigSerial(primary_key=True)
    transfer_id = ForeignKey(references=LedgerTransferTable, null=False)
    leg = SmallInt()
    account_id = ForeignKey(references=LedgerAccountTable, null=False)
    account_kind = Text()
    amount = BigInt()
    balance_after = BigInt()
    overdraft_allowed = Boolean(default=False)
