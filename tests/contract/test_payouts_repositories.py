"""The payouts' repositories (payouts, payees, the earnings window), each run against its in-memory
and its PostgreSQL adapter."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from injector import Injector

from core.db import Database
from core.ids import public_id, uuid7
from features.accounts.service import AccountService
from features.payouts.adapters.records import (
    MemoryEarningsWindowStore,
    MemoryPayeeRepository,
    MemoryPayoutRepository,
    PostgresEarningsWindowStore,
    PostgresPayeeRepository,
    PostgresPayoutRepository,
)
from features.payouts.model import EarningsEntry, Payee, Payout, PayoutState, Trigger
from features.payouts.ports import EarningsWindowStore, PayeeRepository, PayoutRepository

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Store:
    payouts: PayoutRepository
    payees: PayeeRepository
    new_creator: Callable[[], Awaitable[UUID]]


@pytest.fixture(params=["memory", "postgres"])
def store(request: pytest.FixtureRequest) -> Store:
    if request.param == "memory":

        async def memory_creator() -> UUID:
            return uuid7()

        return Store(MemoryPayoutRepository(), MemoryPayeeRepository(), memory_creator)
    pg: Injector = request.getfixturevalue("pg")
    db = pg.get(Database)

    async def real_creator() -> UUID:
        user = await pg.get(AccountService).sign_up(f"{public_id()}@example.com", "long enough password")
        return user.id

    return Store(PostgresPayoutRepository(db), PostgresPayeeRepository(db), real_creator)


def payout(creator: UUID, key: str = "k-1", at: datetime = T0, points: int = 2000) -> Payout:
    return Payout(
        uuid7(), creator, key, points, points, "USD", PayoutState.REQUESTED, Trigger.REQUEST, "sandbox", at, at
    )


async def test_a_payout_is_stored_once_per_creator_and_key(store: Store) -> None:
    creator, other = await store.new_creator(), await store.new_creator()
    first = await store.payouts.add(payout(creator))
    assert first.creator_id == creator
    assert await store.payouts.add(payout(creator)) == first  # the same key: the stored one
    theirs = await store.payouts.add(payout(other))  # another creator may use the same key
    assert theirs.id != first.id
    assert await store.payouts.by_key(creator, "k-1") == first
    assert await store.payouts.by_key(creator, "k-2") is None
    assert await store.payouts.get(first.id) == first
    assert await store.payouts.get(uuid7(), lock=True) is None


async def test_a_saved_payout_reads_back_with_its_state_ref_and_stamps(store: Store) -> None:
    creator = await store.new_creator()
    stored = await store.payouts.add(payout(creator))
    processing = stored.moved_to(PayoutState.PROCESSING, T0 + timedelta(seconds=1), vendor_ref="sbpo_x")
    await store.payouts.save(processing)
    assert await store.payouts.by_vendor_ref("sbpo_x") == processing
    failed = processing.moved_to(PayoutState.FAILED, T0 + timedelta(seconds=2), failure_reason="Closed.")
    await store.payouts.save(failed)
    again = await store.payouts.get(stored.id, lock=True)
    assert again == failed
    assert again is not None
    assert (again.failed_at, again.paid_at, again.failure_reason) == (T0 + timedelta(seconds=2), None, "Closed.")
    assert await store.payouts.by_vendor_ref("nope") is None


async def test_a_creators_payouts_are_listed_newest_first_and_only_theirs(store: Store) -> None:
    creator, other = await store.new_creator(), await store.new_creator()
    old = await store.payouts.add(payout(creator, "a", T0))
    new = await store.payouts.add(payout(creator, "b", T0 + timedelta(days=1)))
    await store.payouts.add(payout(other, "c", T0 + timedelta(days=2)))
    assert [p.id for p in await store.payouts.for_creator(creator)] == [new.id, old.id]
    assert [p.id for p in await store.payouts.for_creator(creator, limit=1)] == [new.id]


async def test_stale_payouts_are_those_left_in_a_state_before_a_time_oldest_first(store: Store) -> None:
    creator = await store.new_creator()
    a = await store.payouts.add(payout(creator, "a", T0))
    b = await store.payouts.add(payout(creator, "b", T0 + timedelta(minutes=5)))
    c = await store.payouts.add(payout(creator, "c", T0 + timedelta(minutes=1)))
    await store.payouts.save(c.moved_to(PayoutState.PROCESSING, T0 + timedelta(minutes=1), vendor_ref="r-c"))
    cutoff = T0 + timedelta(minutes=10)
    assert [p.id for p in await store.payouts.stale(PayoutState.REQUESTED, cutoff)] == [a.id, b.id]
    assert [p.id for p in await store.payouts.stale(PayoutState.REQUESTED, T0 + timedelta(minutes=1))] == [a.id]
    assert [p.id for p in await store.payouts.stale(PayoutState.PROCESSING, cutoff)] == [c.id]
    assert [p.id for p in await store.payouts.stale(PayoutState.REQUESTED, cutoff, limit=1)] == [a.id]


async def test_stale_paid_payouts_can_be_limited_to_those_paid_after_a_time(store: Store) -> None:
    creator = await store.new_creator()
    paid = []
    for n, day in enumerate((1, 5)):
        made = await store.payouts.add(payout(creator, f"p{n}", T0))
        at = T0 + timedelta(days=day)
        processing = made.moved_to(PayoutState.PROCESSING, at, vendor_ref=f"r-{n}")
        await store.payouts.save(processing)
        paid.append(processing.moved_to(PayoutState.PAID, at))
        await store.payouts.save(paid[-1])
    later = T0 + timedelta(days=9)
    assert [p.id for p in await store.payouts.stale(PayoutState.PAID, later)] == [paid[0].id, paid[1].id]
    recent = await store.payouts.stale(PayoutState.PAID, later, paid_after=T0 + timedelta(days=3))
    assert [(p.id, p.paid_at) for p in recent] == [(paid[1].id, T0 + timedelta(days=5))]


async def test_payees_are_saved_updated_and_paged_in_creator_order(store: Store) -> None:
    creators = sorted([await store.new_creator() for _ in range(3)])
    assert await store.payees.get(creators[0]) is None
    for creator in creators:
        await store.payees.save(Payee(creator, "", T0))
    await store.payees.save(Payee(creators[1], "acct_1A2b3C4d5E6f7G8h", T0))
    stored = await store.payees.get(creators[1])
    assert stored is not None
    assert stored.stripe_account_id == "acct_1A2b3C4d5E6f7G8h"
    first = await store.payees.page(None, 2)
    assert [p.creator_id for p in first] == creators[:2]
    assert [p.creator_id for p in await store.payees.page(first[-1].creator_id, 2)] == creators[2:]


async def test_lock_creator_runs_inside_a_transaction(store: Store) -> None:
    creator = await store.new_creator()
    if isinstance(store.payouts, PostgresPayoutRepository):
        async with store.payouts.db.atomic():
            await store.payouts.lock_creator(creator)
            await store.payouts.add(replace(payout(creator), idempotency_key="locked"))
    else:
        await store.payouts.lock_creator(creator)
        await store.payouts.add(replace(payout(creator), idempotency_key="locked"))
    assert await store.payouts.by_key(creator, "locked") is not None


@pytest.fixture(params=["memory", "postgres"])
def window(request: pytest.FixtureRequest) -> EarningsWindowStore:
    if request.param == "memory":
        return MemoryEarningsWindowStore()
    return PostgresEarningsWindowStore(request.getfixturevalue("pg").get(Database))


async def test_the_earnings_window_sums_non_payout_entries_per_day_after_a_time(window: EarningsWindowStore) -> None:
    creator, other = uuid7(), uuid7()
    assert await window.newest(creator) is None
    entries = [
        EarningsEntry(100, T0, "unlock", 1),
        EarningsEntry(-10, T0 + timedelta(minutes=1), "unlock", 2),  # the fee leg of the same sale
        EarningsEntry(50, T0 + timedelta(hours=3), "tip", 5),
        EarningsEntry(-2000, T0 + timedelta(hours=4), "payout", 6),  # a payout request: not new money
        EarningsEntry(70, T0 + timedelta(days=1, hours=2), "tip", 9),
    ]
    await window.add(creator, entries[:3])
    await window.add(creator, entries)  # known ids are skipped
    await window.add(other, [EarningsEntry(999, T0, "tip", 3)])
    assert await window.newest(creator) == 9
    held = await window.held(creator, T0 - timedelta(seconds=1))
    assert [(e.amount, e.created_at) for e in held] == [
        (140, T0 + timedelta(hours=3)),
        (70, T0 + timedelta(days=1, hours=2)),
    ]
    assert [e.amount for e in await window.held(creator, T0)] == [40, 70]  # strictly after
    assert await window.prune(T0 + timedelta(hours=3)) == 3  # both creators' older entries
    assert [e.amount for e in await window.held(creator, T0 - timedelta(days=1))] == [50, 70]
    assert await window.newest(other) is None
