"""Piccolo table of gifts (only adapters import it); it describes migrations/2051_gifts.sql."""

from __future__ import annotations

from piccolo.columns import UUID, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class GiftTable(Table, tablename="gifts"):
    id = UUID(primary_key=True)
    sender_id = UUID()
    idempotency_key = Text()
    recipient_email = Text()
    amount = Integer()
    message = Varchar(length=280, default="")
    state = Text()
    created_at = Timestamptz()
    expires_at = Timestamptz()
    send_transfer_id = UUID()  # ledger_transfers.id
    settled_at = Timestamptz(null=True, default=None)
    settle_transfer_id = UUID(null=True, default=None)  # ledger_transfers.id
    claimed_by = UUID(null=True, default=None)
    mailed_at = Timestamptz(null=True, default=None)
