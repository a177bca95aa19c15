"""Ledger adapters: PostgreSQL (plain SQL, one round trip per transfer) and in memory.

Both keep the same promises (tests/contract/test_ledger_repository.py runs each against both).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from core.db import Database
from features.ledger.model import (
    AccountRef,
    Entry,
    InsufficientPoints,
    LedgerTotals,
    Leg,
    Transfer,
    apply_legs,
    overdraws,
)
from features.ledger.tables import LedgerAccountTable, LedgerTransferTable

# ---------------------------------------------------------------------------------------------------
# In memory


@dataclass
class _MemoryEntry:
    id: int
    transfer_id: UUID
    leg: int
    account: AccountRef
    counterparty: AccountRef
    amount: int
    balance_after: int
    overdraft_allowed: bool


class MemoryLedgerRepository:
    """The ledger in dictionaries. Each `post` runs without awaiting, so it is atomic on the event loop;
    it refuses overdrafts with the same rule as the database's CHECK constraint."""

    def __init__(self) -> None:
        self.balances_by_account: dict[AccountRef, int] = {}
        self.transfers: dict[UUID, Transfer] = {}
        self.by_idempotency_key: dict[str, UUID] = {}
        self.entries_by_account: dict[AccountRef, list[_MemoryEntry]] = defaultdict(list)
        self._next_entry_id = 1

    async def post(self, transfer: Transfer, allow_negative: frozenset[AccountRef]) -> Transfer:
        existing = self.by_idempotency_key.get(transfer.idempotency_key)
        if existing is not None:
            return self.transfers[existing]
        for account in transfer.accounts:  # accounts come into being on first use, as in PostgreSQL
            self.balances_by_account.setdefault(account, 0)
        current = {account: self.balances_by_account[account] for account in transfer.accounts}
        drafts = apply_legs(current, transfer.legs, allow_negative)
        for draft in drafts:  # the storage-level rule, checked again as the database does
            if overdraws(draft.account, draft.amount, draft.balance_after, draft.overdraft_allowed):
                raise InsufficientPoints(draft.account, -draft.balance_after)
        self.transfers[transfer.id] = transfer
        self.by_idempotency_key[transfer.idempotency_key] = transfer.id
        for draft in drafts:
            self.entries_by_account[draft.account].append(
                _MemoryEntry(
                    self._next_entry_id,
                    transfer.id,
                    draft.leg,
                    draft.account,
                    draft.counterparty,
                    draft.amount,
                    draft.balance_after,
                    draft.overdraft_allowed,
                )
            )
            self._next_entry_id += 1
            self.balances_by_account[draft.account] = draft.balance_after
        return transfer

    async def by_key(self, idempotency_key: str) -> Transfer | None:
        transfer_id = self.by_idempotency_key.get(idempotency_key)
        return self.transfers[transfer_id] if transfer_id else None

    async def with_metadata(self, key: str, value: str) -> list[Transfer]:
        return [t for t in self.transfers.values() if t.metadata.get(key) == value]  # in the order posted

    async def balances(self, accounts: Iterable[AccountRef]) -> dict[AccountRef, int]:
        return {
            account: sum(b for a, b in self.balances_by_account.items() if a.kind is account.kind)
            if account.is_platform_revenue_total
            else self.balances_by_account.get(account, 0)
            for account in accounts
        }

    async def entries(self, account: AccountRef, before: int | None, limit: int) -> list[Entry]:
        rows = [e for e in reversed(self.entries_by_account.get(account, [])) if before is None or e.id < before]
        return [self._entry(row) for row in rows[:limit]]

    def _entry(self, row: _MemoryEntry) -> Entry:
        transfer = self.transfers[row.transfer_id]
        return Entry(
            id=row.id,
            transfer_id=row.transfer_id,
            account=row.account,
            counterparty=row.counterparty,
            amount=row.amount,
            balance_after=row.balance_after,
            kind=transfer.kind,
            metadata=transfer.metadata,
            created_at=transfer.created_at,  # type: ignore[arg-type]
        )

    async def totals(self) -> LedgerTotals:
        return LedgerTotals(accounts=len(self.balances_by_account), transfers=len(self.transfers))

    async def violations(self) -> list[str]:
        problems: list[str] = []
        total = sum(self.balances_by_account.values())
        if total != 0:
            problems.append(f"the balances of all accounts sum to {total}, not 0")
        for account, balance in self.balances_by_account.items():
            rows = self.entries_by_account.get(account, [])
            summed = sum(e.amount for e in rows)
            if summed != balance:
                problems.append(f"account {account} has balance {balance} but its entries sum to {summed}")
            running = 0
            for row in rows:
                running += row.amount
                if row.balance_after != running:
                    problems.append(
                        f"entry {row.id} of account {account} records balance_after {row.balance_after}, "
                        f"but the running sum is {running}"
                    )
                if overdraws(account, row.amount, row.balance_after, row.overdraft_allowed):
                    problems.append(
                        f"entry {row.id} took {account} to {row.balance_after} without an allowed overdraft"
                    )
        by_transfer: dict[UUID, int] = defaultdict(int)
        for rows in self.entries_by_account.values():
            for row in rows:
                by_transfer[row.transfer_id] += row.amount
        for transfer_id in self.transfers:
            if transfer_id not in by_transfer:
                problems.append(f"transfer {transfer_id} has no entries")
            elif by_transfer[transfer_id] != 0:
                problems.append(f"the entries of transfer {transfer_id} net to {by_transfer[transfer_id]}, not 0")
        return problems


# ---------------------------------------------------------------------------------------------------
# PostgreSQL


def _legs_arguments(legs: Sequence[Leg]) -> list[Any]:
    return [
        [leg.source.kind.value for leg in legs],
        [leg.source.stored_owner for leg in legs],
        [leg.destination.kind.value for leg in legs],
        [leg.destination.stored_owner for leg in legs],
        [leg.amount for leg in legs],
    ]


# SQL: one call of the plpgsql posting function (migrations/0300_ledger.sql), one round trip.
_POST = """
    SELECT status, transfer_id, account_kind, account_owner, shortfall
    FROM ledger_post_transfer($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9, $10, $11, $12)
"""

# SQL: a transfer rebuilt from its entries with array_agg over a three-table join.
_TRANSFERS_BY_KEY = """
    SELECT t.id, t.idempotency_key, t.kind, t.metadata::text AS metadata, t.created_at,
           array_agg(a.kind ORDER BY e.leg, e.amount) AS account_kinds,
           array_agg(a.owner_id ORDER BY e.leg, e.amount) AS account_owners,
           array_agg(e.amount ORDER BY e.leg, e.amount) AS amounts
    FROM ledger_transfers t
    JOIN ledger_entries e ON e.transfer_id = t.id
    JOIN ledger_accounts a ON a.id = e.account_id
    WHERE t.idempotency_key = $1
    GROUP BY t.id
"""

# SQL: jsonb containment (@>) on the GIN index, and array_agg as above.
_TRANSFERS_WITH_METADATA = """
    SELECT t.id, t.idempotency_key, t.kind, t.metadata::text AS metadata, t.created_at,
           array_agg(a.kind ORDER BY e.leg, e.amount) AS account_kinds,
           array_agg(a.owner_id ORDER BY e.leg, e.amount) AS account_owners,
           array_agg(e.amount ORDER BY e.leg, e.amount) AS amounts
    FROM ledger_transfers t
    JOIN ledger_entries e ON e.transfer_id = t.id
    JOIN ledger_accounts a ON a.id = e.account_id
    WHERE t.metadata @> jsonb_build_object($1::text, $2::text)
    GROUP BY t.id
    ORDER BY min(e.id)
"""


def _transfer(row: Any) -> Transfer:
    """Rebuild a transfer from its entries: each leg left a debit and then a credit (ordered by amount)."""
    kinds, owners, amounts = row["account_kinds"], row["account_owners"], row["amounts"]
    legs = tuple(
        Leg(
            AccountRef.stored(kinds[i], owners[i]),
            AccountRef.stored(kinds[i + 1], owners[i + 1]),
            amounts[i + 1],
        )
        for i in range(0, len(amounts), 2)
    )
    return Transfer(
        id=row["id"],
        idempotency_key=row["idempotency_key"],
        kind=row["kind"],
        legs=legs,
        metadata=json.loads(row["metadata"]),
        created_at=row["created_at"],
    )


class PostgresLedgerRepository:
    """The ledger in PostgreSQL. Posting a transfer is one call of the `ledger_post_transfer` function
    (migrations/0300_ledger.sql): one round trip that locks, checks and writes, and returns a status
    instead of raising for expected refusals so the caller's transaction stays usable."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def post(self, transfer: Transfer, allow_negative: frozenset[AccountRef]) -> Transfer:
        allowed = sorted(allow_negative, key=lambda a: a.sort_key)
        try:
            row = await self.db.fetchrow(
                _POST,
                transfer.id,
                transfer.idempotency_key,
                transfer.kind,
                json.dumps(dict(transfer.metadata), sort_keys=True),
                transfer.created_at,
                *_legs_arguments(transfer.legs),
                [a.kind.value for a in allowed],
                [a.stored_owner for a in allowed],
            )
        except asyncpg.CheckViolationError as error:  # the database's own guard, should the function be wrong
            if error.constraint_name == "ledger_entries_no_overdraft":
                raise InsufficientPoints(transfer.legs[0].source, 0) from error
            raise
        assert row is not None
        status = row["status"]
        if status == "posted":
            return transfer
        if status == "insufficient":
            raise InsufficientPoints(AccountRef.stored(row["account_kind"], row["account_owner"]), row["shortfall"])
        existing = await self.by_key(transfer.idempotency_key)
        assert existing is not None, "ledger_post_transfer reported an existing transfer that cannot be read"
        return existing

    async def by_key(self, idempotency_key: str) -> Transfer | None:
        row = await self.db.fetchrow(
            _TRANSFERS_BY_KEY,
            idempotency_key,
        )
        return _transfer(row) if row else None

    async def with_metadata(self, key: str, value: str) -> list[Transfer]:
        rows = await self.db.fetch(
            _TRANSFERS_WITH_METADATA,
            key,
            value,
        )
        return [_transfer(row) for row in rows]

    async def balances(self, accounts: Iterable[AccountRef]) -> dict[AccountRef, int]:
        wanted = list(accounts)
        if not wanted:
            return {}
        # SQL: many (kind, owner) pairs matched in one query through unnest().
        rows = await self.db.fetch(
            """SELECT a.kind, a.owner_id, a.balance
               FROM ledger_accounts a
               JOIN unnest($1::text[], $2::uuid[]) AS w(kind, owner_id)
                 ON a.kind = w.kind AND a.owner_id = w.owner_id""",
            [a.kind.value for a in wanted],
            [a.stored_owner for a in wanted],
        )
        found = {AccountRef.stored(r["kind"], r["owner_id"]): r["balance"] for r in rows}
        if any(account.is_platform_revenue_total for account in wanted):  # the whole: every shard summed
            found[AccountRef.platform_revenue()] = await self.db.fetchval(
                "SELECT coalesce(sum(balance), 0) FROM ledger_accounts WHERE kind = 'platform_revenue'"
            )
        return {account: found.get(account, 0) for account in wanted}

    async def entries(self, account: AccountRef, before: int | None, limit: int) -> list[Entry]:
        # SQL: keyset pagination over a five-way join (each entry with its leg's counterparty).
        rows = await self.db.fetch(
            """SELECT e.id, e.transfer_id, e.amount, e.balance_after, t.kind, t.metadata::text AS metadata,
                      t.created_at, c.kind AS counter_kind, c.owner_id AS counter_owner
               FROM ledger_accounts a
               JOIN ledger_entries e ON e.account_id = a.id
               JOIN ledger_transfers t ON t.id = e.transfer_id
               JOIN ledger_entries ce ON ce.transfer_id = e.transfer_id AND ce.leg = e.leg AND ce.id <> e.id
               JOIN ledger_accounts c ON c.id = ce.account_id
               WHERE a.kind = $1 AND a.owner_id = $2 AND ($3::bigint IS NULL OR e.id < $3)
               ORDER BY e.id DESC
               LIMIT $4""",
            account.kind.value,
            account.stored_owner,
            before,
            limit,
        )
        return [
            Entry(
                id=r["id"],
                transfer_id=r["transfer_id"],
                account=account,
                counterparty=AccountRef.stored(r["counter_kind"], r["counter_owner"]),
                amount=r["amount"],
                balance_after=r["balance_after"],
                kind=r["kind"],
                metadata=json.loads(r["metadata"]),
                created_at=r["created_at"],
            )
            for r in rows
        ]

    async def totals(self) -> LedgerTotals:
        return LedgerTotals(accounts=await LedgerAccountTable.count(), transfers=await LedgerTransferTable.count())

    async def violations(self) -> list[str]:
        problems: list[str] = []
        # SQL: aggregates and a window function, all read in one repeatable-read snapshot.
        async with self.db.connection() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            # One snapshot for every check, so transfers committing meanwhile cannot look like damage.
            total = await conn.fetchval("SELECT coalesce(sum(balance), 0) FROM ledger_accounts")
            if total != 0:
                problems.append(f"the balances of all accounts sum to {total}, not 0")
            for r in await conn.fetch(
                """SELECT a.kind, a.owner_id, a.balance, coalesce(s.total, 0) AS total
                   FROM ledger_accounts a
                   LEFT JOIN (SELECT account_id, sum(amount) AS total FROM ledger_entries GROUP BY account_id) s
                     ON s.account_id = a.id
                   WHERE a.balance <> coalesce(s.total, 0)
                   ORDER BY a.id LIMIT 100"""
            ):
                account = AccountRef.stored(r["kind"], r["owner_id"])
                problems.append(f"account {account} has balance {r['balance']} but its entries sum to {r['total']}")
            for r in await conn.fetch(
                """SELECT id, kind, owner_id, balance_after, running FROM (
                       SELECT e.id, a.kind, a.owner_id, e.balance_after,
                              sum(e.amount) OVER (PARTITION BY e.account_id ORDER BY e.id) AS running
                       FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id) x
                   WHERE balance_after <> running
                   ORDER BY id LIMIT 100"""
            ):
                account = AccountRef.stored(r["kind"], r["owner_id"])
                problems.append(
                    f"entry {r['id']} of account {account} records balance_after {r['balance_after']}, "
                    f"but the running sum is {r['running']}"
                )
            for r in await conn.fetch(
                """SELECT e.id, a.kind, a.owner_id, e.balance_after
                   FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
                   WHERE e.balance_after < 0 AND e.amount < 0 AND NOT e.overdraft_allowed
                     AND a.kind IN ('wallet', 'earnings')
                   ORDER BY e.id LIMIT 100"""
            ):
                account = AccountRef.stored(r["kind"], r["owner_id"])
                problems.append(f"entry {r['id']} took {account} to {r['balance_after']} without an allowed overdraft")
            for r in await conn.fetch(
                """SELECT t.id, coalesce(sum(e.amount), 0) AS net, count(e.id) AS n
                   FROM ledger_transfers t LEFT JOIN ledger_entries e ON e.transfer_id = t.id
                   GROUP BY t.id
                   HAVING count(e.id) = 0 OR sum(e.amount) <> 0
                   ORDER BY t.id LIMIT 100"""
            ):
                if r["n"] == 0:
                    problems.append(f"transfer {r['id']} has no entries")
                else:
                    problems.append(f"the entries of transfer {r['id']} net to {r['net']}, not 0")
            unbalanced_legs = await conn.fetch(
                """SELECT transfer_id, leg FROM ledger_entries
                   GROUP BY transfer_id, leg HAVING count(*) <> 2 OR sum(amount) <> 0
                   ORDER BY transfer_id, leg LIMIT 100"""
            )
            problems.extend(
                f"leg {r['leg']} of transfer {r['transfer_id']} is not one debit and one equal credit"
                for r in unbalanced_legs
            )
        return problems
