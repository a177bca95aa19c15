"""The promises of the analytics store and the heartbeat reader analytics uses, kept alike in
PostgreSQL and in memory (the event log and the cursors are core's: tests/contract/test_event_log.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

import pytest
from injector import Injector

from core.db import Database
from core.ids import uuid7
from features.analytics.adapters import MemoryAnalyticsStore, PostgresAnalyticsStore
from features.analytics.model import RevenueDay, Session, ViewerDay, WatchDay, WatchFold
from features.analytics.ports import AnalyticsStore
from features.playback.adapters import MemoryHeartbeatRepository, PostgresHeartbeatRepository
from features.playback.model import Heartbeat
from features.playback.ports import HeartbeatRepository

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)


def _db(request: pytest.FixtureRequest) -> Database:
    return request.getfixturevalue("pg").get(Database)  # type: ignore[no-any-return]


@pytest.fixture(params=["memory", "postgres"])
def store(request: pytest.FixtureRequest) -> AnalyticsStore:
    return MemoryAnalyticsStore() if request.param == "memory" else PostgresAnalyticsStore(_db(request))


@pytest.fixture(params=["memory", "postgres"])
def heartbeats(request: pytest.FixtureRequest) -> HeartbeatRepository:
    return MemoryHeartbeatRepository() if request.param == "memory" else PostgresHeartbeatRepository(_db(request))


def reach(**counts: int) -> tuple[int, ...]:
    out = [0] * 21
    for name, count in counts.items():
        out[int(name[1:])] = count
    return tuple(out)


def session(video: UUID, owner: UUID, name: str, max_ms: int) -> Session:
    return Session(video, name, owner, D1, f"viewer-{name}", False, NOW, max_ms, max_ms, max_ms)


# -- the store -------------------------------------------------------------------------------------------


async def test_sessions_are_stored_and_replaced(store: AnalyticsStore) -> None:
    video, owner = uuid7(), uuid7()
    first = session(video, owner, "s-1", 10_000)
    await store.apply_watch(WatchFold(sessions={first.key: first}))
    assert await store.sessions([first.key, (video, "s-unknown")]) == {first.key: first}
    moved = Session(video, "s-1", owner, D1, "viewer-s-1", False, NOW + timedelta(seconds=10), 20_000, 20_000, 20_000)
    await store.apply_watch(WatchFold(sessions={moved.key: moved}))
    assert await store.sessions([first.key]) == {first.key: moved}
    assert await store.sessions([]) == {}


async def test_quiet_sessions_are_forgotten(store: AnalyticsStore) -> None:
    video, owner = uuid7(), uuid7()
    old = Session(video, "s-old", owner, D1, "ann", False, NOW - timedelta(days=3), 1, 1, 1)
    fresh = Session(video, "s-new", owner, D1, "ben", False, NOW, 1, 1, 1)
    await store.apply_watch(WatchFold(sessions={old.key: old, fresh.key: fresh}))
    await store.forget_sessions(NOW - timedelta(days=2))
    assert await store.sessions([old.key, fresh.key]) == {fresh.key: fresh}


async def test_day_changes_add_up_including_moves_between_reach_points(store: AnalyticsStore) -> None:
    video, other, owner = uuid7(), uuid7(), uuid7()
    await store.apply_watch(
        WatchFold(
            days={
                (video, D1): WatchDay(video, owner, D1, views=2, watch_ms=20_000, reach=reach(r2=1, r4=1)),
                (other, D1): WatchDay(other, owner, D1, views=1, preview_views=3, watch_ms=5, reach=reach(r0=1)),
            }
        )
    )
    await store.apply_watch(
        WatchFold(days={(video, D1): WatchDay(video, owner, D1, views=1, watch_ms=1_500, reach=reach(r2=-1, r20=2))})
    )
    rows = await store.watch_days(owner, D1, D1)
    assert {r.video_id: r for r in rows}[video] == WatchDay(video, owner, D1, 3, 0, 21_500, reach(r4=1, r20=2))
    assert {r.video_id: r for r in rows}[other] == WatchDay(other, owner, D1, 1, 3, 5, reach(r0=1))
    assert await store.watch_days(owner, D1, D1, video) == [
        WatchDay(video, owner, D1, 3, 0, 21_500, reach(r4=1, r20=2))
    ]
    assert await store.watch_days(owner, D2, D3) == []
    assert await store.watch_days(uuid7(), D1, D3) == []


async def test_watch_days_come_by_day(store: AnalyticsStore) -> None:
    video, owner = uuid7(), uuid7()
    days = {(video, d): WatchDay(video, owner, d, views=n + 1) for n, d in enumerate([D3, D1, D2])}
    await store.apply_watch(WatchFold(days=days))
    assert [r.day for r in await store.watch_days(owner, D1, D3)] == [D1, D2, D3]
    assert [r.views for r in await store.watch_days(owner, D2, D3)] == [3, 1]


async def test_viewers_are_counted_distinct_over_any_range(store: AnalyticsStore) -> None:
    video, other, owner, stranger = uuid7(), uuid7(), uuid7(), uuid7()
    seen = {
        ViewerDay(video, D1, owner, "ann"),
        ViewerDay(video, D1, owner, "ben"),
        ViewerDay(video, D2, owner, "ann"),
        ViewerDay(other, D2, owner, "ann"),
        ViewerDay(other, D3, owner, "cy"),
        ViewerDay(uuid7(), D1, stranger, "dee"),
    }
    await store.apply_watch(WatchFold(viewers=seen))
    await store.apply_watch(WatchFold(viewers={ViewerDay(video, D1, owner, "ann")}))  # seen again: no change
    counts = await store.viewer_counts(owner, D1, D3)
    assert counts.total == 3
    assert dict(counts.by_video) == {video: 2, other: 2}
    assert dict(counts.by_video_day) == {(video, D1): 2, (video, D2): 1, (other, D2): 1, (other, D3): 1}
    assert (await store.viewer_counts(owner, D2, D2)).total == 1
    one = await store.viewer_counts(owner, D1, D3, other)
    assert (one.total, dict(one.by_video)) == (2, {other: 2})
    assert (await store.viewer_counts(owner, D1, D1, other)).total == 0


async def test_revenue_changes_add_up_per_video_per_day(store: AnalyticsStore) -> None:
    video, other, owner = uuid7(), uuid7(), uuid7()
    await store.apply_revenue(
        {
            (video, D1): RevenueDay(video, owner, D1, sales=1, gross_points=50, net_points=45),
            (other, D2): RevenueDay(other, owner, D2, tips=1, tip_points=10),
        }
    )
    await store.apply_revenue(
        {(video, D1): RevenueDay(video, owner, D1, sales=2, gross_points=700, net_points=630, tips=1, tip_points=5)}
    )
    assert await store.revenue_days(owner, D1, D3) == [
        RevenueDay(video, owner, D1, 3, 750, 675, 1, 5),
        RevenueDay(other, owner, D2, 0, 0, 0, 1, 10),
    ]
    assert await store.revenue_days(owner, D1, D3, other) == [RevenueDay(other, owner, D2, 0, 0, 0, 1, 10)]
    assert await store.revenue_days(owner, D3, D3) == []
    assert await store.revenue_days(uuid7(), D1, D3) == []


# -- heartbeats, as analytics reads them ----------------------------------------------------------------------


async def test_heartbeats_are_read_after_an_id_in_id_order(heartbeats: HeartbeatRepository) -> None:
    video = uuid7()
    for n in range(5):
        await heartbeats.add(Heartbeat(None, video, "s-0001", float(n * 10), False, NOW + timedelta(seconds=n)))
    first = await heartbeats.after(0, 2)
    assert [b.position for b in first] == [0.0, 10.0]
    assert first[0].id < first[1].id
    rest = await heartbeats.after(first[-1].id, 10)
    assert [b.position for b in rest] == [20.0, 30.0, 40.0]
    assert [b.id for b in rest] == sorted(b.id for b in rest)
    assert rest[0].at == NOW + timedelta(seconds=2)
    assert await heartbeats.after(rest[-1].id, 10) == []


async def test_heartbeats_join_the_viewers_view_whatever_session_id_they_carry(
    heartbeats: HeartbeatRepository,
) -> None:
    video, window = uuid7(), 3600

    async def beat(key: str, session_id: str, seconds: float, *, preview: bool = False) -> str:
        stored = await heartbeats.add_to_view(
            Heartbeat(None, video, session_id, 1.0, preview, NOW + timedelta(seconds=seconds)), key, window
        )
        assert stored.id > 0
        return stored.session_id

    first = {await beat("user:a", f"forged-{n:03d}", n) for n in range(10)}
    assert len(first) == 1
    assert await beat("user:b", "forged-000", 11) not in first  # another viewer: another view
    assert await beat("user:a", "forged-000", 12, preview=True) not in first  # a preview is counted apart
    assert await beat("user:a", "forged-009", window + 5) in first  # the same player goes on past the window
    later = await beat("user:a", "a-new-page", window + 6)  # a new player session once the window has passed
    assert later not in first
    assert await beat("user:a", "forged-again", window + 7) == later
    stored = await heartbeats.after(0, 100)
    assert len(stored) == 15
    assert stored[-1].session_id == later


async def test_concurrent_first_heartbeats_of_one_viewer_agree_on_one_view(pg: Injector) -> None:
    heartbeats = PostgresHeartbeatRepository(pg.get(Database))
    video = uuid7()
    stored = await asyncio.gather(
        *(
            heartbeats.add_to_view(Heartbeat(None, video, f"session-{n:04d}", 1.0, False, NOW), "ip:10.0.0.1", 3600)
            for n in range(20)
        )
    )
    assert len({beat.session_id for beat in stored}) == 1
