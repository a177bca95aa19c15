"""The sandbox vendor's stores: PostgreSQL (its own tables) and in memory."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from core.db import Database
from core.tables import AppSecretTable
from features.sandbox_pay.model import OutboxMessage, SandboxPayment, SandboxReversal, SandboxStatus
from features.sandbox_pay.tables import PaymentTable, ReversalTable, WebhookOutboxTable


def _payment(row: Any, reversals: Sequence[SandboxReversal]) -> SandboxPayment:
    return SandboxPayment(
        id=row["id"],
        idempotency_key=row["idempotency_key"],
        amount_minor=row["amount_minor"],
        currency=row["currency"],
        description=row["description"],
        metadata=json.loads(row["metadata"]),
        success_url=row["success_url"],
        cancel_url=row["cancel_url"],
        status=SandboxStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        reversals=tuple(reversals),
    )


def _reversal(row: Any) -> SandboxReversal:
    return SandboxReversal(
        id=row["id"],
        payment_id=row["payment_id"],
        kind=row["kind"],
        amount_minor=row["amount_minor"],
        idempotency_key=row["idempotency_key"],
        created_at=row["created_at"],
        won_at=row["won_at"],
    )


def _message(row: Any) -> OutboxMessage:
    return OutboxMessage(
        id=row["id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        payment_id=row["payment_id"],
        body=row["body"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        delivered_at=row["delivered_at"],
        last_error=row["last_error"],
    )


class PostgresSandboxStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, payment: SandboxPayment) -> SandboxPayment:
        row = PaymentTable(
            id=payment.id,
            idempotency_key=payment.idempotency_key,
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            description=payment.description,
            metadata=json.dumps(dict(payment.metadata)),
            success_url=payment.success_url,
            cancel_url=payment.cancel_url,
            status=payment.status.value,
            created_at=payment.created_at,
            updated_at=payment.updated_at,
        )
        await PaymentTable.insert(row).on_conflict(target=PaymentTable.idempotency_key, action="DO NOTHING")
        stored = await PaymentTable.select().where(PaymentTable.idempotency_key == payment.idempotency_key).first()
        assert stored is not None
        return _payment(stored, await self._reversals([stored["id"]]))

    async def get(self, payment_id: str, *, lock: bool = False) -> SandboxPayment | None:
        query = PaymentTable.select().where(PaymentTable.id == payment_id)
        row = await (query.lock_rows("UPDATE") if lock else query).first()
        return _payment(row, await self._reversals([payment_id])) if row else None

    async def _reversals(self, payment_ids: list[str]) -> list[SandboxReversal]:
        if not payment_ids:
            return []
        rows = (
            await ReversalTable.select()
            .where(ReversalTable.payment_id.is_in(payment_ids))
            .order_by(ReversalTable.created_at, ReversalTable.id)
        )
        return [_reversal(r) for r in rows]

    async def _with_reversals(self, rows: Sequence[Any]) -> list[SandboxPayment]:
        reversals = await self._reversals([r["id"] for r in rows])
        return [_payment(r, [x for x in reversals if x.payment_id == r["id"]]) for r in rows]

    async def set_status(self, payment_id: str, status: SandboxStatus, now: datetime) -> None:
        await PaymentTable.update({PaymentTable.status: status.value, PaymentTable.updated_at: now}).where(
            PaymentTable.id == payment_id
        )

    async def add_reversal(self, reversal: SandboxReversal) -> SandboxReversal:
        row = ReversalTable(
            id=reversal.id,
            payment_id=reversal.payment_id,
            kind=reversal.kind,
            amount_minor=reversal.amount_minor,
            idempotency_key=reversal.idempotency_key,
            created_at=reversal.created_at,
        )
        await ReversalTable.insert(row).on_conflict(target=ReversalTable.idempotency_key, action="DO NOTHING")
        stored = await ReversalTable.select().where(ReversalTable.idempotency_key == reversal.idempotency_key).first()
        assert stored is not None
        return _reversal(stored)

    async def set_dispute_won(self, reversal_id: str, won_at: datetime) -> None:
        await ReversalTable.update({ReversalTable.won_at: won_at}).where(
            (ReversalTable.id == reversal_id) & (ReversalTable.kind == "dispute") & ReversalTable.won_at.is_null()
        )

    async def created_between(self, since: datetime, until: datetime) -> list[SandboxPayment]:
        rows = (
            await PaymentTable.select()
            .where((PaymentTable.created_at >= since) & (PaymentTable.created_at < until))
            .order_by(PaymentTable.created_at, PaymentTable.id)
        )
        return await self._with_reversals(rows)

    async def recent(self, limit: int = 50) -> list[SandboxPayment]:
        rows = (
            await PaymentTable.select().order_by(PaymentTable.created_at, PaymentTable.id, ascending=False).limit(limit)
        )
        return await self._with_reversals(rows)

    async def enqueue_webhook(self, message: OutboxMessage) -> int:
        inserted = await WebhookOutboxTable.insert(
            WebhookOutboxTable(
                event_id=message.event_id,
                event_type=message.event_type,
                payment_id=message.payment_id,
                body=message.body,
                attempts=message.attempts,
                next_attempt_at=message.next_attempt_at,
            )
        )
        message_id: int = inserted[0]["id"]
        return message_id

    async def claim_webhooks(
        self, now: datetime, lease_until: datetime, *, ids: Sequence[int] = (), limit: int = 50, max_attempts: int = 12
    ) -> list[OutboxMessage]:
        # SQL: FOR UPDATE SKIP LOCKED: two deliverers (a web process, the worker's sweep) never wait on each other.
        rows = await self.db.fetch(
            "UPDATE sandbox_webhook_outbox SET attempts = attempts + 1, next_attempt_at = $2"
            " WHERE id IN (SELECT id FROM sandbox_webhook_outbox WHERE delivered_at IS NULL AND attempts < $5"
            "  AND (CASE WHEN cardinality($3::bigint[]) > 0 THEN id = ANY($3::bigint[]) AND attempts = 0"
            "            ELSE next_attempt_at <= $1 END)"
            "  ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED)"
            " RETURNING *",
            now,
            lease_until,
            list(ids),
            limit,
            max_attempts,
        )
        return sorted((_message(r) for r in rows), key=lambda m: m.id)

    async def mark_delivered(self, message_id: int, now: datetime) -> None:
        await WebhookOutboxTable.update(
            {WebhookOutboxTable.delivered_at: now, WebhookOutboxTable.last_error: ""}
        ).where(WebhookOutboxTable.id == message_id)

    async def mark_failed(self, message_id: int, error: str, retry_at: datetime) -> None:
        await WebhookOutboxTable.update(
            {WebhookOutboxTable.last_error: error, WebhookOutboxTable.next_attempt_at: retry_at}
        ).where(WebhookOutboxTable.id == message_id)

    async def outbox(self, payment_id: str | None = None, limit: int = 50) -> list[OutboxMessage]:
        query = WebhookOutboxTable.select().order_by(WebhookOutboxTable.id, ascending=False).limit(limit)
        if payment_id is not None:
            query = query.where(WebhookOutboxTable.payment_id == payment_id)
        return [_message(r) for r in await query]

    async def shared_secret(self, name: str, candidate: str) -> str:
        await AppSecretTable.insert(AppSecretTable(name=name, value=candidate)).on_conflict(
            target=AppSecretTable.name, action="DO NOTHING"
        )
        row = await AppSecretTable.select(AppSecretTable.value).where(AppSecretTable.name == name).first()
        assert row is not None
        value: str = row["value"]
        return value


class MemorySandboxStore:
    def __init__(self) -> None:
        self.payments: dict[str, SandboxPayment] = {}
        self.messages: dict[int, OutboxMessage] = {}
        self.secrets: dict[str, str] = {}

    async def add(self, payment: SandboxPayment) -> SandboxPayment:
        existing = next((p for p in self.payments.values() if p.idempotency_key == payment.idempotency_key), None)
        if existing is not None:
            return existing
        self.payments[payment.id] = payment
        return payment

    async def get(self, payment_id: str, *, lock: bool = False) -> SandboxPayment | None:
        return self.payments.get(payment_id)

    async def set_status(self, payment_id: str, status: SandboxStatus, now: datetime) -> None:
        self.payments[payment_id] = replace(self.payments[payment_id], status=status, updated_at=now)

    async def add_reversal(self, reversal: SandboxReversal) -> SandboxReversal:
        for payment in self.payments.values():
            for earlier in payment.reversals:
                if earlier.idempotency_key == reversal.idempotency_key:
                    return earlier
        payment = self.payments[reversal.payment_id]
        self.payments[payment.id] = replace(payment, reversals=(*payment.reversals, reversal))
        return reversal

    async def set_dispute_won(self, reversal_id: str, won_at: datetime) -> None:
        for payment in self.payments.values():
            if any(r.id == reversal_id for r in payment.reversals):
                reversals = tuple(
                    replace(r, won_at=won_at) if r.id == reversal_id and r.open_dispute else r
                    for r in payment.reversals
                )
                self.payments[payment.id] = replace(payment, reversals=reversals)

    async def created_between(self, since: datetime, until: datetime) -> list[SandboxPayment]:
        found = [p for p in self.payments.values() if since <= p.created_at < until]
        return sorted(found, key=lambda p: (p.created_at, p.id))

    async def recent(self, limit: int = 50) -> list[SandboxPayment]:
        return sorted(self.payments.values(), key=lambda p: (p.created_at, p.id), reverse=True)[:limit]

    async def enqueue_webhook(self, message: OutboxMessage) -> int:
        message_id = len(self.messages) + 1
        self.messages[message_id] = replace(message, id=message_id)
        return message_id

    async def claim_webhooks(
        self, now: datetime, lease_until: datetime, *, ids: Sequence[int] = (), limit: int = 50, max_attempts: int = 12
    ) -> list[OutboxMessage]:
        def wanted(m: OutboxMessage) -> bool:
            if m.delivered_at is not None or m.attempts >= max_attempts:
                return False
            return (m.id in ids and m.attempts == 0) if ids else m.next_attempt_at <= now

        claimed = [m for m in sorted(self.messages.values(), key=lambda m: m.id) if wanted(m)][:limit]
        for m in claimed:
            self.messages[m.id] = replace(m, attempts=m.attempts + 1, next_attempt_at=lease_until)
        return [self.messages[m.id] for m in claimed]

    async def mark_delivered(self, message_id: int, now: datetime) -> None:
        self.messages[message_id] = replace(self.messages[message_id], delivered_at=now, last_error="")

    async def mark_failed(self, message_id: int, error: str, retry_at: datetime) -> None:
        self.messages[message_id] = replace(self.messages[message_id], last_error=error, next_attempt_at=retry_at)

    async def outbox(self, payment_id: str | None = None, limit: int = 50) -> list[OutboxMessage]:
        found = [m for m in self.messages.values() if payment_id is None or m.payment_id == payment_id]
        return sorted(found, key=lambda m: m.id, reverse=True)[:limit]

    async def shared_secret(self, name: str, candidate: str) -> str:
        return self.secrets.setdefault(name, candidate)
