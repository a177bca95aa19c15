"""The promises of the offers repository (and the unlocks repository's lifetime grants), kept alike in
PostgreSQL and in memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from core.db import Database
from features.offers.adapters import MemoryOffersRepository, PostgresOffersRepository
from features.offers.model import (
    Bundle,
    BundlePurchase,
    DiscountKind,
    PromoCode,
    Redemption,
    TargetKind,
)
from features.offers.ports import OffersRepository
from features.unlocks.adapters import MemoryUnlockRepository, PostgresUnlockRepository
from features.unlocks.model import Offer, Unlock
from features.unlocks.ports import UnlockRepository

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "postgres"])
def repository(request: pytest.FixtureRequest) -> OffersRepository:
    if request.param == "memory":
        return MemoryOffersRepository()
    return PostgresOffersRepository(request.getfixturevalue("pg").get(Database))


@pytest.fixture(params=["memory", "postgres"])
def unlocks(request: pytest.FixtureRequest) -> UnlockRepository:
    if request.param == "memory":
        return MemoryUnlockRepository()
    return PostgresUnlockRepository(request.getfixturevalue("pg").get(Database))


def bundle(creator_id: object = None, public_id: str = "bundle000001") -> Bundle:
    return Bundle(uuid4(), public_id, creator_id or uuid4(), "Course", "", 500, NOW, NOW)  # type: ignore[arg-type]


async def test_bundles_keep_their_videos_in_order_and_once(repository: OffersRepository) -> None:
    made = bundle()
    await repository.add_bundle(made)
    first, second = uuid4(), uuid4()
    assert await repository.add_video(made.id, first, NOW)
    assert await repository.add_video(made.id, second, NOW + timedelta(seconds=1))
    assert not await repository.add_video(made.id, first, NOW + timedelta(seconds=2))
    assert await repository.added_at(made.id, second) == NOW + timedelta(seconds=1)
    assert await repository.added_at(made.id, first) == NOW  # the first time it was put in
    assert await repository.added_at(made.id, uuid4()) is None
    found = await repository.bundle(made.public_id)
    assert found is not None
    assert found.video_ids == (first, second)
    assert [b.id for b in await repository.bundles_with(second)] == [made.id]
    locked = await repository.lock_bundle(made.id, exclusive=True)
    assert locked is not None
    assert locked.video_ids == (first, second)
    assert await repository.remove_video(made.id, first)
    assert not await repository.remove_video(made.id, first)
    assert await repository.bundles_with(first) == []
    assert await repository.added_at(made.id, first) is None
    assert [b.id for b in await repository.bundles_of(made.creator_id)] == [made.id]


async def test_a_purchase_is_recorded_once_per_viewer_key(repository: OffersRepository) -> None:
    made = bundle()
    await repository.add_bundle(made)
    viewer = uuid4()
    purchase = BundlePurchase(uuid4(), "key-1", made.id, viewer, made.creator_id, 500, 0, 500, 50, None, uuid4(), NOW)
    await repository.lock_purchases(made.id, viewer)
    assert await repository.record_purchase(purchase)
    again = BundlePurchase(uuid4(), "key-1", made.id, viewer, made.creator_id, 500, 0, 500, 50, None, uuid4(), NOW)
    assert not await repository.record_purchase(again)
    assert await repository.purchase_by_key(viewer, "key-1") == purchase
    assert await repository.has_bought(made.id, viewer)
    assert await repository.buyers(made.id) == [viewer]
    sales = await repository.sales(made.creator_id, NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert (sales.bundles_sold, sales.bundle_points, sales.redemptions) == (1, 500, 0)


async def test_codes_are_unique_per_creator_and_count_their_uses(repository: OffersRepository) -> None:
    creator = uuid4()
    code = PromoCode(uuid4(), creator, "SAVE", DiscountKind.POINTS, 10, TargetKind.VIDEO, uuid4(), 2, 0, None, NOW)
    assert await repository.add_code(code)
    same_name = PromoCode(uuid4(), creator, "SAVE", DiscountKind.PERCENT, 5, TargetKind.VIDEO, uuid4(), 1, 0, None, NOW)
    assert not await repository.add_code(same_name)
    theirs = PromoCode(uuid4(), uuid4(), "SAVE", DiscountKind.PERCENT, 5, TargetKind.VIDEO, uuid4(), 1, 0, None, NOW)
    assert await repository.add_code(theirs)
    assert {c.id for c in await repository.codes_named("SAVE")} == {code.id, theirs.id}
    locked = await repository.lock_code(code.id)
    assert locked == code
    viewer = uuid4()
    await repository.redeem(
        Redemption(uuid4(), code.id, viewer, creator, TargetKind.VIDEO, code.target_id, 100, 10, 90, 9, uuid4(), NOW)
    )
    after = await repository.lock_code(code.id)
    assert after is not None
    assert after.uses == 1
    assert not await repository.delete_code(creator, code.id)  # used: it stays
    assert await repository.delete_code(theirs.creator_id, theirs.id)
    sales = await repository.sales(creator, NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert (sales.redemptions, sales.discount_points, sales.code_revenue) == (1, 10, 90)
    assert [r.points for r in await repository.redemptions_of_creator(creator, NOW, NOW + timedelta(1))] == [90]
    assert (await repository.codes_by_id([code.id]))[code.id].uses == 1


async def test_lifetime_grants_create_or_upgrade_and_leave_lifetime_alone(unlocks: UnlockRepository) -> None:
    viewer, rented, owned, fresh = uuid4(), uuid4(), uuid4(), uuid4()
    creator = uuid4()
    for video, offer, key in ((rented, Offer.RENT_DAY, "r" * 20), (owned, Offer.LIFETIME, "l" * 20)):
        unlock = Unlock(uuid4(), key, viewer, video, creator, offer, 50, 5, uuid4(), NOW)
        await unlocks.record(unlock, NOW + timedelta(days=1) if offer is Offer.RENT_DAY else None)
    later = NOW + timedelta(hours=1)
    assert (
        await unlocks.grant_lifetime([(viewer, rented), (viewer, owned), (viewer, fresh), (viewer, fresh)], later) == 2
    )
    for video in (rented, owned, fresh):
        entitlement = await unlocks.entitlement(viewer, video)
        assert entitlement is not None
        assert entitlement.lifetime
        assert entitlement.offer is Offer.LIFETIME
    kept = await unlocks.entitlement(viewer, owned)
    assert kept is not None
    assert kept.updated_at == NOW  # a lifetime entitlement is left as it was
