"""Platform revenue in shards (issue 16, item 3): fee legs of different creators' sales go to different
sub-accounts, so they do not queue for one row lock, and the platform's revenue still reads as one
figure. Kept alike by the PostgreSQL and the in-memory repository."""

from __future__ import annotations

from uuid import UUID, uuid4

import asyncpg
import pytest
from injector import Injector

from core.clock import FrozenClock
from core.db import Database
from features.ledger.adapters import MemoryLedgerRepository, PostgresLedgerRepository
from features.ledger.model import PLATFORM_REVENUE_SHARDS, AccountKind, AccountRef, InvalidTransfer, Leg
from features.ledger.service import LedgerService

VENDOR = AccountRef.vendor_clearing()


@pytest.fixture(params=["memory", "postgres"])
def ledger(request: pytest.FixtureRequest, pg: Injector) -> LedgerService:
    clock = FrozenClock()
    if request.param == "memory":
        return LedgerService(MemoryLedgerRepository(), clock)
    return LedgerService(PostgresLedgerRepository(pg.get(Database)), clock)


def creator_on_shard(shard: int) -> UUID:
    while True:
        creator = uuid4()
        if AccountRef.platform_revenue_for(creator).shard == shard:
            return creator


async def sell(ledger: LedgerService, creator: UUID, price: int, fee: int) -> None:
    viewer = AccountRef.wallet(uuid4())
    await ledger.transfer(f"buy-{uuid4()}", "purchase", [Leg(VENDOR, viewer, price)])
    earnings = AccountRef.earnings(creator)
    legs = [Leg(viewer, earnings, price), Leg(earnings, AccountRef.platform_revenue_for(creator), fee)]
    await ledger.transfer(f"unlock-{uuid4()}", "unlock", legs)


async def test_fees_of_different_creators_go_to_different_shards_and_read_as_one_platform_revenue(
    ledger: LedgerService,
) -> None:
    first, second = creator_on_shard(0), creator_on_shard(5)
    await sell(ledger, first, 100, 10)
    await sell(ledger, second, 50, 5)
    await ledger.transfer("refund", "rental_refund", [Leg(AccountRef.platform_revenue(), AccountRef.wallet(first), 3)])

    assert await ledger.balance(AccountRef.platform_revenue(5)) == 5
    assert await ledger.balance(AccountRef.platform_revenue()) == 10 + 5 - 3  # every shard, summed
    assert await ledger.balances([AccountRef.earnings(first), AccountRef.earnings(second)]) == {
        AccountRef.earnings(first): 90,
        AccountRef.earnings(second): 45,
    }
    assert await ledger.verify() == []


async def test_a_creators_statement_names_the_platform_as_the_fees_counterparty(ledger: LedgerService) -> None:
    creator = creator_on_shard(7)
    await sell(ledger, creator, 100, 10)

    page = await ledger.statement(AccountRef.earnings(creator))

    assert [(e.amount, e.counterparty.label) for e in page.entries] == [(-10, "Platform revenue"), (100, "Wallet")]


def test_a_shard_is_a_platform_revenue_account_and_nothing_else_is() -> None:
    assert {AccountRef.platform_revenue_for(uuid4()).shard for _ in range(3000)} == set(range(PLATFORM_REVENUE_SHARDS))
    assert AccountRef.stored("platform_revenue", UUID(int=3)) == AccountRef.platform_revenue(3)
    with pytest.raises(InvalidTransfer):
        AccountRef.platform_revenue(PLATFORM_REVENUE_SHARDS)
    with pytest.raises(InvalidTransfer):
        AccountRef(AccountKind.PLATFORM_REVENUE, UUID(int=PLATFORM_REVENUE_SHARDS))
    with pytest.raises(InvalidTransfer):
        AccountRef(AccountKind.VENDOR_CLEARING, UUID(int=3))


async def test_the_database_refuses_a_platform_account_outside_the_shards(pg: Injector) -> None:
    db = pg.get(Database)
    for kind, owner in (("platform_revenue", UUID(int=PLATFORM_REVENUE_SHARDS)), ("vendor_clearing", UUID(int=1))):
        with pytest.raises(asyncpg.CheckViolationError):
            await db.execute("INSERT INTO ledger_accounts (kind, owner_id) VALUES ($1, $2)", kind, owner)
