"""Piccolo tables of notifications (only adapters import them); they describe
migrations/0600_notifications.sql."""

from __future__ import annotations

from piccolo.columns import UUID, BigInt, BigSerial, Integer, Text, Timestamptz
from piccolo.table import Table


class OutboxMailTable(Table, tablename="outbox_mail"):
    """Mail as sent by the outbox mailer (development and tests read it back)."""

    id = BigSerial(primary_key=True)
    to_address = Text()
    to_normalized = Text()
    subject = Text()
    text_body = Text()
    html_body = Text()
    created_at = Timestamptz()


class NotificationCursorTable(Table, tablename="notification_cursors"):
    name = Text(primary_key=True)
    position = BigInt()
    gap_seen_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz()


class DeliveryTable(Table, tablename="notification_deliveries"):
    """One row per event that called for a mail: what was (or will be) sent, and how it went."""

    event_id = BigInt(primary_key=True)  # event_log.id
    user_id = UUID(null=True, default=None)
    kind = Text()
    to_address = Text(null=True, default=None)
    subject = Text(null=True, default=None)
    text_body = Text(null=True, default=None)
    html_body = Text(null=True, default=None)
    status = Text()
    attempts = Integer(default=0)
    last_error = Text(default="")
    next_attempt_at = Timestamptz(null=True, default=None)
    sent_at = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    updated_at = Timestamptz()
