"""The promises of the memberships repositories, kept alike in PostgreSQL and in memory."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from core.db import Database
from features.memberships.adapters import (
    MemoryMembershipRepository,
    MemoryTierRepository,
    PostgresMembershipRepository,
    PostgresTierRepository,
)
from features.memberships.model import Charge, ChargeKind, Membership, MembershipState, Tier, add_month
from features.memberships.ports import MembershipRepository, TierRepository

NOW = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
Repos = tuple[TierRepository, MembershipRepository]


@pytest.fixture(params=["memory", "postgres"])
def repos(request: pytest.FixtureRequest) -> Repos:
    if request.param == "memory":
        tiers = MemoryTierRepository()
        return tiers, MemoryMembershipRepository(tiers)
    db = request.getfixturevalue("pg").get(Database)
    return PostgresTierRepository(db), PostgresMembershipRepository(db)


def tier(
    creator: object, *, all_videos: bool = True, videos: frozenset[object] = frozenset(), at: datetime = NOW
) -> Tier:
    return Tier(uuid4(), creator, "Fans", 100, all_videos, videos, None, at, at)  # type: ignore[arg-type]


def membership(t: Tier, viewer: UUID, *, start: datetime = NOW, key: str = "k" * 20) -> Membership:
    return Membership(
        id=uuid4(),
        viewer_id=viewer,
        creator_id=t.creator_id,
        tier_id=t.id,
        price=t.price,
        state=MembershipState.ACTIVE,
        anchor_day=start.day,
        period_start=start,
        period_end=add_month(start, start.day),
        join_key=key,
        joined_at=start,
        updated_at=start,
    )


async def test_tiers_keep_their_chosen_videos_and_retired_ones_are_left_out(repos: Repos) -> None:
    tiers, _ = repos
    creator, v1, v2 = uuid4(), uuid4(), uuid4()
    chosen = tier(creator, all_videos=False, videos=frozenset({v1, v2}))
    await tiers.save(chosen)
    everything = tier(creator, at=NOW + timedelta(seconds=1))
    await tiers.save(everything)
    assert [t.id for t in await tiers.tiers_of(creator)] == [chosen.id, everything.id]
    found = await tiers.get(chosen.id)
    assert found is not None
    assert found.video_ids == frozenset({v1, v2})
    await tiers.save(replace(chosen, video_ids=frozenset({v1}), retired_at=NOW))
    assert [t.id for t in await tiers.tiers_of(creator)] == [everything.id]
    retired = await tiers.tiers_of(creator, include_retired=True)
    assert [t.video_ids for t in retired] == [frozenset({v1}), frozenset()]
    assert await tiers.get(uuid4()) is None


async def test_covering_follows_the_tier_and_the_access_end(repos: Repos) -> None:
    tiers, memberships = repos
    creator, viewer, video, other_video = uuid4(), uuid4(), uuid4(), uuid4()
    t = tier(creator, all_videos=False, videos=frozenset({video}))
    await tiers.save(t)
    m = membership(t, viewer)
    await memberships.add(m)
    assert await memberships.covering(viewer, creator, video, NOW)
    assert not await memberships.covering(viewer, creator, other_video, NOW)
    assert not await memberships.covering(viewer, creator, video, m.period_end)
    lapsed = replace(m, state=MembershipState.LAPSED, grace_until=m.period_end + timedelta(days=3))
    await memberships.save(lapsed)
    assert await memberships.covering(viewer, creator, video, m.period_end + timedelta(days=2))
    await memberships.save(replace(lapsed, state=MembershipState.ENDED, ended_at=NOW))
    assert not await memberships.covering(viewer, creator, video, NOW)
    assert await memberships.live(viewer, creator) is None
    assert (await memberships.by_key(viewer, "k" * 20)) is not None


async def test_due_picks_renewals_reminders_lapses_and_ends(repos: Repos) -> None:
    tiers, memberships = repos
    creator = uuid4()
    t = tier(creator)
    await tiers.save(t)
    ending = membership(t, uuid4())  # period_end 30 Apr
    await memberships.add(ending)
    reminded = replace(membership(t, uuid4()), reminded_for=add_month(NOW, 31))
    await memberships.add(reminded)
    later = membership(t, uuid4(), start=NOW + timedelta(days=20))
    await memberships.add(later)
    end = ending.period_end
    assert [m.id for m in await memberships.due(end - timedelta(days=5), end - timedelta(days=2), 10)] == []
    assert {m.id for m in await memberships.due(end - timedelta(days=2), end + timedelta(days=1), 10)} == {ending.id}
    assert {m.id for m in await memberships.due(end, end + timedelta(days=3), 10)} == {ending.id, reminded.id}
    assert len(await memberships.due(end, end + timedelta(days=3), 1)) == 1


async def test_charges_and_monthly_figures(repos: Repos) -> None:
    tiers, memberships = repos
    creator = uuid4()
    t = tier(creator)
    await tiers.save(t)
    m = membership(t, uuid4())
    await memberships.add(m)
    charge = Charge(uuid4(), m.id, m.viewer_id, creator, t.id, ChargeKind.JOIN, NOW, 100, 10, uuid4(), "join-1", NOW)
    await memberships.add_charge(charge)
    assert await memberships.charges_of(m.id) == [charge]
    march = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))
    april = (datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC))
    await memberships.save(replace(m, state=MembershipState.LAPSED, lapsed_at=april[0] + timedelta(days=1)))
    figures = await memberships.month_figures(creator, [april, march], april[1])
    assert [(f.month, f.active, f.joined, f.lapsed, f.revenue) for f in figures] == [
        ("2026-04", 1, 0, 1, 0),
        ("2026-03", 1, 1, 0, 100),
    ]
