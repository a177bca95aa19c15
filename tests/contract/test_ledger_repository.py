"""The ledger's promises, kept alike by the PostgreSQL and the in-memory repository."""

from __future__ import annotations

from uuid import uuid4

import pytest
from injector import Injector

from core.clock import FrozenClock
from core.db import Database
from features.ledger.adapters import MemoryLedgerRepository, PostgresLedgerRepository
from features.ledger.model import (
    AccountRef,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidTransfer,
    Leg,
)
from features.ledger.service import LedgerService

VENDOR = AccountRef.vendor_clearing()
PLATFORM = AccountRef.platform_revenue()


@pytest.fixture(params=["memory", "postgres"])
def ledger(request: pytest.FixtureRequest, pg: Injector) -> LedgerService:
    clock = FrozenClock()
    if request.param == "memory":
        return LedgerService(MemoryLedgerRepository(), clock)
    return LedgerService(PostgresLedgerRepository(pg.get(Database)), clock)


async def buy(ledger: LedgerService, wallet: AccountRef, points: int, key: str | None = None) -> None:
    await ledger.transfer(key or f"buy-{uuid4()}", "purchase", [Leg(VENDOR, wallet, points)])


async def test_a_transfer_moves_points_and_keeps_the_books_balanced(ledger: LedgerService) -> None:
    viewer, creator = AccountRef.wallet(uuid4()), AccountRef.earnings(uuid4())
    await buy(ledger, viewer, 100)
    transfer = await ledger.transfer(
        "unlock-1", "unlock", [Leg(viewer, creator, 80), Leg(creator, PLATFORM, 8)], {"video": "v1"}
    )
    assert transfer.kind == "unlock"
    assert transfer.legs == (Leg(viewer, creator, 80), Leg(creator, PLATFORM, 8))
    assert transfer.metadata == {"video": "v1"}
    assert await ledger.balances([viewer, creator, PLATFORM, VENDOR]) == {
        viewer: 20,
        creator: 72,
        PLATFORM: 8,
        VENDOR: -100,
    }
    assert await ledger.verify() == []


async def test_an_account_never_used_has_a_balance_of_zero(ledger: LedgerService) -> None:
    nobody = AccountRef.wallet(uuid4())
    assert await ledger.balance(nobody) == 0
    assert not await ledger.is_negative(nobody)
    page = await ledger.statement(nobody)
    assert (page.balance, page.entries, page.next_before) == (0, [], None)


async def test_every_entry_records_the_balance_after_it(ledger: LedgerService) -> None:
    viewer, creator = AccountRef.wallet(uuid4()), AccountRef.earnings(uuid4())
    await buy(ledger, viewer, 100)
    await ledger.transfer("tip-1", "tip", [Leg(viewer, creator, 30)], {"memo": "great video"})
    await ledger.transfer("tip-2", "tip", [Leg(viewer, creator, 25)])
    page = await ledger.statement(viewer)
    assert [(e.kind, e.amount, e.balance_after) for e in page.entries] == [
        ("tip", -25, 45),
        ("tip", -30, 70),
        ("purchase", 100, 100),
    ]
    assert page.balance == 45
    assert [e.counterparty for e in page.entries] == [creator, creator, VENDOR]
    assert page.entries[1].memo == "great video"
    assert page.entries[2].counterparty_label == "Payment vendor"
    earned = await ledger.statement(creator)
    assert [(e.amount, e.balance_after, e.counterparty) for e in earned.entries] == [(25, 55, viewer), (30, 30, viewer)]


async def test_a_statement_pages_from_newest_to_oldest(ledger: LedgerService) -> None:
    viewer = AccountRef.wallet(uuid4())
    for points in range(1, 8):
        await buy(ledger, viewer, points)
    first = await ledger.statement(viewer, limit=3)
    assert [e.amount for e in first.entries] == [7, 6, 5]
    second = await ledger.statement(viewer, before=first.next_before, limit=3)
    assert [e.amount for e in second.entries] == [4, 3, 2]
    last = await ledger.statement(viewer, before=second.next_before, limit=3)
    assert [e.amount for e in last.entries] == [1]
    assert last.next_before is None
    with pytest.raises(InvalidTransfer):
        await ledger.statement(viewer, before="not-a-cursor")


async def test_a_retry_with_the_same_key_returns_the_first_transfer_and_moves_nothing(ledger: LedgerService) -> None:
    viewer = AccountRef.wallet(uuid4())
    first = await ledger.transfer("pay-42", "purchase", [Leg(VENDOR, viewer, 550)], {"payment_ref": "pay-42"})
    again = await ledger.transfer("pay-42", "purchase", [Leg(VENDOR, viewer, 550)], {"payment_ref": "pay-42"})
    assert again == first
    assert again.created_at == first.created_at
    assert await ledger.balance(viewer) == 550
    assert await ledger.transfer_by_key("pay-42") == first
    assert await ledger.transfer_by_key("pay-43") is None


async def test_a_retry_after_the_points_were_spent_still_returns_the_first_transfer(ledger: LedgerService) -> None:
    viewer, creator = AccountRef.wallet(uuid4()), AccountRef.earnings(uuid4())
    await buy(ledger, viewer, 10)
    first = await ledger.transfer("unlock-a", "unlock", [Leg(viewer, creator, 10)])
    assert await ledger.transfer("unlock-a", "unlock", [Leg(viewer, creator, 10)]) == first
    assert await ledger.balance(viewer) == 0


async def test_the_same_key_with_other_parameters_is_a_conflict(ledger: LedgerService) -> None:
    viewer, creator = AccountRef.wallet(uuid4()), AccountRef.earnings(uuid4())
    await buy(ledger, viewer, 100, key="k-1")
    with pytest.raises(IdempotencyConflict):
        await buy(ledger, viewer, 99, key="k-1")
    with pytest.raises(IdempotencyConflict):
        await ledger.transfer("k-1", "reconcile", [Leg(VENDOR, viewer, 100)])
    with pytest.raises(IdempotencyConflict):
        await ledger.transfer("k-1", "tip", [Leg(viewer, creator, 1)])
    assert await ledger.balance(viewer) == 100
    assert (await ledger.totals()).transfers == 1


async def test_a_transfer_the_wallet_cannot_afford_changes_nothing(ledger: LedgerService) -> None:
    viewer, creator = AccountRef.wallet(uuid4()), AccountRef.earnings(uuid4())
    await buy(ledger, viewer, 30)
    with pytest.raises(InsufficientPoints) as refused:
        await ledger.transfer("unlock-1", "unlock", [Leg(viewer, creator, 50)])
    assert refused.value.account == viewer
    assert refused.value.shortfall == 20
    assert await ledger.balances([viewer, creator]) == {viewer: 30, creator: 0}
    assert await ledger.transfer_by_key("unlock-1") is None
    assert len((await ledger.statement(viewer)).entries) == 1
    # the key was not used up: once the wallet can afford it, the same request goes through
    await buy(ledger, viewer, 20)
    await ledger.transfer("unlock-1", "unlock", [Leg(viewer, creator, 50)])
    assert await ledger.balances([viewer, creator]) == {viewer: 0, creator: 50}


async def test_linked_legs_commit_together_or_not_at_all(ledger: LedgerService) -> None:
    viewer, creator = AccountRef.wallet(uuid4()), AccountRef.earnings(uuid4())
    other = AccountRef.wallet(uuid4())
    await buy(ledger, viewer, 100)
    with pytest.raises(InsufficientPoints) as refused:
        # the first leg alone would be fine; the second debits an empty wallet
        await ledger.transfer("linked", "unlock", [Leg(viewer, creator, 60), Leg(other, PLATFORM, 5)])
    assert refused.value.account == other
    assert await ledger.balances([viewer, creator, other, PLATFORM]) == {viewer: 100, creator: 0, other: 0, PLATFORM: 0}
    assert await ledger.verify() == []


async def test_legs_apply_in_order_so_a_creator_can_pay_the_fee_out_of_the_same_unlock(
    ledger: LedgerService,
) -> None:
    viewer, creator = AccountRef.wallet(uuid4()), AccountRef.earnings(uuid4())
    await buy(ledger, viewer, 100)
    with pytest.raises(InsufficientPoints):
        await ledger.transfer("fee-first", "unlock", [Leg(creator, PLATFORM, 10), Leg(viewer, creator, 100)])
    await ledger.transfer("earn-first", "unlock", [Leg(viewer, creator, 100), Leg(creator, PLATFORM, 10)])
    assert await ledger.balances([viewer, creator, PLATFORM]) == {viewer: 0, creator: 90, PLATFORM: 10}


async def test_earnings_cannot_be_paid_out_beyond_what_was_earned(ledger: LedgerService) -> None:
    creator = AccountRef.earnings(uuid4())
    with pytest.raises(InsufficientPoints):
        await ledger.transfer("payout-1", "payout", [Leg(creator, AccountRef.payouts_in_transit(), 1)])


async def test_a_chargeback_may_take_a_wallet_below_zero_when_allowed(ledger: LedgerService) -> None:
    viewer, creator = AccountRef.wallet(uuid4()), AccountRef.earnings(uuid4())
    await buy(ledger, viewer, 100)
    await ledger.transfer("unlock-1", "unlock", [Leg(viewer, creator, 90)])
    with pytest.raises(InsufficientPoints):
        await ledger.transfer("chargeback-1", "chargeback", [Leg(viewer, VENDOR, 100)])
    await ledger.transfer("chargeback-1", "chargeback", [Leg(viewer, VENDOR, 100)], allow_negative=frozenset({viewer}))
    assert await ledger.balance(viewer) == -90
    assert await ledger.is_negative(viewer)
    # a negative wallet cannot spend, but can be topped up
    with pytest.raises(InsufficientPoints) as refused:
        await ledger.transfer("unlock-2", "unlock", [Leg(viewer, creator, 10)])
    assert refused.value.shortfall == 100
    await buy(ledger, viewer, 50)
    assert await ledger.balance(viewer) == -40
    await buy(ledger, viewer, 100)
    assert not await ledger.is_negative(viewer)
    assert await ledger.verify() == []


async def test_the_platform_accounts_may_go_negative_on_their_own(ledger: LedgerService) -> None:
    viewer = AccountRef.wallet(uuid4())
    await buy(ledger, viewer, 5)
    assert await ledger.balance(VENDOR) == -5
    await ledger.transfer("promo", "reconcile", [Leg(PLATFORM, viewer, 5)])
    assert await ledger.balance(PLATFORM) == -5


async def test_transfers_can_be_found_by_metadata(ledger: LedgerService) -> None:
    viewer = AccountRef.wallet(uuid4())
    first = await ledger.transfer("p1", "purchase", [Leg(VENDOR, viewer, 100)], {"payment_ref": "ch_1"})
    await ledger.transfer("p2", "purchase", [Leg(VENDOR, viewer, 100)], {"payment_ref": "ch_2"})
    refund = await ledger.transfer("r1", "refund", [Leg(viewer, VENDOR, 100)], {"payment_ref": "ch_1"})
    assert await ledger.transfers_with_metadata("payment_ref", "ch_1") == [first, refund]
    assert await ledger.transfers_with_metadata("payment_ref", "ch_3") == []
    assert await ledger.transfers_with_metadata("other", "ch_1") == []


@pytest.mark.parametrize(
    "legs",
    [
        [],
        [Leg(VENDOR, PLATFORM, 1)] * 17,
    ],
)
async def test_malformed_transfers_are_refused(ledger: LedgerService, legs: list[Leg]) -> None:
    with pytest.raises(InvalidTransfer):
        await ledger.transfer("bad", "purchase", legs)


async def test_malformed_legs_and_keys_are_refused(ledger: LedgerService) -> None:
    viewer = AccountRef.wallet(uuid4())
    for amount in (0, -5):
        with pytest.raises(InvalidTransfer):
            Leg(VENDOR, viewer, amount)
    with pytest.raises(InvalidTransfer):
        Leg(viewer, viewer, 5)
    with pytest.raises(InvalidTransfer):
        AccountRef.wallet(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidTransfer):
        await ledger.transfer("", "purchase", [Leg(VENDOR, viewer, 1)])
    with pytest.raises(InvalidTransfer):
        await ledger.transfer("k", "no such kind!", [Leg(VENDOR, viewer, 1)])
    assert (await ledger.totals()).transfers == 0
