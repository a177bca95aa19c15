"""The ledger under concurrent load on real PostgreSQL: no overspending, no double posting, no deadlocks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest
from injector import Injector

from core.clock import SystemClock
from core.db import Database
from core.settings import Settings
from features.ledger.adapters import PostgresLedgerRepository
from features.ledger.model import AccountRef, InsufficientPoints, Leg, Transfer
from features.ledger.service import LedgerService

VENDOR = AccountRef.vendor_clearing()


@pytest.fixture(scope="module")
async def big_pool(settings: Settings) -> AsyncIterator[Database]:
    """A pool bigger than the shared one (10), so many transfers really run at once."""
    db = Database(settings.database_url, min_size=20, max_size=20)
    await db.start()
    try:
        yield db
    finally:
        await db.stop()


@pytest.fixture
def ledger(pg: Injector, big_pool: Database) -> LedgerService:
    return LedgerService(PostgresLedgerRepository(big_pool), SystemClock())


async def test_a_hundred_parallel_spends_from_a_wallet_that_affords_ten_let_exactly_ten_through(
    ledger: LedgerService,
) -> None:
    viewer, creator = AccountRef.wallet(uuid4()), AccountRef.earnings(uuid4())
    await ledger.transfer("top-up", "purchase", [Leg(VENDOR, viewer, 100)])

    async def spend(n: int) -> Transfer:
        return await ledger.transfer(f"unlock-{n}", "unlock", [Leg(viewer, creator, 10)])

    results = await asyncio.gather(*(spend(n) for n in range(100)), return_exceptions=True)
    succeeded = [r for r in results if isinstance(r, Transfer)]
    refused = [r for r in results if isinstance(r, InsufficientPoints)]
    assert len(succeeded) == 10
    assert len(refused) == 90, [r for r in results if not isinstance(r, Transfer | InsufficientPoints)]
    assert await ledger.balances([viewer, creator]) == {viewer: 0, creator: 100}
    assert await ledger.verify() == []


async def test_fifty_concurrent_calls_with_one_key_make_one_transfer(ledger: LedgerService) -> None:
    viewer = AccountRef.wallet(uuid4())
    legs = [Leg(VENDOR, viewer, 550)]
    results = await asyncio.gather(*(ledger.transfer("payment-1", "purchase", legs) for _ in range(50)))
    assert len({t.id for t in results}) == 1
    assert await ledger.balance(viewer) == 550
    assert (await ledger.totals()).transfers == 1
    assert await ledger.verify() == []


async def test_concurrent_first_use_of_the_same_new_accounts_creates_each_once(ledger: LedgerService) -> None:
    viewers = [AccountRef.wallet(uuid4()) for _ in range(5)]
    await asyncio.gather(
        *(ledger.transfer(f"gift-{n}", "reconcile", [Leg(VENDOR, viewers[n % 5], 1)]) for n in range(40))
    )
    assert await ledger.balances(viewers) == dict.fromkeys(viewers, 8)
    assert (await ledger.totals()).accounts == 6
    assert await ledger.verify() == []


async def test_transfers_in_opposite_directions_never_deadlock(ledger: LedgerService) -> None:
    alice, bob = AccountRef.wallet(uuid4()), AccountRef.wallet(uuid4())
    await ledger.transfer("fund-a", "purchase", [Leg(VENDOR, alice, 1000)])
    await ledger.transfer("fund-b", "purchase", [Leg(VENDOR, bob, 1000)])

    async def ping_pong(n: int) -> None:
        # crossing legs inside one transfer, too: both orders of the same two accounts
        legs = [Leg(alice, bob, 3), Leg(bob, alice, 1)] if n % 2 else [Leg(bob, alice, 3), Leg(alice, bob, 1)]
        await ledger.transfer(f"swap-{n}", "tip", legs)

    await asyncio.wait_for(asyncio.gather(*(ping_pong(n) for n in range(200))), timeout=60)
    assert await ledger.balances([alice, bob]) == {alice: 1000, bob: 1000}
    assert (await ledger.totals()).transfers == 202
    assert await ledger.verify() == []
