"""What the ledger needs from the outside: one store of accounts, transfers and entries."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from features.ledger.model import AccountRef, Entry, LedgerTotals, Transfer


class LedgerRepository(Protocol):
    """Accounts, transfers and their entries. Accounts come into being on first use with balance 0."""

    async def post(self, transfer: Transfer, allow_negative: frozenset[AccountRef]) -> Transfer:
        """Record the transfer and apply its legs in order, all or nothing.

        Locks every account the transfer touches in `AccountRef.sort_key` order (so concurrent
        transfers never deadlock), creating missing ones. If a transfer with the same idempotency
        key exists (or commits concurrently), nothing is written and that stored transfer is
        returned instead — the caller decides whether it is the same request. Otherwise returns
        `transfer` as stored.

        Joins the caller's open transaction, if any; a refused transfer leaves that transaction
        usable. Raises InsufficientPoints (nothing written) when a leg would debit a wallet or
        earnings account below zero and that account is not in `allow_negative`.
        """
        ...

    async def by_key(self, idempotency_key: str) -> Transfer | None:
        """The transfer recorded under this key, or None."""
        ...

    async def with_metadata(self, key: str, value: str) -> list[Transfer]:
        """Every transfer whose metadata maps `key` to `value`, oldest first."""
        ...

    async def balances(self, accounts: Iterable[AccountRef]) -> dict[AccountRef, int]:
        """The current balance of each account (0 for accounts never used)."""
        ...

    async def entries(self, account: AccountRef, before: int | None, limit: int) -> list[Entry]:
        """The account's entries newest first, only those older than entry id `before` if given."""
        ...

    async def totals(self) -> LedgerTotals:
        """How many accounts and transfers exist."""
        ...

    async def violations(self) -> list[str]:
        """Every broken invariant, as a sentence an operator can act on (empty when healthy):
        balances sum to zero; each balance equals the sum of its entries; each entry's balance_after
        is the running sum; each transfer's legs net to zero; no wallet or earnings account was
        debited below zero without an allowed overdraft."""
        ...
