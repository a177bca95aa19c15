"""The promises of the unlocks and playback repositories, kept alike in PostgreSQL and in memory."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from injector import Injector

from core.db import Database
from features.playback.adapters import MemoryHeartbeatRepository, PostgresHeartbeatRepository
from features.playback.model import Heartbeat
from features.playback.ports import HeartbeatRepository
from features.unlocks.adapters import (
    MemoryPricingRepository,
    MemoryTipRepository,
    MemoryUnlockRepository,
    PostgresPricingRepository,
    PostgresTipRepository,
    PostgresUnlockRepository,
)
from features.unlocks.model import Checkout, Offer, Pricing, Tip, Unlock, fresh_expiry
from features.unlocks.ports import PricingRepository, TipRepository, UnlockRepository

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _db(request: pytest.FixtureRequest) -> Database:
    # Only the PostgreSQL parameters pay for a database.
    return request.getfixturevalue("pg").get(Database)  # type: ignore[no-any-return]


@pytest.fixture(params=["memory", "postgres"])
def prices(request: pytest.FixtureRequest) -> PricingRepository:
    return MemoryPricingRepository() if request.param == "memory" else PostgresPricingRepository(_db(request))


@pytest.fixture(params=["memory", "postgres"])
def unlocks(request: pytest.FixtureRequest) -> UnlockRepository:
    return MemoryUnlockRepository() if request.param == "memory" else PostgresUnlockRepository(_db(request))


@pytest.fixture(params=["memory", "postgres"])
def tips(request: pytest.FixtureRequest) -> TipRepository:
    return MemoryTipRepository() if request.param == "memory" else PostgresTipRepository(_db(request))


@pytest.fixture(params=["memory", "postgres"])
def heartbeats(request: pytest.FixtureRequest) -> HeartbeatRepository:
    return MemoryHeartbeatRepository() if request.param == "memory" else PostgresHeartbeatRepository(_db(request))


async def test_pricing_is_stored_and_replaced(prices: PricingRepository) -> None:
    video = uuid4()
    assert await prices.get(video) is None
    first = Pricing(video, False, {Offer.RENT_DAY: 50, Offer.LIFETIME: 500}, 12, NOW)
    await prices.save(first)
    assert await prices.get(video) == first
    second = Pricing(video, True, {}, 0, NOW + timedelta(minutes=1))
    await prices.save(second)
    assert await prices.get(video) == second


@pytest.fixture(params=["memory", "postgres"])
def both(request: pytest.FixtureRequest) -> tuple[PricingRepository, UnlockRepository]:
    if request.param == "memory":
        memory = MemoryPricingRepository()
        return memory, MemoryUnlockRepository(memory)
    db = _db(request)
    return PostgresPricingRepository(db), PostgresUnlockRepository(db)


async def test_checkout_reads_the_pricing_with_the_purchase_state(
    both: tuple[PricingRepository, UnlockRepository],
) -> None:
    prices, unlocks = both
    video, viewer = uuid4(), uuid4()
    pricing = Pricing(video, False, {Offer.RENT_MONTH: 200}, 0, NOW)
    await prices.save(pricing)
    await unlocks.record(purchase(viewer, video, Offer.RENT_MONTH, "k", NOW), NOW + timedelta(days=30))
    found = await unlocks.checkout(video, viewer, "k")
    assert found.pricing == pricing
    assert found.prior is not None
    assert found.entitlement is not None
    assert (await unlocks.checkout(video, None)).pricing == pricing


def purchase(viewer: UUID, video: UUID, offer: Offer, key: str, at: datetime, creator: UUID | None = None) -> Unlock:
    return Unlock(uuid4(), key, viewer, video, creator or uuid4(), offer, 50, 5, uuid4(), at)


async def test_beginning_a_purchase_reads_what_checkout_reads(both: tuple[PricingRepository, UnlockRepository]) -> None:
    prices, unlocks = both
    video, viewer = uuid4(), uuid4()
    assert await unlocks.begin_purchase(video, viewer, "k") == Checkout(None, None, None)
    await prices.save(Pricing(video, False, {Offer.RENT_DAY: 50}, 0, NOW))
    await unlocks.record(purchase(viewer, video, Offer.RENT_DAY, "k", NOW), NOW + timedelta(days=1))
    assert await unlocks.begin_purchase(video, viewer, "k") == await unlocks.checkout(video, viewer, "k")
    assert (await unlocks.begin_purchase(video, viewer, "other")).prior is None


async def test_a_second_purchase_of_one_viewer_and_video_waits_and_sees_what_the_first_committed(
    pg: Injector,
) -> None:
    """PostgreSQL only (memory purchases never interleave): the lock of begin_purchase holds until the
    transaction ends, and the waiting read sees what the first one committed; other pairs do not wait."""
    db = pg.get(Database)
    unlocks = PostgresUnlockRepository(db)
    video, viewer = uuid4(), uuid4()
    first_read, release = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with db.atomic():
            assert (await unlocks.begin_purchase(video, viewer, "first")).entitlement is None
            await unlocks.record(purchase(viewer, video, Offer.RENT_DAY, "first", NOW), NOW + timedelta(days=1))
            first_read.set()
            await release.wait()

    async def second(for_video: UUID) -> Checkout:
        async with db.atomic():
            return await unlocks.begin_purchase(for_video, viewer, "second")

    holder = asyncio.create_task(first())
    await first_read.wait()
    waiting = asyncio.create_task(second(video))
    other_video = await asyncio.wait_for(second(uuid4()), 5)  # another pair: no wait
    assert other_video.entitlement is None
    await asyncio.sleep(0.3)
    assert not waiting.done()
    release.set()
    await holder
    seen = await asyncio.wait_for(waiting, 5)
    assert seen.entitlement is not None
    assert seen.entitlement.offer is Offer.RENT_DAY


async def test_a_purchase_grants_access_once_per_key(unlocks: UnlockRepository) -> None:
    viewer, video = uuid4(), uuid4()
    assert await unlocks.checkout(video, viewer, "key-1") == Checkout(None, None, None)
    bought = purchase(viewer, video, Offer.RENT_DAY, "key-1", NOW)
    granted = await unlocks.record(bought, fresh_expiry(Offer.RENT_DAY, NOW))
    assert granted is not None
    assert (granted.offer, granted.expires_at, granted.granted_at) == (Offer.RENT_DAY, NOW + timedelta(hours=24), NOW)
    again = purchase(viewer, video, Offer.RENT_DAY, "key-1", NOW + timedelta(minutes=1))
    assert await unlocks.record(again, fresh_expiry(Offer.RENT_DAY, NOW + timedelta(minutes=1))) is None
    found = await unlocks.checkout(video, viewer, "key-1")
    assert found.prior == bought
    assert found.entitlement == granted
    assert (await unlocks.checkout(video, viewer)).prior is None  # no key, no purchase
    assert await unlocks.checkout(video, None, "key-1") == Checkout(None, None, None)
    assert await unlocks.entitlement(viewer, video) == granted


async def test_purchases_merge_lifetime_wins_else_the_later_end(unlocks: UnlockRepository) -> None:
    viewer, video = uuid4(), uuid4()
    await unlocks.record(purchase(viewer, video, Offer.RENT_MONTH, "a", NOW), fresh_expiry(Offer.RENT_MONTH, NOW))
    later = NOW + timedelta(days=1)
    shorter = await unlocks.record(
        purchase(viewer, video, Offer.RENT_DAY, "b", later), fresh_expiry(Offer.RENT_DAY, later)
    )
    assert shorter is not None
    assert (shorter.offer, shorter.expires_at) == (Offer.RENT_MONTH, NOW + timedelta(days=30))
    life = await unlocks.record(purchase(viewer, video, Offer.LIFETIME, "c", later), None)
    assert life is not None
    assert (life.offer, life.expires_at, life.granted_at) == (Offer.LIFETIME, None, NOW)
    after = await unlocks.record(
        purchase(viewer, video, Offer.RENT_DAY, "d", later), fresh_expiry(Offer.RENT_DAY, later)
    )
    assert after is not None
    assert (after.offer, after.expires_at) == (Offer.LIFETIME, None)


async def test_an_expired_entitlement_is_replaced(unlocks: UnlockRepository) -> None:
    viewer, video = uuid4(), uuid4()
    await unlocks.record(purchase(viewer, video, Offer.RENT_MONTH, "a", NOW), fresh_expiry(Offer.RENT_MONTH, NOW))
    much_later = NOW + timedelta(days=45)
    renewed = await unlocks.record(
        purchase(viewer, video, Offer.RENT_DAY, "b", much_later), fresh_expiry(Offer.RENT_DAY, much_later)
    )
    assert renewed is not None
    assert (renewed.offer, renewed.expires_at) == (Offer.RENT_DAY, much_later + timedelta(hours=24))


async def test_keys_belong_to_one_viewer(unlocks: UnlockRepository) -> None:
    video = uuid4()
    first, second = uuid4(), uuid4()
    assert await unlocks.record(purchase(first, video, Offer.RENT_DAY, "same", NOW), NOW) is not None
    assert await unlocks.record(purchase(second, video, Offer.RENT_DAY, "same", NOW), NOW) is not None
    assert (await unlocks.checkout(video, second, "same")).prior is not None


async def test_creators_paid_are_listed_per_viewer(unlocks: UnlockRepository) -> None:
    viewer, creator_a, creator_b = uuid4(), uuid4(), uuid4()
    await unlocks.record(purchase(viewer, uuid4(), Offer.RENT_DAY, "1", NOW, creator_a), NOW)
    await unlocks.record(purchase(viewer, uuid4(), Offer.RENT_DAY, "2", NOW, creator_a), NOW)
    await unlocks.record(purchase(viewer, uuid4(), Offer.RENT_DAY, "3", NOW, creator_b), NOW)
    await unlocks.record(purchase(uuid4(), uuid4(), Offer.RENT_DAY, "4", NOW), NOW)
    assert await unlocks.creators_paid_by(viewer) == {creator_a, creator_b}
    assert await unlocks.creators_paid_by(uuid4()) == set()


async def test_a_tip_is_stored_once_per_key(tips: TipRepository) -> None:
    viewer, creator = uuid4(), uuid4()
    tip = Tip(uuid4(), "tip-key", viewer, creator, uuid4(), 50, "Thanks!", uuid4(), NOW)
    assert await tips.add(tip)
    assert not await tips.add(Tip(uuid4(), "tip-key", viewer, creator, uuid4(), 10, "", uuid4(), NOW))
    assert await tips.by_key(viewer, "tip-key") == tip
    assert await tips.by_key(uuid4(), "tip-key") is None
    assert await tips.creators_tipped_by(viewer) == {creator}


async def test_heartbeats_tell_what_a_viewer_watched(heartbeats: HeartbeatRepository) -> None:
    viewer, video_a, video_b = uuid4(), uuid4(), uuid4()
    for second in range(3):
        await heartbeats.add(
            Heartbeat(viewer, video_a, "s-0001", float(second * 10), False, NOW + timedelta(seconds=second))
        )
    await heartbeats.add(Heartbeat(viewer, video_b, "s-0002", 1.5, True, NOW))
    await heartbeats.add(Heartbeat(None, video_b, "s-0003", 2.0, True, NOW))
    assert await heartbeats.watched_video_ids(viewer) == {video_a, video_b}
    assert await heartbeats.watched_video_ids(uuid4()) == set()
    latest = await heartbeats.for_video(video_a, limit=2)
    assert [h.position for h in latest] == [20.0, 10.0]
    assert latest[0] == Heartbeat(viewer, video_a, "s-0001", 20.0, False, NOW + timedelta(seconds=2))


async def test_a_rental_waiting_for_its_first_play_starts_once(unlocks: UnlockRepository) -> None:
    viewer, video = uuid4(), uuid4()
    deadline = NOW + timedelta(days=30)
    granted = await unlocks.record(purchase(viewer, video, Offer.RENT_DAY, "a", NOW), deadline, timedelta(hours=24))
    assert granted is not None
    assert (granted.expires_at, granted.waiting, granted.started_at) == (deadline, timedelta(hours=24), None)
    found = await unlocks.checkout(video, viewer)
    assert found.entitlement == granted
    assert (await unlocks.begin_purchase(video, viewer, "zz")).entitlement == granted
    # A longer rental bought while it waits: still waiting, with the merged terms the caller computed.
    later = NOW + timedelta(days=2)
    longer = await unlocks.record(
        purchase(viewer, video, Offer.RENT_MONTH, "b", later), later + timedelta(days=30), timedelta(days=30)
    )
    assert longer is not None
    assert (longer.offer, longer.waiting) == (Offer.RENT_MONTH, timedelta(days=30))
    play = NOW + timedelta(days=5)
    started = await unlocks.start(viewer, video, play)
    assert started is not None
    assert (started.expires_at, started.waiting, started.started_at) == (play + timedelta(days=30), None, play)
    assert await unlocks.start(viewer, video, play + timedelta(minutes=1)) is None
    assert await unlocks.entitlement(viewer, video) == started
    # Lifetime replaces it; an expired waiting rental cannot be started.
    life = await unlocks.record(purchase(viewer, video, Offer.LIFETIME, "c", play), None)
    assert life is not None
    assert (life.expires_at, life.waiting, life.started_at) == (None, None, None)
    other = uuid4()
    await unlocks.record(
        purchase(viewer, other, Offer.RENT_DAY, "d", NOW), NOW + timedelta(days=1), timedelta(hours=24)
    )
    assert await unlocks.start(viewer, other, NOW + timedelta(days=2)) is None


async def test_a_lifetime_grant_ends_a_rental_waiting_for_its_first_play(unlocks: UnlockRepository) -> None:
    """A bundle bought while a first-play rental of one of its videos waits: the video is the viewer's for
    life, with nothing left of the rental's waiting terms (it would otherwise look like a rental to start)."""
    viewer, waiting_video, fresh_video = uuid4(), uuid4(), uuid4()
    deadline = NOW + timedelta(days=30)
    await unlocks.record(purchase(viewer, waiting_video, Offer.RENT_DAY, "w", NOW), deadline, timedelta(hours=24))
    later = NOW + timedelta(hours=1)
    assert await unlocks.grant_lifetime([(viewer, waiting_video), (viewer, fresh_video)], later) == 2
    for video in (waiting_video, fresh_video):
        found = await unlocks.entitlement(viewer, video)
        assert found is not None
        assert (found.offer, found.expires_at, found.waiting, found.started_at) == (Offer.LIFETIME, None, None, None)
    assert await unlocks.start(viewer, waiting_video, later) is None
    assert await unlocks.grant_lifetime([(viewer, waiting_video)], later) == 0
