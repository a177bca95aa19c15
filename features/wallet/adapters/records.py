"""The wallet's own records in PostgreSQL and in memory: purchases, the webhook inbox, reconciliation."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from core.db import Database
from features.wallet.model import (
    Finding,
    FindingKind,
    PaymentStatus,
    Purchase,
    ReconciliationRun,
    VendorEvent,
)

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
    )


class PostgresPurchaseRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, purchase: Purchase) -> Purchase:
        await self.db.execute(
            "INSERT INTO wallet_purchases (payment_ref, user_id, pack_id, points, amount_minor, currency,"
            " idempotency_key, checkout_url, status, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING",
            purchase.payment_ref,
            purchase.user_id,
            purchase.pack_id,
            purchase.points,
            purchase.amount_minor,
            purchase.currency,
            purchase.idempotency_key,
            purchase.checkout_url,
            purchase.status.value,
            purchase.created_at,
            purchase.updated_at,
        )
        row = await self.db.fetchrow(
            "SELECT * FROM wallet_purchases WHERE (user_id = $1 AND idempotency_key = $2) OR payment_ref = $3"
            " ORDER BY (payment_ref = $3) DESC LIMIT 1",
            purchase.user_id,
            purchase.idempotency_key,
            purchase.payment_ref,
        )
        assert row is not None
        return _purchase(row)

    async def by_key(self, user_id: UUID, idempotency_key: str) -> Purchase | None:
        row = await self.db.fetchrow(
            "SELECT * FROM wallet_purchases WHERE user_id = $1 AND idempotency_key = $2", user_id, idempotency_key
        )
        return _purchase(row) if row else None

    async def get(self, payment_ref: str) -> Purchase | None:
        row = await self.db.fetchrow("SELECT * FROM wallet_purchases WHERE payment_ref = $1", payment_ref)
        return _purchase(row) if row else None

    async def set_status(self, payment_ref: str, status: PaymentStatus, now: datetime) -> None:
        await self.db.execute(
            "UPDATE wallet_purchases SET status = $2, updated_at = $3 WHERE payment_ref = $1",
            payment_ref,
            status.value,
            now,
        )

    async def created_between(self, since: datetime, until: datetime) -> list[Purchase]:
        rows = await self.db.fetch(
            "SELECT * FROM wallet_purchases WHERE created_at >= $1 AND created_at < $2 ORDER BY created_at",
            since,
            until,
        )
        return [_purchase(r) for r in rows]

    async def of_user(self, user_id: UUID) -> list[Purchase]:
        rows = await self.db.fetch(
            "SELECT * FROM wallet_purchases WHERE user_id = $1 ORDER BY created_at, payment_ref", user_id
        )
        return [_purchase(r) for r in rows]

    async def lock_payment(self, payment_ref: str) -> None:
        await self.db.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _PAYMENT_LOCK_CLASS, payment_ref)


class PostgresWebhookInbox:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, vendor: str, event: VendorEvent, received_at: datetime) -> bool:
        status = await self.db.execute(
            "INSERT INTO wallet_webhook_inbox (vendor, event_id, event_type, payment_ref, received_at)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            vendor,
            event.id,
            event.type,
            event.payment_ref,
            received_at,
        )
        return status.endswith(" 1")

    async def seen(self, vendor: str, event_id: str) -> bool:
        found = await self.db.fetchval(
            "SELECT 1 FROM wallet_webhook_inbox WHERE vendor = $1 AND event_id = $2", vendor, event_id
        )
        return found is not None

    async def set_outcome(self, vendor: str, event_id: str, outcome: str) -> None:
        await self.db.execute(
            "UPDATE wallet_webhook_inbox SET outcome = $3 WHERE vendor = $1 AND event_id = $2",
            vendor,
            event_id,
            outcome,
        )

    async def outcome(self, vendor: str, event_id: str) -> str | None:
        value: str | None = await self.db.fetchval(
            "SELECT outcome FROM wallet_webhook_inbox WHERE vendor = $1 AND event_id = $2", vendor, event_id
        )
        return value


class PostgresReconciliationRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def save(self, run: ReconciliationRun) -> None:
        async with self.db.atomic():
            await self.db.execute(
                "INSERT INTO wallet_reconciliation_runs"
                " (id, since, until, started_at, finished_at, payments_checked, purchases_checked)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                run.id,
                run.since,
                run.until,
                run.started_at,
                run.finished_at,
                run.payments_checked,
                run.purchases_checked,
            )
            if run.findings:
                async with self.db.connection() as conn:
                    await conn.executemany(
                        "INSERT INTO wallet_reconciliation_findings"
                        " (run_id, kind, payment_ref, detail, healed, points, amount_minor)"
                        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        [
                            (run.id, f.kind.value, f.payment_ref, f.detail, f.healed, f.points, f.amount_minor)
                            for f in run.findings
                        ],
                    )

    async def recent(self, limit: int = 20) -> list[ReconciliationRun]:
        rows = await self.db.fetch(
            "SELECT * FROM wallet_reconciliation_runs ORDER BY started_at DESC, id DESC LIMIT $1", limit
        )
        return await self._with_findings(rows)

    async def get(self, run_id: UUID) -> ReconciliationRun | None:
        rows = await self.db.fetch("SELECT * FROM wallet_reconciliation_runs WHERE id = $1", run_id)
        runs = await self._with_findings(rows)
        return runs[0] if runs else None

    async def _with_findings(self, rows: list[Any]) -> list[ReconciliationRun]:
        ids = [r["id"] for r in rows]
        found = await self.db.fetch(
            "SELECT * FROM wallet_reconciliation_findings WHERE run_id = ANY($1::uuid[]) ORDER BY id", ids
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
