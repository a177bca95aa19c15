"""Playback's stores, in memory and on PostgreSQL: heartbeats, and the key-fetch log (one counter per
viewer, video and UTC day)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest

from core.db import Database
from core.ids import uuid7
from features.playback.adapters import (
    MemoryHeartbeatRepository,
    MemoryKeyFetchLog,
    PostgresHeartbeatRepository,
    PostgresKeyFetchLog,
)
from features.playback.model import Heartbeat
from features.playback.ports import HeartbeatRepository, KeyFetchLog

NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "postgres"])
def log(request: pytest.FixtureRequest) -> KeyFetchLog:
    if request.param == "memory":
        return MemoryKeyFetchLog()
    return PostgresKeyFetchLog(request.getfixturevalue("pg").get(Database))


async def test_fetches_are_counted_per_viewer_video_and_utc_day(log: KeyFetchLog) -> None:
    ann, ben, video, other = uuid7(), uuid7(), uuid7(), uuid7()
    await asyncio.gather(*(log.record(ann, video, NOON + timedelta(seconds=n)) for n in range(12)))
    await log.record(ann, other, NOON)
    await log.record(ann, video, NOON + timedelta(hours=12, minutes=1))  # the next UTC day
    for n in range(5):
        await log.record(ben, video, NOON - timedelta(minutes=n))
    busiest = await log.busiest(date(2026, 3, 1), date(2026, 3, 3), at_least=5, limit=10)
    assert [(d.viewer_id, d.video_id, d.day, d.fetches) for d in busiest] == [
        (ann, video, date(2026, 3, 2), 12),
        (ben, video, date(2026, 3, 2), 5),
    ]
    assert busiest[0].first_at == NOON
    assert busiest[0].last_at == NOON + timedelta(seconds=11)
    assert busiest[1].first_at == NOON - timedelta(minutes=4)
    assert await log.busiest(date(2026, 3, 3), date(2026, 3, 3), at_least=2, limit=10) == []
    assert len(await log.busiest(date(2026, 3, 1), date(2026, 3, 3), at_least=1, limit=2)) == 2
    mine = await log.of_viewer(ann, date(2026, 3, 1), limit=10)
    assert [(d.day, d.video_id, d.fetches) for d in mine] == [
        (date(2026, 3, 3), video, 1),
        (date(2026, 3, 2), video, 12),
        (date(2026, 3, 2), other, 1),
    ]
    assert await log.of_viewer(ann, date(2026, 3, 3), limit=10) == mine[:1]


@pytest.fixture(params=["memory", "postgres"])
def heartbeats(request: pytest.FixtureRequest) -> HeartbeatRepository:
    if request.param == "memory":
        return MemoryHeartbeatRepository()
    return PostgresHeartbeatRepository(request.getfixturevalue("pg").get(Database))


async def test_heartbeats_read_back_per_video_per_viewer_and_in_id_order(heartbeats: HeartbeatRepository) -> None:
    ann, video, other = uuid7(), uuid7(), uuid7()
    beats = [
        Heartbeat(ann, video, "session-1", 1.0, False, NOON),
        Heartbeat(None, video, "session-2", 2.5, True, NOON + timedelta(seconds=10)),
        Heartbeat(ann, other, "session-3", 3.0, False, NOON + timedelta(seconds=20)),
    ]
    for beat in beats:
        await heartbeats.add(beat)

    assert await heartbeats.for_video(video) == [beats[1], beats[0]]  # newest first
    assert await heartbeats.for_video(video, limit=1) == [beats[1]]
    first = min(h.id for h in await heartbeats.for_video(video))
    stored = await heartbeats.after(first - 1, 10)
    assert stored == beats
    assert [h.id for h in stored] == sorted({h.id for h in stored})
    assert await heartbeats.after(stored[0].id, 1) == [beats[1]]
    assert await heartbeats.of_viewer(ann, first - 1, 10) == [beats[0], beats[2]]
    assert await heartbeats.of_viewer(ann, stored[0].id, 10) == [beats[2]]
    assert await heartbeats.watched_video_ids(ann) == {video, other}
    assert await heartbeats.watched_video_ids(uuid7()) == set()
