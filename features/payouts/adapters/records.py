"""The payouts' own records in PostgreSQL and in memory: payouts, payees and the sandbox vendor's store.

Both kinds keep the same promises (tests/contract/test_payouts_repositories.py runs each against both).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from core.db import Database
from features.payouts.model import LEDGER_KIND, EarningsEntry, Payee, Payout, PayoutState, Trigger
from features.payouts.sandbox_model import PENDING, SandboxPayout

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
        await self.db.execute(
            "INSERT INTO payouts (id, creator_id, idempotency_key, points, amount_minor, currency, state, trigger,"
            " gateway, vendor_ref, failure_reason, requested_at, updated_at, paid_at, failed_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
            " ON CONFLICT (creator_id, idempotency_key) DO NOTHING",
            payout.id,
            payout.creator_id,
            payout.idempotency_key,
            payout.points,
            payout.amount_minor,
            payout.currency,
            payout.state.value,
            payout.trigger.value,
            payout.gateway,
            payout.vendor_ref,
            payout.failure_reason,
            payout.requested_at,
            payout.updated_at,
            payout.paid_at,
            payout.failed_at,
        )
        stored = await self.by_key(payout.creator_id, payout.idempotency_key)
        assert stored is not None
        return stored

    async def get(self, payout_id: UUID, *, lock: bool = False) -> Payout | None:
        sql = "SELECT * FROM payouts WHERE id = $1 FOR UPDATE" if lock else "SELECT * FROM payouts WHERE id = $1"
        row = await self.db.fetchrow(sql, payout_id)
        return _payout(row) if row else None

    async def by_key(self, creator_id: UUID, idempotency_key: str) -> Payout | None:
        row = await self.db.fetchrow(
            "SELECT * FROM payouts WHERE creator_id = $1 AND idempotency_key = $2", creator_id, idempotency_key
        )
        return _payout(row) if row else None

    async def by_vendor_ref(self, ref: str) -> Payout | None:
        row = await self.db.fetchrow("SELECT * FROM payouts WHERE vendor_ref = $1", ref)
        return _payout(row) if row else None

    async def save(self, payout: Payout) -> None:
        await self.db.execute(
            "UPDATE payouts SET state = $2, vendor_ref = $3, failure_reason = $4, updated_at = $5, paid_at = $6,"
            " failed_at = $7 WHERE id = $1",
            payout.id,
            payout.state.value,
            payout.vendor_ref,
            payout.failure_reason,
            payout.updated_at,
            payout.paid_at,
            payout.failed_at,
        )

    async def for_creator(self, creator_id: UUID, limit: int = 1000) -> list[Payout]:
        rows = await self.db.fetch(
            "SELECT * FROM payouts WHERE creator_id = $1 ORDER BY requested_at DESC, id DESC LIMIT $2",
            creator_id,
            limit,
        )
        return [_payout(r) for r in rows]

    async def stale(self, state: PayoutState, updated_before: datetime, limit: int = 100) -> list[Payout]:
        rows = await self.db.fetch(
            "SELECT * FROM payouts WHERE state = $1 AND updated_at < $2 ORDER BY updated_at, id LIMIT $3",
            state.value,
            updated_before,
            limit,
        )
        return [_payout(r) for r in rows]

    async def lock_creator(self, creator_id: UUID) -> None:
        await self.db.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2::text))", _CREATOR_LOCK_CLASS, str(creator_id)
        )


def _payee(row: Any) -> Payee:
    return Payee(row["creator_id"], row["stripe_account_id"], row["created_at"])


class PostgresPayeeRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, creator_id: UUID) -> Payee | None:
        row = await self.db.fetchrow("SELECT * FROM payout_payees WHERE creator_id = $1", creator_id)
        return _payee(row) if row else None

    async def save(self, payee: Payee) -> None:
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
        rows = await self.db.fetch(
            "SELECT * FROM payout_payees WHERE $1::uuid IS NULL OR creator_id > $1 ORDER BY creator_id LIMIT $2",
            after,
            limit,
        )
        return [_payee(r) for r in rows]


class PostgresEarningsWindowStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def newest(self, creator_id: UUID) -> int | None:
        newest: int | None = await self.db.fetchval(
            "SELECT max(entry_id) FROM payout_earnings_window WHERE creator_id = $1", creator_id
        )
        return newest

    async def add(self, creator_id: UUID, entries: list[EarningsEntry]) -> None:
        if not entries:
            return
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
        status = await self.db.execute(
            "INSERT INTO payout_sandbox_payouts (ref, idempotency_key, creator_id, amount_minor, currency, status,"
            " failure_reason, created_at, settle_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            " ON CONFLICT (idempotency_key) DO NOTHING",
            payout.ref,
            payout.idempotency_key,
            payout.creator_id,
            payout.amount_minor,
            payout.currency,
            payout.status,
            payout.failure_reason,
            payout.created_at,
            payout.settle_at,
        )
        row = await self.db.fetchrow(
            "SELECT * FROM payout_sandbox_payouts WHERE idempotency_key = $1", payout.idempotency_key
        )
        assert row is not None
        return _sandbox(row), status.endswith(" 1")

    async def get(self, ref: str) -> SandboxPayout | None:
        row = await self.db.fetchrow("SELECT * FROM payout_sandbox_payouts WHERE ref = $1", ref)
        return _sandbox(row) if row else None

    async def mark_to_fail(self, ref: str, reason: str) -> None:
        await self.db.execute("UPDATE payout_sandbox_payouts SET failure_reason = $2 WHERE ref = $1", ref, reason)

    async def settle(self, ref: str, status: str, now: datetime) -> None:
        await self.db.execute(
            "UPDATE payout_sandbox_payouts SET status = $2, settled_at = $3 WHERE ref = $1 AND status = 'pending'",
            ref,
            status,
            now,
        )

    async def due(self, now: datetime, limit: int = 100) -> list[SandboxPayout]:
        rows = await self.db.fetch(
            "SELECT * FROM payout_sandbox_payouts WHERE status = 'pending' AND settle_at <= $1"
            " ORDER BY settle_at, ref LIMIT $2",
            now,
            limit,
        )
        return [_sandbox(r) for r in rows]

    async def recent(self, limit: int = 50) -> list[SandboxPayout]:
        rows = await self.db.fetch("SELECT * FROM payout_sandbox_payouts ORDER BY created_at DESC, ref LIMIT $1", limit)
        return [_sandbox(r) for r in rows]

    async def arm_failures(self, count: int) -> int:
        armed: int = await self.db.fetchval(
            "INSERT INTO payout_sandbox_controls (id, fail_next) VALUES (1, $1)"
            " ON CONFLICT (id) DO UPDATE SET fail_next = EXCLUDED.fail_next RETURNING fail_next",
            count,
        )
        return armed

    async def take_failure(self) -> bool:
        row = await self.db.fetchrow(
            "UPDATE payout_sandbox_controls SET fail_next = fail_next - 1 WHERE id = 1 AND fail_next > 0"
            " RETURNING fail_next"
        )
        return row is not None

    async def armed_failures(self) -> int:
        armed = await self.db.fetchval("SELECT fail_next FROM payout_sandbox_controls WHERE id = 1")
        return int(armed or 0)


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

    async def stale(self, state: PayoutState, updated_before: datetime, limit: int = 100) -> list[Payout]:
        found = [p for p in self.payouts.values() if p.state is state and p.updated_at < updated_before]
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
