"""What PostgreSQL itself guarantees about the ledger: transactions, constraints, immutability, and
`hypha ledger verify` finding damage."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from uuid import uuid4

import asyncpg
import pytest
from injector import Injector

from core.db import Database
from core.settings import Settings
from features.ledger.model import AccountRef, InsufficientPoints, Leg
from features.ledger.service import LedgerService

VENDOR = AccountRef.vendor_clearing()


class Rollback(Exception):
    pass


async def test_a_transfer_joins_the_callers_transaction_and_rolls_back_with_it(pg: Injector) -> None:
    ledger, db = pg.get(LedgerService), pg.get(Database)
    viewer = AccountRef.wallet(uuid4())
    seen_inside = None

    async def buy_then_fail() -> None:
        nonlocal seen_inside
        async with db.atomic():
            await ledger.transfer("buy-1", "purchase", [Leg(VENDOR, viewer, 100)])
            seen_inside = await ledger.balance(viewer)
            raise Rollback

    with pytest.raises(Rollback):
        await buy_then_fail()
    assert seen_inside == 100
    assert await ledger.balance(viewer) == 0
    assert await ledger.transfer_by_key("buy-1") is None


async def test_a_refused_transfer_leaves_the_callers_transaction_usable(pg: Injector) -> None:
    ledger, db = pg.get(LedgerService), pg.get(Database)
    viewer, creator = AccountRef.wallet(uuid4()), AccountRef.earnings(uuid4())
    async with db.atomic():
        await ledger.transfer("buy-1", "purchase", [Leg(VENDOR, viewer, 10)])
        with pytest.raises(InsufficientPoints):
            await ledger.transfer("unlock-1", "unlock", [Leg(viewer, creator, 50)])
        await ledger.transfer("tip-1", "tip", [Leg(viewer, creator, 5)])
    assert await ledger.balances([viewer, creator]) == {viewer: 5, creator: 5}


async def test_the_database_itself_refuses_an_entry_that_overdraws_a_wallet(pg: Injector) -> None:
    ledger, db = pg.get(LedgerService), pg.get(Database)
    viewer = AccountRef.wallet(uuid4())
    transfer = await ledger.transfer("buy-1", "purchase", [Leg(VENDOR, viewer, 10)])
    account_id = await db.fetchval(
        "SELECT id FROM ledger_accounts WHERE kind = 'wallet' AND owner_id = $1", viewer.owner_id
    )
    insert = (
        "INSERT INTO ledger_entries (transfer_id, leg, account_id, account_kind, amount, balance_after,"
        " overdraft_allowed) VALUES ($1, 9, $2, $3, -20, -10, $4)"
    )
    with pytest.raises(asyncpg.CheckViolationError, match="ledger_entries_no_overdraft"):
        await db.execute(insert, transfer.id, account_id, "wallet", False)
    # nor can the check be dodged by claiming the wallet is another kind of account
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await db.execute(insert, transfer.id, account_id, "vendor_clearing", False)


async def test_transfers_and_entries_cannot_be_changed_or_deleted(pg: Injector) -> None:
    ledger, db = pg.get(LedgerService), pg.get(Database)
    viewer = AccountRef.wallet(uuid4())
    await ledger.transfer("buy-1", "purchase", [Leg(VENDOR, viewer, 10)])
    for statement in (
        "UPDATE ledger_entries SET amount = amount * 2",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_transfers SET kind = 'gift'",
        "DELETE FROM ledger_transfers",
    ):
        with pytest.raises(asyncpg.IntegrityConstraintViolationError, match="immutable"):
            await db.execute(statement)


def hypha_ledger_verify(database_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "features.bootstrap", "ledger", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.ledger_tampered
async def test_verify_finds_a_corrupted_balance_and_the_command_fails_on_it(pg: Injector, settings: Settings) -> None:
    ledger, db = pg.get(LedgerService), pg.get(Database)
    viewer, creator = AccountRef.wallet(uuid4()), AccountRef.earnings(uuid4())
    await ledger.transfer("buy-1", "purchase", [Leg(VENDOR, viewer, 100)])
    fee = Leg(creator, AccountRef.platform_revenue(), 9)
    await ledger.transfer("unlock-1", "unlock", [Leg(viewer, creator, 90), fee])
    assert await ledger.verify() == []
    healthy = await asyncio.to_thread(hypha_ledger_verify, settings.database_url)
    assert healthy.returncode == 0, healthy.stderr
    assert healthy.stdout.strip() == "ledger OK: 4 accounts, 2 transfers"

    await db.execute("UPDATE ledger_accounts SET balance = balance + 7 WHERE owner_id = $1", viewer.owner_id)
    problems = await ledger.verify()
    assert f"account {viewer} has balance 17 but its entries sum to 10" in problems
    assert "the balances of all accounts sum to 7, not 0" in problems
    broken = await asyncio.to_thread(hypha_ledger_verify, settings.database_url)
    assert broken.returncode == 1
    assert f"ledger violation: account {viewer} has balance 17" in broken.stdout
    assert "ledger BROKEN: 2 violation(s)" in broken.stdout

    await db.execute("UPDATE ledger_accounts SET balance = balance - 7 WHERE owner_id = $1", viewer.owner_id)
    assert await ledger.verify() == []


@pytest.mark.ledger_tampered
async def test_verify_finds_entries_whose_balance_after_breaks_the_running_sum(pg: Injector) -> None:
    ledger, db = pg.get(LedgerService), pg.get(Database)
    viewer = AccountRef.wallet(uuid4())
    await ledger.transfer("buy-1", "purchase", [Leg(VENDOR, viewer, 100)])

    async def set_balance_after(value: int) -> None:
        async with db.atomic():  # the immutability trigger is off only inside this transaction
            await db.execute("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_immutable")
            await db.execute("UPDATE ledger_entries SET balance_after = $1 WHERE amount = 100", value)
            await db.execute("ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_immutable")

    await set_balance_after(99)
    problems = await ledger.verify()
    assert len(problems) == 1
    assert "records balance_after 99, but the running sum is 100" in problems[0]
    await set_balance_after(100)
    assert await ledger.verify() == []
