"""Piccolo tables of the wallet (only adapters import them); they describe migrations/0400_wallet.sql and
1500_wallet_purchase_return_path.sql. Points themselves live in the ledger.

PostgreSQL keys `wallet_webhook_inbox` on (vendor, event_id); Piccolo has no composite keys, so the
class names the key's first column its primary key, and queries always filter on the whole key.
"""

from __future__ import annotations

from piccolo.columns import UUID, BigInt, BigSerial, Boolean, Integer, Text, Timestamptz
from piccolo.table import Table


class PurchaseTable(Table, tablename="wallet_purchases"):
    """A checkout Hypha started at the payment vendor; unique per (user_id, idempotency_key)."""

    payment_ref = Text(primary_key=True)
    user_id = UUID()
    pack_id = Text()
    points = BigInt()
    amount_minor = BigInt()
    currency = Text()
    idempotency_key = Text()
    checkout_url = Text()
    status = Text()
    created_at = Timestamptz()
    updated_at = Timestamptz()
    return_path = Text(default="")


class WebhookInboxTable(Table, tablename="wallet_webhook_inbox"):
    """One row per vendor event accepted; key (vendor, event_id)."""

    vendor = Text(primary_key=True)
    event_id = Text()
    event_type = Text()
    payment_ref = Text(null=True, default=None)
    received_at = Timestamptz()
    outcome = Text(default="received")


class ReconciliationRunTable(Table, tablename="wallet_reconciliation_runs"):
    id = UUID(primary_key=True)
    since = Timestamptz()
    until = Timestamptz()
    started_at = Timestamptz()
    finished_at = Timestamptz(null=True, default=None)
    payments_checked = Integer()
    purchases_checked = Integer()


class ReconciliationFindingTable(Table, tablename="wallet_reconciliation_findings"):
    id = BigSerial(primary_key=True)
    run_id = UUID()  # wallet_reconciliation_runs.id
    kind = Text()
    payment_ref = Text()
    detail = Text()
    healed = Boolean(default=False)
    points = BigInt(default=0)
    amount_minor = BigInt(default=0)
