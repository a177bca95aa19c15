"""Piccolo tables of payouts (only adapters import them); they describe migrations/0750_payouts.sql and
0751_payout_earnings_window.sql.

PostgreSQL keys `payout_earnings_window` on (creator_id, entry_id); Piccolo has no composite keys, so
the class names the key's first column its primary key, and queries always filter on the whole key.
"""

from __future__ import annotations

from piccolo.columns import UUID, BigInt, Integer, SmallInt, Text, Timestamptz
from piccolo.table import Table


class PayoutTable(Table, tablename="payouts"):
    id = UUID(primary_key=True)
    creator_id = UUID()
    idempotency_key = Text()
    points = BigInt()
    amount_minor = BigInt()
    currency = Text()
    state = Text()
    trigger = Text()
    gateway = Text()
    vendor_ref = Text(unique=True, null=True, default=None)
    failure_reason = Text(default="")
    requested_at = Timestamptz()
    updated_at = Timestamptz()
    paid_at = Timestamptz(null=True, default=None)
    failed_at = Timestamptz(null=True, default=None)


class PayeeTable(Table, tablename="payout_payees"):
    creator_id = UUID(primary_key=True)
    stripe_account_id = Text(default="")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class SandboxPayoutTable(Table, tablename="payout_sandbox_payouts"):
    reference = Text(primary_key=True, db_column_name="ref")  # `ref` is a Table method's name
    idempotency_key = Text(unique=True)
    creator_id = UUID()
    amount_minor = BigInt()
    currency = Text()
    status = Text()
    failure_reason = Text(default="")
    created_at = Timestamptz()
    settle_at = Timestamptz()
    settled_at = Timestamptz(null=True, default=None)


class SandboxControlTable(Table, tablename="payout_sandbox_controls"):
    id = SmallInt(primary_key=True)
    fail_next = Integer(default=0)


class EarningsWindowTable(Table, tablename="payout_earnings_window"):
    """Recent earnings entries per creator (the hold-back window); key (creator_id, entry_id)."""

    creator_id = UUID(primary_key=True)
    entry_id = BigInt()  # ledger_entries.id
    amount = BigInt()
    created_at = Timestamptz()
    kind = Text()
