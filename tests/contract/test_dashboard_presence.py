"""The promises of the presence store behind "watching now", kept alike in PostgreSQL and in memory."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.db import Database
from core.ids import uuid7
from features.dashboard.adapters import MemoryPresenceStore, PostgresPresenceStore
from features.dashboard.model import Sighting
from features.dashboard.ports import PresenceStore

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "postgres"])
def presence(request: pytest.FixtureRequest) -> PresenceStore:
    if request.param == "memory":
        return MemoryPresenceStore()
    return PostgresPresenceStore(request.getfixturevalue("pg").get(Database))


async def test_distinct_viewers_are_counted_per_creator_since_a_moment(presence: PresenceStore) -> None:
    mira, otto = uuid7(), uuid7()
    first, second, theirs = uuid7(), uuid7(), uuid7()
    await presence.seen(
        [
            Sighting(mira, first, "ann", NOW - timedelta(seconds=40)),
            Sighting(mira, second, "ann", NOW - timedelta(seconds=5)),
            Sighting(mira, first, "ben", NOW - timedelta(seconds=10)),
            Sighting(otto, theirs, "ben", NOW - timedelta(seconds=50)),
        ]
    )
    since = NOW - timedelta(seconds=30)
    assert await presence.counts(since) == {mira: 2}
    assert await presence.viewers(mira, since) == 2
    assert await presence.viewers(otto, since) == 0
    assert await presence.counts(NOW - timedelta(minutes=5)) == {mira: 2, otto: 1}

    # An older sighting never replaces a newer one; a newer one does.
    await presence.seen([Sighting(mira, first, "ben", NOW - timedelta(seconds=90))])
    assert await presence.viewers(mira, NOW - timedelta(seconds=11)) == 2
    await presence.seen([Sighting(otto, theirs, "ben", NOW)])
    assert await presence.counts(since) == {mira: 2, otto: 1}

    await presence.forget_before(NOW - timedelta(seconds=8))
    assert await presence.counts(NOW - timedelta(hours=1)) == {mira: 1, otto: 1}


async def test_published_counts_are_remembered_and_a_zero_forgets(presence: PresenceStore) -> None:
    mira, otto = uuid7(), uuid7()
    assert await presence.published() == {}
    await presence.set_published({mira: 3, otto: 1})
    await presence.set_published({mira: 2})
    assert await presence.published() == {mira: 2, otto: 1}
    await presence.set_published({otto: 0})
    assert await presence.published() == {mira: 2}
