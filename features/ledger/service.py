"""Ledger use cases: move points between accounts exactly once, and read balances and statements.

Other features (wallet purchases and refunds, unlocks, tips, payouts, reconciliation) call
`LedgerService.transfer`; they never touch the ledger's tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from core.clock import Clock
from core.ids import uuid7
from core.numbers import whole_or_none
from features.ledger.model import (
    AccountRef,
    IdempotencyConflict,
    InvalidTransfer,
    LedgerTotals,
    Leg,
    StatementPage,
    Transfer,
    check_transfer,
)
from features.ledger.ports import LedgerRepository

MAX_PAGE = 200


class LedgerService:
    def __init__(self, repository: LedgerRepository, clock: Clock) -> None:
        self.repository = repository
        self.clock = clock

    async def transfer(
        self,
        idempotency_key: str,
        kind: str,
        legs: Sequence[Leg],
        metadata: Mapping[str, str] | None = None,
        *,
        allow_negative: frozenset[AccountRef] = frozenset(),
    ) -> Transfer:
        """Move points along `legs`, in order, all together or not at all.

        Exactly once per idempotency key: a retry (even a concurrent one) with the same kind and legs
        returns the first Transfer unchanged and moves nothing. Runs inside the caller's
        `uow.atomic()` if one is open, so e.g. an unlock can grant access in the same transaction.

        Raises InvalidTransfer for a malformed request, IdempotencyConflict when the key was used for
        another kind or other legs, and InsufficientPoints when a wallet or earnings account would be
        debited below zero — unless it is listed in `allow_negative` (refunds and chargebacks of points
        already spent). Nothing is written when it raises.
        """
        metadata = dict(metadata or {})
        legs = tuple(legs)
        check_transfer(idempotency_key, kind, legs, metadata)
        requested = Transfer(uuid7(), idempotency_key, kind, legs, metadata, self.clock.now())
        stored = await self.repository.post(requested, frozenset(allow_negative))
        if stored.id != requested.id and not stored.same_request_as(requested):
            raise IdempotencyConflict(idempotency_key)
        return stored

    def prepare(
        self, idempotency_key: str, kind: str, legs: Sequence[Leg], metadata: Mapping[str, str] | None = None
    ) -> Transfer:
        """The Transfer that `transfer` would post, checked as it checks it (InvalidTransfer), for a
        caller that posts it in one step with its own writes (an unlock's `record_sale`). No overdraft
        is allowed to such a transfer; an existing key is the caller's to hand back to `transfer`."""
        metadata = dict(metadata or {})
        legs = tuple(legs)
        check_transfer(idempotency_key, kind, legs, metadata)
        return Transfer(uuid7(), idempotency_key, kind, legs, metadata, self.clock.now())

    async def balance(self, account: AccountRef) -> int:
        """The account's balance in points (0 if it was never used)."""
        return (await self.repository.balances([account]))[account]

    async def balances(self, accounts: Iterable[AccountRef]) -> dict[AccountRef, int]:
        """Several balances in one read."""
        return await self.repository.balances(list(accounts))

    async def is_negative(self, account: AccountRef) -> bool:
        """True when a refund or chargeback left the account below zero (a wallet in that state must be
        topped up before it can spend again)."""
        return await self.balance(account) < 0

    async def statement(self, account: AccountRef, *, before: str | None = None, limit: int = 50) -> StatementPage:
        """A page of the account's entries, newest first, each with its balance_after, the transfer's kind
        and metadata and the counterparty. `before` is the `next_before` of the previous page.

        Raises InvalidTransfer for a cursor that was not produced by this method.
        """
        limit = max(1, min(limit, MAX_PAGE))
        cursor: int | None = None
        if before:
            cursor = whole_or_none(before)
            if cursor is None:
                raise InvalidTransfer("That statement page does not exist.")
        entries = await self.repository.entries(account, cursor, limit + 1)
        more = len(entries) > limit
        entries = entries[:limit]
        balance = await self.balance(account)
        return StatementPage(account, balance, entries, str(entries[-1].id) if more else None)

    async def transfer_by_key(self, idempotency_key: str) -> Transfer | None:
        """The transfer recorded under this idempotency key, or None."""
        return await self.repository.by_key(idempotency_key)

    async def transfers_with_metadata(self, key: str, value: str) -> list[Transfer]:
        """Every transfer whose metadata has `key` = `value`, oldest first — e.g. which purchase
        transfers exist for one payment reference."""
        return await self.repository.with_metadata(key, value)

    async def totals(self) -> LedgerTotals:
        return await self.repository.totals()

    async def verify(self) -> list[str]:
        """Every broken ledger invariant as a readable sentence; an empty list means healthy."""
        return await self.repository.violations()
