"""The promises of the gift repository, kept alike in PostgreSQL and in memory."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from core.db import Database
from core.ids import uuid7
from features.gifts.adapters import MemoryGiftRepository, PostgresGiftRepository
from features.gifts.model import Gift, GiftState
from features.gifts.ports import GiftRepository

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "postgres"])
def gifts(request: pytest.FixtureRequest) -> GiftRepository:
    if request.param == "memory":
        return MemoryGiftRepository()
    return PostgresGiftRepository(request.getfixturevalue("pg").get(Database))


def gift(sender: object, email: str, key: str, *, at: datetime = NOW, days: int = 30, amount: int = 10) -> Gift:
    return Gift(uuid7(), sender, key, email, amount, "", GiftState.PENDING, at, at + timedelta(days=days), uuid4())


async def test_one_gift_per_sender_and_key(gifts: GiftRepository) -> None:
    sender = uuid4()
    first = gift(sender, "a@example.com", "k" * 20)
    assert await gifts.add(first)
    assert not await gifts.add(gift(sender, "b@example.com", "k" * 20))
    assert await gifts.by_key(sender, "k" * 20) == first
    assert await gifts.add(gift(uuid4(), "b@example.com", "k" * 20))  # another sender's key
    later = gift(sender, "c@example.com", "j" * 20, at=NOW + timedelta(minutes=1))
    assert await gifts.add(later)
    assert [g.id for g in await gifts.sent_by(sender)] == [later.id, first.id]


async def test_claimable_expired_and_settled(gifts: GiftRepository) -> None:
    sender = uuid4()
    old = gift(sender, "a@example.com", "a" * 20, days=1)
    fresh = gift(sender, "a@example.com", "b" * 20, at=NOW + timedelta(hours=1))
    other = gift(sender, "z@example.com", "c" * 20)
    for g in (old, fresh, other):
        assert await gifts.add(g)
    later = NOW + timedelta(days=2)
    assert [g.id for g in await gifts.lock_claimable("a@example.com", later)] == [fresh.id]
    assert [g.id for g in await gifts.lock_expired(later, 10)] == [old.id]
    claimed = replace(fresh, state=GiftState.CLAIMED, settled_at=later, settle_transfer_id=uuid4(), claimed_by=uuid4())
    await gifts.settle(claimed)
    assert await gifts.lock_claimable("a@example.com", later) == []
    assert await gifts.by_key(sender, "b" * 20) == claimed
    assert {g.id for g in await gifts.unmailed(later, 10)} == {old.id, other.id}
    await gifts.mark_mailed(other.id, later)
    assert [g.id for g in await gifts.unmailed(later, 10)] == [old.id]
    found = await gifts.by_key(sender, "c" * 20)
    assert found is not None
    assert found.mailed_at == later
