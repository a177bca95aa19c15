"""Random sequences of transfers — purchases, unlocks, tips, chargebacks, retries, conflicting keys and
refusals — never break the ledger's invariants: the balances sum to zero, each balance is the sum of
its entries, wallets and earnings stay at or above zero unless a chargeback took them below, and a
retry never moves points twice.

The same state machine runs on the in-memory repository (many examples) and on PostgreSQL (a few)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar
from uuid import UUID

from hypothesis import HealthCheck, event
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from core.clock import FrozenClock
from core.db import Database
from core.settings import Settings
from features.ledger.adapters import MemoryLedgerRepository, PostgresLedgerRepository
from features.ledger.model import (
    AccountKind,
    AccountRef,
    IdempotencyConflict,
    InsufficientPoints,
    Leg,
)
from features.ledger.ports import LedgerRepository
from features.ledger.service import LedgerService

T = TypeVar("T")

USERS = [UUID(int=n) for n in range(1, 4)]
WALLETS = [AccountRef.wallet(u) for u in USERS]
EARNINGS = [AccountRef.earnings(u) for u in USERS]
PLATFORM = [AccountRef.platform_revenue(), AccountRef.vendor_clearing(), AccountRef.payouts_in_transit()]
ACCOUNTS = WALLETS + EARNINGS + PLATFORM
RESTRICTED = {AccountKind.WALLET, AccountKind.EARNINGS}

# A few shared keys make retries and conflicts common; fresh keys make new transfers.
key_strategy = st.one_of(st.sampled_from([f"key-{n}" for n in range(6)]), st.uuids().map(str))


def leg_strategy() -> st.SearchStrategy[Leg]:
    pairs = st.tuples(st.sampled_from(ACCOUNTS), st.sampled_from(ACCOUNTS)).filter(lambda p: p[0] != p[1])
    return st.builds(lambda p, amount: Leg(p[0], p[1], amount), pairs, st.integers(1, 120))


class LedgerMachine(RuleBasedStateMachine):
    """Drives a LedgerService and keeps its own simple model of what the balances must be."""

    # set by each test before running: how to get a fresh repository, and how to run a coroutine
    make_repository: Callable[[], LedgerRepository]
    run_async: Callable[[Coroutine[Any, Any, Any]], Any]

    def __init__(self) -> None:
        super().__init__()
        self.ledger = LedgerService(type(self).make_repository(), FrozenClock())
        self.expected = dict.fromkeys(ACCOUNTS, 0)
        self.posted: dict[str, tuple[UUID, str, tuple[Leg, ...]]] = {}
        self.overdrawn_allowed: set[AccountRef] = set()

    def run(self, awaitable: Awaitable[T]) -> T:
        async def wrap() -> T:
            return await awaitable

        result: T = type(self).run_async(wrap())
        return result

    def model_apply(self, legs: tuple[Leg, ...], allow: frozenset[AccountRef]) -> dict[AccountRef, int] | None:
        """The balances after the legs, or None if one would overdraw a wallet or earnings account."""
        balances = dict(self.expected)
        for leg in legs:
            balances[leg.source] -= leg.amount
            if leg.source.kind in RESTRICTED and leg.source not in allow and balances[leg.source] < 0:
                return None
            balances[leg.destination] += leg.amount
        return balances

    def post(self, key: str, kind: str, legs: tuple[Leg, ...], allow: frozenset[AccountRef] = frozenset()) -> None:
        previous = self.posted.get(key)
        if previous is not None:
            first_id, first_kind, first_legs = previous
            if (first_kind, first_legs) == (kind, legs):
                transfer = self.run(self.ledger.transfer(key, kind, legs, allow_negative=allow))
                assert transfer.id == first_id, "a retry must return the first transfer"
                event("retried")
            else:
                try:
                    self.run(self.ledger.transfer(key, kind, legs, allow_negative=allow))
                except IdempotencyConflict:
                    event("conflict")
                else:
                    raise AssertionError("the same key with other parameters must be a conflict")
            return
        after = self.model_apply(legs, allow)
        if after is None:
            try:
                self.run(self.ledger.transfer(key, kind, legs, allow_negative=allow))
            except InsufficientPoints:
                event("refused")
                return
            raise AssertionError(f"an overdraft went through: {legs}")
        transfer = self.run(self.ledger.transfer(key, kind, legs, allow_negative=allow))
        self.posted[key] = (transfer.id, kind, legs)
        event(f"posted {kind}")
        self.overdrawn_allowed |= {a for a in allow if after[a] < 0}
        self.expected = after

    @rule(key=key_strategy, points=st.integers(1, 300), wallet=st.sampled_from(WALLETS))
    def buy_points(self, key: str, points: int, wallet: AccountRef) -> None:
        self.post(key, "purchase", (Leg(AccountRef.vendor_clearing(), wallet, points),))

    @rule(
        key=key_strategy,
        viewer=st.sampled_from(WALLETS),
        creator=st.sampled_from(EARNINGS),
        price=st.integers(1, 100),
        fee_percent=st.integers(0, 50),
    )
    def unlock(self, key: str, viewer: AccountRef, creator: AccountRef, price: int, fee_percent: int) -> None:
        legs = [Leg(viewer, creator, price)]
        if price * fee_percent // 100:
            legs.append(Leg(creator, AccountRef.platform_revenue(), price * fee_percent // 100))
        self.post(key, "unlock", tuple(legs))

    @rule(
        key=key_strategy,
        kind=st.sampled_from(["tip", "payout", "reconcile"]),
        legs=st.lists(leg_strategy(), min_size=1, max_size=3),
    )
    def move_points(self, key: str, kind: str, legs: list[Leg]) -> None:
        self.post(key, kind, tuple(legs))

    @rule(key=key_strategy, wallet=st.sampled_from(WALLETS), points=st.integers(1, 300))
    def chargeback(self, key: str, wallet: AccountRef, points: int) -> None:
        self.post(key, "chargeback", (Leg(wallet, AccountRef.vendor_clearing(), points),), frozenset({wallet}))

    @precondition(lambda self: bool(self.posted))
    @rule(data=st.data())
    def retry(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.posted)))
        _, kind, legs = self.posted[key]
        before = dict(self.expected)
        self.post(key, kind, legs)
        assert self.expected == before

    @invariant()
    def balances_match_the_model(self) -> None:
        assert self.run(self.ledger.balances(ACCOUNTS)) == self.expected

    @invariant()
    def the_books_balance(self) -> None:
        assert sum(self.expected.values()) == 0
        assert self.run(self.ledger.verify()) == []

    @invariant()
    def wallets_and_earnings_are_negative_only_after_an_allowed_chargeback(self) -> None:
        for account, balance in self.expected.items():
            if account.kind in RESTRICTED and balance < 0:
                assert account in self.overdrawn_allowed


def run_machine(
    make_repository: Callable[[], LedgerRepository],
    run_async: Callable[[Coroutine[Any, Any, Any]], Any],
    **options: Any,
) -> None:
    machine = type("Machine", (LedgerMachine,), {})
    machine.make_repository = staticmethod(make_repository)  # type: ignore[assignment]
    machine.run_async = staticmethod(run_async)  # type: ignore[assignment]
    run_state_machine_as_test(
        machine,
        settings=hypothesis_settings(database=None, deadline=None, suppress_health_check=list(HealthCheck), **options),
    )


def test_random_transfer_sequences_keep_the_invariants_in_memory() -> None:
    loop = asyncio.new_event_loop()
    try:
        run_machine(MemoryLedgerRepository, loop.run_until_complete, max_examples=100, stateful_step_count=30)
    finally:
        loop.close()


def test_random_transfer_sequences_keep_the_invariants_on_postgresql(settings: Settings) -> None:
    loop = asyncio.new_event_loop()
    db = Database(settings.database_url, min_size=1, max_size=2)
    try:
        loop.run_until_complete(db.start())

        def fresh() -> LedgerRepository:
            loop.run_until_complete(db.execute("TRUNCATE ledger_entries, ledger_transfers, ledger_accounts"))
            return PostgresLedgerRepository(db)

        run_machine(fresh, loop.run_until_complete, max_examples=12, stateful_step_count=15)
    finally:
        loop.run_until_complete(db.stop())
        loop.close()
