"""Memberships on real PostgreSQL: renewals with a moved clock charge once per period, two renewal runs
at once charge once, and random concurrent joins, cancels, tier changes and renewals never charge
twice and leave the ledger verified (the `pg` fixture runs `ledger verify` after each test)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from injector import Injector

from core.clock import FrozenClock
from core.db import Database
from core.di import get_port
from core.errors import DomainError
from features.ledger.model import AccountRef
from features.ledger.service import LedgerService
from features.memberships.model import MembershipState, Tier, add_month
from features.memberships.ports import MembershipRepository, TierRepository
from features.memberships.service import MembershipService
from features.unlocks.model import AccessLevel
from features.unlocks.service import UnlockService
from tests.support.memberships import service_at
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish

KEYS = iter(f"pgkey-{n:020d}" for n in range(100_000))


def key() -> str:
    return next(KEYS)


async def charges(pg: Injector) -> list[dict[str, object]]:
    rows = await pg.get(Database).fetch("SELECT * FROM membership_charges ORDER BY created_at")
    return [dict(r) for r in rows]


async def test_a_renewal_with_a_moved_clock_charges_once_and_shows_in_the_statement(pg: Injector) -> None:
    creator = await person(pg, "Creator", creator=True)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 500)
    clock = FrozenClock(datetime.now(UTC))
    service = service_at(pg, clock)
    tier = await service.create_tier(creator.id, name="Fans", price="120", all_videos=True, video_ids=[])
    m = (await service.join(viewer.id, tier.id, key(), "120")).membership
    assert m.period_end == add_month(m.period_start, m.anchor_day)
    clock.advance(m.period_end - clock.now() + timedelta(minutes=5))
    first = await service.run_renewals()
    second = await service.run_renewals()
    assert first["renew"] == 1
    assert second["renew"] == 0
    ledger = pg.get(LedgerService)
    assert await ledger.balance(AccountRef.wallet(viewer.id)) == 500 - 240
    assert await ledger.balance(AccountRef.earnings(creator.id)) == 2 * (120 - 12)
    statement = await ledger.statement(AccountRef.wallet(viewer.id))
    kinds = [entry.kind for entry in statement.entries]
    assert kinds.count("membership_renewal") == 1
    assert kinds.count("membership_join") == 1
    renewed = await get_port(pg, MembershipRepository).live(viewer.id, creator.id)
    assert renewed is not None
    assert renewed.period_start == m.period_end


async def test_two_renewal_runs_at_once_charge_once(pg: Injector) -> None:
    creator = await person(pg, "Creator", creator=True)
    clock = FrozenClock(datetime.now(UTC))
    service = service_at(pg, clock)
    tier = await service.create_tier(creator.id, name="Fans", price="50", all_videos=True, video_ids=[])
    viewers = []
    for n in range(4):
        viewer = await person(pg, f"Viewer {n}")
        await fund(pg, viewer.id, 1000)
        await service.join(viewer.id, tier.id, key(), "50")
        viewers.append(viewer)
    clock.advance(timedelta(days=32))
    workers = [service_at(pg, clock) for _ in range(3)]
    results = await asyncio.gather(*(w.run_renewals() for w in workers), *(w.run_renewals() for w in workers))
    assert sum(r["renew"] for r in results) == 4
    found = await charges(pg)
    assert Counter(c["kind"] for c in found) == {"join": 4, "renewal": 4}
    for viewer in viewers:
        assert await pg.get(LedgerService).balance(AccountRef.wallet(viewer.id)) == 900


async def test_a_lapse_keeps_access_through_grace_and_ends_after(pg: Injector) -> None:
    creator = await person(pg, "Creator", creator=True)
    video = (await add_synthetic_video(pg, creator.id)).video
    video = await price_and_publish(pg, creator.id, video, rent_day=30)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 150)
    clock = FrozenClock(datetime.now(UTC))
    service = service_at(pg, clock)
    tier = await service.create_tier(creator.id, name="Fans", price="100", all_videos=True, video_ids=[])
    m = (await service.join(viewer.id, tier.id, key(), "100")).membership
    repo = get_port(pg, MembershipRepository)
    clock.advance(m.period_end - clock.now())
    assert (await service.run_renewals())["lapsed"] == 1
    assert await repo.covering(viewer.id, creator.id, video.id, clock.now() + timedelta(days=2))
    assert not await repo.covering(viewer.id, creator.id, video.id, clock.now() + timedelta(days=3, seconds=1))
    clock.advance(timedelta(days=3))
    assert (await service.run_renewals())["end"] == 1
    assert await repo.live(viewer.id, creator.id) is None
    assert await pg.get(LedgerService).balance(AccountRef.wallet(viewer.id)) == 50
    # the app's own access decision (system clock): no longer a member
    assert (await pg.get(UnlockService).access(viewer.id, video)).level is AccessLevel.LOCKED


async def test_the_app_decides_access_with_the_membership(pg: Injector) -> None:
    creator = await person(pg, "Creator", creator=True)
    video = await price_and_publish(pg, creator.id, (await add_synthetic_video(pg, creator.id)).video, rent_day=30)
    other = await price_and_publish(pg, creator.id, (await add_synthetic_video(pg, creator.id)).video, rent_day=30)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 100)
    service = pg.get(MembershipService)
    tier = await service.create_tier(creator.id, name="One", price="40", all_videos=False, video_ids=[str(video.id)])
    unlocks = pg.get(UnlockService)
    assert (await unlocks.access(viewer.id, video)).level is AccessLevel.LOCKED
    await service.join(viewer.id, tier.id, key(), "40")
    assert (await unlocks.access(viewer.id, video)).level is AccessLevel.MEMBER
    assert (await unlocks.access(viewer.id, other)).level is AccessLevel.LOCKED
    tiers: list[Tier] = await get_port(pg, TierRepository).tiers_of(creator.id)
    assert [t.video_ids for t in tiers] == [frozenset({video.id})]


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_random_concurrent_joins_cancels_changes_and_renewals_never_charge_twice(pg: Injector, seed: int) -> None:
    rng = random.Random(seed)
    creator = await person(pg, "Creator", creator=True)
    clock = FrozenClock(datetime.now(UTC))
    service = service_at(pg, clock)
    tiers = [
        await service.create_tier(creator.id, name=f"T{n}", price=str(price), all_videos=True, video_ids=[])
        for n, price in enumerate((40, 70, 100))
    ]
    viewers = []
    funded = {}
    for n in range(4):
        viewer = await person(pg, f"Viewer {n}")
        funded[viewer.id] = rng.choice([60, 150, 400])
        await fund(pg, viewer.id, funded[viewer.id])
        viewers.append(viewer)
    shared_keys = [key() for _ in range(4)]

    async def op() -> None:
        viewer = rng.choice(viewers)
        tier = rng.choice(tiers)
        what = rng.random()
        worker = service_at(pg, clock)
        try:
            if what < 0.4:
                await worker.join(viewer.id, tier.id, rng.choice([*shared_keys, key()]), str(tier.price))
            elif what < 0.55:
                await worker.cancel(viewer.id, creator.id)
            elif what < 0.7:
                m = await get_port(pg, MembershipRepository).live(viewer.id, creator.id)
                if m is not None:
                    offer = await worker.offer(viewer.id, creator.id)
                    cost = offer.upgrade_price(tier)
                    await worker.change_tier(viewer.id, tier.id, key(), str(cost or 0))
            else:
                await worker.run_renewals()
        except DomainError:
            pass

    for _ in range(6):
        await asyncio.gather(*(op() for _ in range(8)))
        clock.advance(timedelta(days=rng.choice([0, 1, 10, 29, 31])))

    found = await charges(pg)
    renewals = Counter((c["membership_id"], c["period_start"]) for c in found if c["kind"] == "renewal")
    assert all(n == 1 for n in renewals.values())
    joins = Counter(c["membership_id"] for c in found if c["kind"] == "join")
    assert all(n == 1 for n in joins.values())
    ledger = pg.get(LedgerService)
    for viewer in viewers:
        paid = sum(int(str(c["points"])) for c in found if c["viewer_id"] == viewer.id)
        balance = await ledger.balance(AccountRef.wallet(viewer.id))
        assert balance == funded[viewer.id] - paid
        assert balance >= 0
    live = await pg.get(Database).fetch(
        "SELECT viewer_id, count(*) AS n FROM memberships WHERE state <> 'ended' GROUP BY viewer_id"
    )
    assert all(row["n"] == 1 for row in live)
    states = {r["state"] for r in await pg.get(Database).fetch("SELECT state FROM memberships")}
    assert states <= {s.value for s in MembershipState}
    assert await ledger.verify() == []
