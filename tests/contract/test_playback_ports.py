"""The key-fetch log, in memory and on PostgreSQL: one counter per viewer, video and UTC day."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest

from core.db import Database
from core.ids import uuid7
from features.playback.adapters import MemoryKeyFetchLog, PostgresKeyFetchLog
from features.playback.ports import KeyFetchLog

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
