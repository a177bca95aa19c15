"""The payouts' own records in PostgreSQL and in memory: payouts, payees and the sandbox vendor's store.

Both kinds keep the same promises (tests/contract/test_payouts_repositories.py runs each against both).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from piccolo.query.functions.aggregate import Max

from core.db import Database
from features.payouts.model import LEDGER_KIND, EarningsEntry, Payee, Payout, PayoutState, Trigger
from features.payouts.sandbox_model import PENDING, SandboxPayout
from features.payouts.tables import (
    EarningsWindowTable,
    PayeeTable,
    PayoutTable,
    SandboxControlTable,
    SandboxPayoutTable,
)

_CREATOR_LOCK_CLASS = 7501  # advisory-lock namespace of the per-creator payout request lock

# ---------------------------------------------------------------------------------------------------
# PostgreSQL


def _payout(row: Any) -> Payout:
    return Payout(
        id=row["id"],
        creator_id=row["creator_id"],
        idempotency_key=row["idempotency_key"],
        points=row["points"],
        amount_minor=row["amount_minor"],
        currency=row["currency"],
        state=PayoutState(row["state"]),
        trigger=Trigger(row["trigger"]),
        gateway=row["gateway"],
        requested_at=row["requested_at"],
        updated_at=row["updated_at"],
        vendor_ref=row["vendor_ref"],
        failure_reason=row["failure_reason"],
        paid_at=row["paid_at"],
        failed_at=row["failed_at"],
    )


class PostgresPayoutRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, payout: Payout) -> Payout:
        row = PayoutTable(
            id=payout.id,
            creator_id=payout.creator_id,
            idempotency_key=payout.idempotency_key,
            points=payout.points,
            amount_minor=payout.amount_minor,
            currency=payout.currency,
            state=payout.state.value,
            trigger=payout.trigger.value,
            gateway=payout.gateway,
            vendor_ref=payout.vendor_ref,
            failure_reason=payout.failure_reason,
            requested_at=payout.requested_at,
            updated_at=payout.updated_at,
            paid_at=payout.paid_at,
            failed_at=payout.failed_at,
        )
        key = (PayoutTable.creator_id, PayoutTable.idempotency_key)
        await PayoutTable.insert(row).on_conflict(target=key, action="DO NOTHING")
        stored = await self.by_key(payout.creator_id, payout.idempotency_key)
        assert stored is not None
        return stored

    async def get(self, payout_id: UUID, *, lock: bool = False) -> Payout | None:
        query = PayoutTable.select().where(PayoutTable.id == payout_id)
        row = await (query.lock_rows("UPDATE") if lock else query).first()
        return _payout(row) if row else None

    async def by_key(self, creator_id: UUID, idempotency_key: str) -> Payout | None:
        row = (
            await PayoutTable.select()
            .where((PayoutTable.creator_id == creator_id) & (PayoutTable.idempotency_key == idempotency_key))
            .first()
        )
        return _payout(row) if row else None

    async def by_vendor_ref(self, ref: str) -> Payout | None:
        row = await PayoutTable.select().where(PayoutTable.vendor_ref == ref).first()
        return _payout(row) if row else None

    async def save(self, payout: Payout) -> None:
        await PayoutTable.update(
            {
                PayoutTable.state: payout.state.value,
                PayoutTable.vendor_ref: payout.vendor_ref,
                PayoutTable.failure_reason: payout.failure_reason,
                PayoutTable.updated_at: payout.updated_at,
                PayoutTable.paid_at: payout.paid_at,
                PayoutTable.failed_at: payout.failed_at,
            }
        ).where(PayoutTable.id == payout.id)

    async def for_creator(self, creator_id: UUID, limit: int = 1000) -> list[Payout]:
        rows = (
            await PayoutTable.select()
            .where(PayoutTable.creator_id == creator_id)
            .order_by(PayoutTable.requested_at, PayoutTable.id, ascending=False)
            .limit(limit)
        )
        return [_payout(r) for r in rows]

    async def stale(
        self, state: PayoutState, updated_before: datetime, limit: int = 100, *, paid_after: datetime | None = None
    ) -> list[Payout]:
        where = (PayoutTable.state == state.value) & (PayoutTable.updated_at < updated_before)
        if paid_after is not None:
            where &= PayoutTable.paid_at > paid_after
        rows = await PayoutTable.select().where(where).order_by(PayoutTable.updated_at, PayoutTable.id).limit(limit)
        return [_payout(r) for r in rows]

    async def lock_creator(self, creator_id: UUID) -> None:
        # SQL: a transaction-scoped advisory lock.
        await self.db.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2::text))", _CREATOR_LOCK_CLASS, str(creator_id)
        )


def _payee(row: Any) -> Payee:
    return Payee(row["creator_id"], row["stripe_account_id"], row["created_at"])


class PostgresPayeeRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, creator_id: UUID) -> Payee | None:
        row = await PayeeTable.select().where(PayeeTable.creator_id == creator_id).first()
        return _payee(row) if row else None

    async def save(self, payee: Payee) -> None:
        # SQL: an upsert that keeps the first created_at and stamps both times with the database's now().
        await self.db.execute(
            "INSERT INTO payout_payees (creator_id, stripe_account_id, created_at, updated_at)"
            " VALUES ($1, $2, coalesce($3, now()), now())"
            " ON CONFLICT (creator_id) DO UPDATE SET stripe_account_id = EXCLUDED.stripe_account_id,"
            " updated_at = now()",
            payee.creator_id,
            payee.stripe_account_id,
            payee.created_at,
        )

    async def page(self, after: UUID | None, limit: int) -> list[Payee]:
        query = PayeeTable.select().order_by(PayeeTable.creator_id).limit(limit)
        if after is not None:
            query = query.where(PayeeTable.creator_id > after)
        return [_payee(r) for r in await query]


class PostgresEarningsWindowStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def newest(self, creator_id: UUID) -> int | None:
        row = await EarningsWindowTable.select(Max(EarningsWindowTable.entry_id, alias="newest")).where(
            EarningsWindowTable.creator_id == creator_id
        )
        newest: int | None = row[0]["newest"]
        return newest

    async def add(self, creator_id: UUID, entries: list[EarningsEntry]) -> None:
        if not entries:
            return
        # SQL: unnest() inserts any number of entries in one statement with five parameters.
        await self.db.execute(
            "INSERT INTO payout_earnings_window (creator_id, entry_id, amount, created_at, kind)"
            " SELECT $1, e.entry_id, e.amount, e.created_at, e.kind"
            " FROM unnest($2::bigint[], $3::bigint[], $4::timestamptz[], $5::text[])"
            " AS e(entry_id, amount, created_at, kind)"
            " ON CONFLICT (creator_id, entry_id) DO NOTHING",
            creator_id,
            [e.entry_id for e in entries],
            [e.amount for e in entries],
            [e.created_at for e in entries],
            [e.kind for e in entries],
        )

    async def held(self, creator_id: UUID, after: datetime) -> list[EarningsEntry]:
        # SQL: a GROUP BY on the UTC day.
        rows = await self.db.fetch(
            "SELECT date_trunc('day', created_at AT TIME ZONE 'UTC') AS day, sum(amount)::bigint AS amount,"
            " max(created_at) AS latest FROM payout_earnings_window"
            " WHERE creator_id = $1 AND created_at > $2 AND kind <> $3 GROUP BY 1 ORDER BY 1",
            creator_id,
            after,
            LEDGER_KIND,
        )
        return [EarningsEntry(r["amount"], r["latest"], "earnings") for r in rows]

    async def prune(self, before: datetime) -> int:
        # SQL: the DELETE's status counts the rows, which are not worth sending back.
        status = await self.db.execute("DELETE FROM payout_earnings_window WHERE created_at < $1", before)
        return int(status.split()[-1])


def _sandbox(row: Any) -> SandboxPayout:
    return SandboxPayout(
        ref=row["ref"],
        idempotency_key=row["idempotency_key"],
        creator_id=row["creator_id"],
        amount_minor=row["amount_minor"],
        currency=row["currency"],
        status=row["status"],
        created_at=row["created_at"],
        settle_at=row["settle_at"],
        failure_reason=row["failure_reason"],
        settled_at=row["settled_at"],
    )


class PostgresSandboxPayoutStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, payout: SandboxPayout) -> tuple[SandboxPayout, bool]:
        row = SandboxPayoutTable(
            reference=payout.ref,
            idempotency_key=payout.idempotency_key,
            creator_id=payout.creator_id,
            amount_minor=payout.amount_minor,
            currency=payout.currency,
            status=payout.status,
            failure_reason=payout.failure_reason,
            created_at=payout.created_at,
            settle_at=payout.settle_at,
        )
        key = SandboxPayoutTable.idempotency_key
        inserted = await SandboxPayoutTable.insert(row).on_conflict(target=key, action="DO NOTHING")
        stored = await SandboxPayoutTable.select().where(key == payout.idempotency_key).first()
        assert stored is not None
        return _sandbox(stored), bool(inserted)

    async def get(self, ref: str) -> SandboxPayout | None:
        row = await SandboxPayoutTable.select().where(SandboxPayoutTable.reference == ref).first()
        return _sandbox(row) if row else None

    async def mark_to_fail(self, ref: str, reason: str) -> None:
        await SandboxPayoutTable.update({SandboxPayoutTable.failure_reason: reason}).where(
            SandboxPayoutTable.reference == ref
        )

    async def settle(self, ref: str, status: str, now: datetime) -> None:
        await SandboxPayoutTable.update({SandboxPayoutTable.status: status, SandboxPayoutTable.settled_at: now}).where(
            (SandboxPayoutTable.reference == ref) & (SandboxPayoutTable.status == PENDING)
        )

    async def due(self, now: datetime, limit: int = 100) -> list[SandboxPayout]:
        rows = (
            await SandboxPayoutTable.select()
            .where((SandboxPayoutTable.status == PENDING) & (SandboxPayoutTable.settle_at <= now))
            .order_by(SandboxPayoutTable.settle_at, SandboxPayoutTable.reference)
            .limit(limit)
        )
        return [_sandbox(r) for r in rows]

    async def recent(self, limit: int = 50) -> list[SandboxPayout]:
        rows = (
            await SandboxPayoutTable.select()
            .order_by(SandboxPayoutTable.created_at, ascending=False)
            .order_by(SandboxPayoutTable.reference)
            .limit(limit)
        )
        return [_sandbox(r) for r in rows]

    async def arm_failures(self, count: int) -> int:
        rows = (
            await SandboxControlTable.insert(SandboxControlTable(id=1, fail_next=count))
            .on_conflict(target=SandboxControlTable.id, action="DO UPDATE", values=[SandboxControlTable.fail_next])
            .returning(SandboxControlTable.fail_next)
        )
        armed: int = rows[0]["fail_next"]
        return armed

    async def take_failure(self) -> bool:
        taken = (
            await SandboxControlTable.update({SandboxControlTable.fail_next: SandboxControlTable.fail_next - 1})
            .where((SandboxControlTable.id == 1) & (SandboxControlTable.fail_next > 0))
            .returning(SandboxControlTable.fail_next)
        )
        return bool(taken)

    async def armed_failures(self) -> int:
        row = await SandboxControlTable.select(SandboxControlTable.fail_next).where(SandboxControlTable.id == 1).first()
        return int(row["fail_next"]) if row else 0


# ---------------------------------------------------------------------------------------------------
# In memory


class MemoryPayoutRepository:
    def __init__(self) -> None:
        self.payouts: dict[UUID, Payout] = {}

    async def add(self, payout: Payout) -> Payout:
        existing = await self.by_key(payout.creator_id, payout.idempotency_key)
        if existing is not None:
            return existing
        self.payouts[payout.id] = payout
        return payout

    async def get(self, payout_id: UUID, *, lock: bool = False) -> Payout | None:
        return self.payouts.get(payout_id)

    async def by_key(self, creator_id: UUID, idempotency_key: str) -> Payout | None:
        return next(
            (p for p in self.payouts.values() if p.creator_id == creator_id and p.idempotency_key == idempotency_key),
            None,
        )

    async def by_vendor_ref(self, ref: str) -> Payout | None:
        return next((p for p in self.payouts.values() if p.vendor_ref == ref), None)

    async def save(self, payout: Payout) -> None:
        if payout.id in self.payouts:
            self.payouts[payout.id] = payout

    async def for_creator(self, creator_id: UUID, limit: int = 1000) -> list[Payout]:
        mine = [p for p in self.payouts.values() if p.creator_id == creator_id]
        return sorted(mine, key=lambda p: (p.requested_at, p.id), reverse=True)[:limit]

    async def stale(
        self, state: PayoutState, updated_before: datetime, limit: int = 100, *, paid_after: datetime | None = None
    ) -> list[Payout]:
        found = [
            p
            for p in self.payouts.values()
            if p.state is state
            and p.updated_at < updated_before
            and (paid_after is None or (p.paid_at is not None and p.paid_at > paid_after))
        ]
        return sorted(found, key=lambda p: (p.updated_at, p.id))[:limit]

    async def lock_creator(self, creator_id: UUID) -> None:
        # One event loop and no awaits between the checks and the writes of a request: nothing to lock.
        return None


class MemoryPayeeRepository:
    def __init__(self) -> None:
        self.payees: dict[UUID, Payee] = {}

    async def get(self, creator_id: UUID) -> Payee | None:
        return self.payees.get(creator_id)

    async def save(self, payee: Payee) -> None:
        prior = self.payees.get(payee.creator_id)
        created = prior.created_at if prior and prior.created_at else payee.created_at
        self.payees[payee.creator_id] = replace(payee, created_at=created)

    async def page(self, after: UUID | None, limit: int) -> list[Payee]:
        ordered = sorted(self.payees.values(), key=lambda p: p.creator_id)
        return [p for p in ordered if after is None or p.creator_id > after][:limit]


class MemoryEarningsWindowStore:
    def __init__(self) -> None:
        self.entries: dict[UUID, dict[int, EarningsEntry]] = {}

    async def newest(self, creator_id: UUID) -> int | None:
        return max(self.entries.get(creator_id, {}), default=None)

    async def add(self, creator_id: UUID, entries: list[EarningsEntry]) -> None:
        mine = self.entries.setdefault(creator_id, {})
        for entry in entries:
            mine.setdefault(entry.entry_id, entry)

    async def held(self, creator_id: UUID, after: datetime) -> list[EarningsEntry]:
        days: dict[object, EarningsEntry] = {}
        for entry in sorted(self.entries.get(creator_id, {}).values(), key=lambda e: e.created_at):
            if entry.created_at > after and entry.kind != LEDGER_KIND:
                day = entry.created_at.astimezone(UTC).date()
                prior = days.get(day)
                days[day] = EarningsEntry((prior.amount if prior else 0) + entry.amount, entry.created_at, "earnings")
        return list(days.values())

    async def prune(self, before: datetime) -> int:
        pruned = 0
        for mine in self.entries.values():
            old = [entry_id for entry_id, e in mine.items() if e.created_at < before]
            for entry_id in old:
                del mine[entry_id]
            pruned += len(old)
        return pruned


class MemorySandboxPayoutStore:
    def __init__(self) -> None:
        self.payouts: dict[str, SandboxPayout] = {}
        self.fail_next = 0

    async def add(self, payout: SandboxPayout) -> tuple[SandboxPayout, bool]:
        existing = next((p for p in self.payouts.values() if p.idempotency_key == payout.idempotency_key), None)
        if existing is not None:
            return existing, False
        self.payouts[payout.ref] = payout
        return payout, True

    async def get(self, ref: str) -> SandboxPayout | None:
        return self.payouts.get(ref)

    async def mark_to_fail(self, ref: str, reason: str) -> None:
        self.payouts[ref] = replace(self.payouts[ref], failure_reason=reason)

    async def settle(self, ref: str, status: str, now: datetime) -> None:
        payout = self.payouts.get(ref)
        if payout is not None and payout.status == PENDING:
            self.payouts[ref] = replace(payout, status=status, settled_at=now)

    async def due(self, now: datetime, limit: int = 100) -> list[SandboxPayout]:
        found = [p for p in self.payouts.values() if p.status == PENDING and p.settle_at <= now]
        return sorted(found, key=lambda p: (p.settle_at, p.ref))[:limit]

    async def recent(self, limit: int = 50) -> list[SandboxPayout]:
        return sorted(self.payouts.values(), key=lambda p: (p.created_at, p.ref), reverse=True)[:limit]

    async def arm_failures(self, count: int) -> int:
        self.fail_next = count
        return count

    async def take_failure(self) -> bool:
        if self.fail_next > 0:
            self.fail_next -= 1
            return True
        return False

    async def armed_failures(self) -> int:
        return self.fail_next
