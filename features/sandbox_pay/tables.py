"""Piccolo tables of the sandbox payment vendor (only adapters import them); they describe
migrations/0401_sandbox_pay.sql and 0402_sandbox_dispute_won.sql."""

from __future__ import annotations

from piccolo.columns import JSONB, BigInt, BigSerial, Integer, Text, Timestamptz
from piccolo.table import Table


class PaymentTable(Table, tablename="sandbox_payments"):
    id = Text(primary_key=True)
    idempotency_key = Text(unique=True)
    amount_minor = BigInt()
    currency = Text()
    description = Text()
    metadata = JSONB(default={})
    success_url = Text()
    cancel_url = Text()
    status = Text()
    created_at = Timestamptz()
    updated_at = Timestamptz()


class ReversalTable(Table, tablename="sandbox_reversals"):
    """A refund or a dispute of a payment."""

    id = Text(primary_key=True)
    payment_id = Text()  # sandbox_payments.id
    kind = Text()
    amount_minor = BigInt()
    idempotency_key = Text(unique=True)
    created_at = Timestamptz()
    won_at = Timestamptz(null=True, default=None)


class WebhookOutboxTable(Table, tablename="sandbox_webhook_outbox"):
    """Signed webhook bodies waiting to be delivered (the signature is computed when sending)."""

    id = BigSerial(primary_key=True)
    event_id = Text(unique=True)
    event_type = Text()
    payment_id = Text()  # sandbox_payments.id
    body = Text()
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz()
    delivered_at = Timestamptz(null=True, default=None)
    last_error = Text(default="")
