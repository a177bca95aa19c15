"""The wallet's own records in PostgreSQL and in memory: purchases, the webhook inbox, reconciliation."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from piccolo.custom_types import Combinable

from core.db import Database
from features.wallet.model import (
    Finding,
    FindingKind,
    PaymentStatus,
    Purchase,
    ReconciliationRun,
    VendorEvent,
)
from features.wallet.tables import PurchaseTable, ReconciliationFindingTable, ReconciliationRunTable, WebhookInboxTable

_PAYMENT_LOCK_CLASS = 4001  # advisory-lock namespace of the wallet's per-payment locks


def _purchase(row: Any) -> Purchase:
    return Purchase(
        payment_ref=row["payment_ref"],
        user_id=row["user_id"],
        pack_id=row["pack_id"],
        points=row["points"],
        amount_minor=row["amount_minor"],
        currency=row["currency"],
        idempotency_key=row["idempotency_key"],
        checkout_url=row["checkout_url"],
        status=PaymentStatus(row["status"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        return_path=row["return_path"],
    )


class PostgresPurchaseRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, purchase: Purchase) -> Purchase:
        row = PurchaseTable(
            payment_ref=purchase.payment_ref,
            user_id=purchase.user_id,
            pack_id=purchase.pack_id,
            points=purchase.points,
            amount_minor=purchase.amount_minor,
            currency=purchase.currency,
            idempotency_key=purchase.idempotency_key,
            checkout_url=purchase.checkout_url,
            status=purchase.status.value,
            created_at=purchase.created_at,
            updated_at=purchase.updated_at,
            return_path=purchase.return_path,
        )
        await PurchaseTable.insert(row).on_conflict(action="DO NOTHING")
        same_key = (PurchaseTable.user_id == purchase.user_id) & (
            PurchaseTable.idempotency_key == purchase.idempotency_key
        )
        rows = await PurchaseTable.select().where(same_key | (PurchaseTable.payment_ref == purchase.payment_ref))
        # The row under this payment reference if there is one, else the earlier checkout under this key.
        rows.sort(key=lambda r: r["payment_ref"] != purchase.payment_ref)
        return _purchase(rows[0])

    async def by_key(self, user_id: UUID, idempotency_key: str) -> Purchase | None:
        row = (
            await PurchaseTable.select()
            .where((PurchaseTable.user_id == user_id) & (PurchaseTable.idempotency_key == idempotency_key))
            .first()
        )
        return _purchase(row) if row else None

    async def get(self, payment_ref: str) -> Purchase | None:
        row = await PurchaseTable.select().where(PurchaseTable.payment_ref == payment_ref).first()
        return _purchase(row) if row else None

    async def set_status(self, payment_ref: str, status: PaymentStatus, now: datetime) -> None:
        await PurchaseTable.update({PurchaseTable.status: status.value, PurchaseTable.updated_at: now}).where(
            PurchaseTable.payment_ref == payment_ref
        )

    async def created_between(self, since: datetime, until: datetime) -> list[Purchase]:
        rows = (
            await PurchaseTable.select()
            .where((PurchaseTable.created_at >= since) & (PurchaseTable.created_at < until))
            .order_by(PurchaseTable.created_at)
        )
        return [_purchase(r) for r in rows]

    async def of_user(self, user_id: UUID) -> list[Purchase]:
        rows = (
            await PurchaseTable.select()
            .where(PurchaseTable.user_id == user_id)
            .order_by(PurchaseTable.created_at, PurchaseTable.payment_ref)
        )
        return [_purchase(r) for r in rows]

    async def lock_payment(self, payment_ref: str) -> None:
        # SQL: a transaction-scoped advisory lock.
        await self.db.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _PAYMENT_LOCK_CLASS, payment_ref)


def _event(vendor: str, event_id: str) -> Combinable:
    return (WebhookInboxTable.vendor == vendor) & (WebhookInboxTable.event_id == event_id)


class PostgresWebhookInbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, vendor: str, event: VendorEvent, received_at: datetime) -> bool:
        row = WebhookInboxTable(
            vendor=vendor,
            event_id=event.id,
            event_type=event.type,
            payment_ref=event.payment_ref,
            received_at=received_at,
        )
        return bool(await WebhookInboxTable.insert(row).on_conflict(action="DO NOTHING"))

    async def seen(self, vendor: str, event_id: str) -> bool:
        return await WebhookInboxTable.exists().where(_event(vendor, event_id))

    async def set_outcome(self, vendor: str, event_id: str, outcome: str) -> None:
        await WebhookInboxTable.update({WebhookInboxTable.outcome: outcome}).where(_event(vendor, event_id))

    async def outcome(self, vendor: str, event_id: str) -> str | None:
        row = await WebhookInboxTable.select(WebhookInboxTable.outcome).where(_event(vendor, event_id)).first()
        return row["outcome"] if row else None


class PostgresReconciliationRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(self, run: ReconciliationRun) -> None:
        async with self.db.atomic():
            await ReconciliationRunTable.insert(
                ReconciliationRunTable(
                    id=run.id,
                    since=run.since,
                    until=run.until,
                    started_at=run.started_at,
                    finished_at=run.finished_at,
                    payments_checked=run.payments_checked,
                    purchases_checked=run.purchases_checked,
                )
            )
            if run.findings:
                await ReconciliationFindingTable.insert(
                    *(
                        ReconciliationFindingTable(
                            run_id=run.id,
                            kind=f.kind.value,
                            payment_ref=f.payment_ref,
                            detail=f.detail,
                            healed=f.healed,
                            points=f.points,
                            amount_minor=f.amount_minor,
                        )
                        for f in run.findings
                    )
                )

    async def recent(self, limit: int = 20) -> list[ReconciliationRun]:
        rows = (
            await ReconciliationRunTable.select()
            .order_by(ReconciliationRunTable.started_at, ReconciliationRunTable.id, ascending=False)
            .limit(limit)
        )
        return await self._with_findings(rows)

    async def get(self, run_id: UUID) -> ReconciliationRun | None:
        rows = await ReconciliationRunTable.select().where(ReconciliationRunTable.id == run_id)
        runs = await self._with_findings(rows)
        return runs[0] if runs else None

    async def _with_findings(self, rows: list[Any]) -> list[ReconciliationRun]:
        if not rows:
            return []
        found = (
            await ReconciliationFindingTable.select()
            .where(ReconciliationFindingTable.run_id.is_in([r["id"] for r in rows]))
            .order_by(ReconciliationFindingTable.id)
        )
        by_run: dict[UUID, list[Finding]] = {}
        for f in found:
            by_run.setdefault(f["run_id"], []).append(
                Finding(
                    FindingKind(f["kind"]),
                    f["payment_ref"],
                    f["detail"],
                    healed=f["healed"],
                    points=f["points"],
                    amount_minor=f["amount_minor"],
                )
            )
        return [
            ReconciliationRun(
                id=r["id"],
                since=r["since"],
                until=r["until"],
                started_at=r["started_at"],
                finished_at=r["finished_at"],
                payments_checked=r["payments_checked"],
                purchases_checked=r["purchases_checked"],
                findings=tuple(by_run.get(r["id"], [])),
            )
            for r in rows
        ]


class MemoryPurchaseRepository:
    def __init__(self) -> None:
        self.purchases: dict[str, Purchase] = {}

    async def add(self, purchase: Purchase) -> Purchase:
        existing = self.purchases.get(purchase.payment_ref) or await self.by_key(
            purchase.user_id, purchase.idempotency_key
        )
        if existing is not None:
            return existing
        self.purchases[purchase.payment_ref] = purchase
        return purchase

    async def by_key(self, user_id: UUID, idempotency_key: str) -> Purchase | None:
        return next(
            (p for p in self.purchases.values() if p.user_id == user_id and p.idempotency_key == idempotency_key),
            None,
        )

    async def get(self, payment_ref: str) -> Purchase | None:
        return self.purchases.get(payment_ref)

    async def set_status(self, payment_ref: str, status: PaymentStatus, now: datetime) -> None:
        if payment_ref in self.purchases:
            self.purchases[payment_ref] = replace(self.purchases[payment_ref], status=status, updated_at=now)

    async def created_between(self, since: datetime, until: datetime) -> list[Purchase]:
        return sorted((p for p in self.purchases.values() if since <= p.created_at < until), key=lambda p: p.created_at)

    async def of_user(self, user_id: UUID) -> list[Purchase]:
        found = (p for p in self.purchases.values() if p.user_id == user_id)
        return sorted(found, key=lambda p: (p.created_at, p.payment_ref))

    async def lock_payment(self, payment_ref: str) -> None:
        return None  # one process, and memory adapters never await mid-change: nothing to serialize


class MemoryWebhookInbox:
    def __init__(self) -> None:
        self.events: dict[tuple[str, str], tuple[VendorEvent, str]] = {}

    async def record(self, vendor: str, event: VendorEvent, received_at: datetime) -> bool:
        if (vendor, event.id) in self.events:
            return False
        self.events[(vendor, event.id)] = (event, "received")
        return True

    async def seen(self, vendor: str, event_id: str) -> bool:
        return (vendor, event_id) in self.events

    async def set_outcome(self, vendor: str, event_id: str, outcome: str) -> None:
        event, _ = self.events[(vendor, event_id)]
        self.events[(vendor, event_id)] = (event, outcome)

    async def outcome(self, vendor: str, event_id: str) -> str | None:
        found = self.events.get((vendor, event_id))
        return found[1] if found else None


class MemoryReconciliationRepository:
    def __init__(self) -> None:
        self.runs: dict[UUID, ReconciliationRun] = {}

    async def save(self, run: ReconciliationRun) -> None:
        self.runs[run.id] = run

    async def recent(self, limit: int = 20) -> list[ReconciliationRun]:
        newest_first = list(reversed(self.runs.values()))  # insertion order breaks ties of a frozen clock
        return sorted(newest_first, key=lambda r: r.started_at, reverse=True)[:limit]

    async def get(self, run_id: UUID) -> ReconciliationRun | None:
        return self.runs.get(run_id)
