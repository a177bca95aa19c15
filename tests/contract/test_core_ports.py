"""Each core port's contract, run against its in-memory and its real adapter."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from injector import Injector

from core.clock import FrozenClock
from core.db import Database
from core.events import EventBus, MemoryEventBus
from core.pipeline import CheckpointStore, MemoryCheckpointStore
from core.postgres import PostgresCheckpointStore, PostgresEventBus, PostgresRateLimiter
from core.ratelimit import MemoryRateLimiter, RateLimiter
from core.storage import BlobNotFound, BlobStorage, InvalidKey, LocalBlobStorage, MemoryBlobStorage


@pytest.fixture(params=["memory", "postgres"])
async def bus(request: pytest.FixtureRequest, pg: Injector) -> AsyncIterator[EventBus]:
    if request.param == "memory":
        yield MemoryEventBus()
        return
    injector = pg
    real = PostgresEventBus(injector.get(Database))
    yield real
    await real.close()


async def next_event(sub: object) -> object:
    return await asyncio.wait_for(sub.next(), 5)  # type: ignore[attr-defined]


async def test_subscribers_receive_events_of_their_topics_only(bus: EventBus) -> None:
    async with bus.subscribe(["user:a"]) as mine, bus.subscribe(["user:b"]) as theirs:
        await bus.publish("user:b", "tip", {"amount": 5})
        await bus.publish("user:a", "sale", {"amount": 100})
        event = await next_event(mine)
        assert (event.topic, event.name, event.data) == ("user:a", "sale", {"amount": 100})  # type: ignore[attr-defined]
        other = await next_event(theirs)
        assert other.data == {"amount": 5}  # type: ignore[attr-defined]
        assert await mine.next(timeout=0.2) is None


async def test_topics_with_quotes_and_events_for_nobody_here_are_told_apart(bus: EventBus) -> None:
    # Most notifications are for topics no subscriber of this process wants (skipped by the payload's
    # head without a parse); a topic the head cannot be read from is parsed in full.
    odd = 'user:"quoted" \\ topic'
    async with bus.subscribe([odd]) as quoted, bus.subscribe(["user:q"]) as plain:
        for n in range(20):
            await bus.publish(f"user:nobody-{n}", "sale", {"n": n})
        await bus.publish(odd, "sale", {"n": "odd"})
        await bus.publish("user:q", "sale", {"n": "plain"})
        assert (await next_event(quoted)).data == {"n": "odd"}  # type: ignore[attr-defined]
        assert (await next_event(plain)).data == {"n": "plain"}  # type: ignore[attr-defined]
        assert await quoted.next(timeout=0.2) is None
        assert await plain.next(timeout=0.05) is None


async def test_a_late_subscriber_catches_up_after_an_event_id(bus: EventBus) -> None:
    async with bus.subscribe(["user:c"]) as first:
        await bus.publish("user:c", "step", {"n": 1})
        seen = await next_event(first)
        await bus.publish("user:c", "step", {"n": 2})
        await bus.publish("user:c", "step", {"n": 3})
        await next_event(first)
        await next_event(first)
    async with bus.subscribe(["user:c"], after_id=seen.id) as again:  # type: ignore[attr-defined]
        replayed = [await next_event(again), await next_event(again)]
        assert [e.data["n"] for e in replayed] == [2, 3]  # type: ignore[attr-defined]
        await bus.publish("user:c", "step", {"n": 4})
        assert (await next_event(again)).data["n"] == 4  # type: ignore[attr-defined]


async def test_events_published_together_arrive_in_order_each_on_its_topic(bus: EventBus) -> None:
    async with bus.subscribe(["user:s", "user:w"]) as both, bus.subscribe(["user:w"]) as wallet:
        await bus.publish_all([("user:s", "sale", {"points": 50}), ("user:w", "wallet_changed", {"kind": "unlock"})])
        await bus.publish_all([])
        first, second = await next_event(both), await next_event(both)
        assert [(e.topic, e.name, e.data) for e in (first, second)] == [  # type: ignore[attr-defined]
            ("user:s", "sale", {"points": 50}),
            ("user:w", "wallet_changed", {"kind": "unlock"}),
        ]
        assert first.id < second.id  # type: ignore[attr-defined]
        assert (await next_event(wallet)).name == "wallet_changed"  # type: ignore[attr-defined]
        assert await wallet.next(timeout=0.2) is None
    async with bus.subscribe(["user:w"], after_id=first.id) as again:  # type: ignore[attr-defined]
        assert (await next_event(again)).id == second.id  # type: ignore[attr-defined]


async def test_large_payloads_are_delivered_whole(bus: EventBus) -> None:
    big = {"text": "x" * 20_000}
    async with bus.subscribe(["user:d"]) as sub:
        await bus.publish("user:d", "big", big)
        assert (await next_event(sub)).data == big  # type: ignore[attr-defined]


async def test_events_committed_out_of_id_order_still_reach_live_subscribers(pg: Injector) -> None:
    db = pg.get(Database)
    bus = PostgresEventBus(db)
    inserted, release = asyncio.Event(), asyncio.Event()

    async def slow_transaction() -> None:
        async with db.atomic():
            await bus.publish("user:o", "step", {"n": 1})  # the lower id, committed last
            inserted.set()
            await release.wait()

    try:
        async with bus.subscribe(["user:o"]) as sub:
            task = asyncio.create_task(slow_transaction())
            await inserted.wait()
            await bus.publish("user:o", "step", {"n": 2})
            second = await next_event(sub)
            release.set()
            await task
            first = await next_event(sub)
            assert (second.data["n"], first.data["n"]) == (2, 1)  # type: ignore[attr-defined]
            assert first.id < second.id  # type: ignore[attr-defined]
    finally:
        await bus.close()


async def test_a_replay_overlapping_live_events_delivers_each_once(bus: EventBus) -> None:
    for n in range(1, 4):
        await bus.publish("user:r", "step", {"n": n})
    async with bus.subscribe(["user:r"], after_id=0) as sub:
        await bus.publish("user:r", "step", {"n": 4})
        got = [await next_event(sub) for _ in range(4)]
        assert sorted(e.data["n"] for e in got) == [1, 2, 3, 4]  # type: ignore[attr-defined]
        assert await sub.next(timeout=0.2) is None  # type: ignore[attr-defined]


@pytest.fixture(params=["memory", "postgres"])
def limiter(request: pytest.FixtureRequest, pg: Injector) -> tuple[RateLimiter, FrozenClock]:
    clock = FrozenClock()
    if request.param == "memory":
        return MemoryRateLimiter(clock), clock
    injector = pg
    return PostgresRateLimiter(injector.get(Database), clock), clock


async def test_a_rate_limit_allows_up_to_the_limit_then_refuses_until_the_window_passes(
    limiter: tuple[RateLimiter, FrozenClock],
) -> None:
    rl, clock = limiter
    results = [(await rl.hit("k", 3, 60)).allowed for _ in range(4)]
    assert results == [True, True, True, False]
    assert not (await rl.peek("k", 3, 60)).allowed
    clock.advance(timedelta(seconds=61))
    assert (await rl.peek("k", 3, 60)).allowed
    assert (await rl.hit("k", 3, 60)).allowed


async def test_a_rate_limit_reset_forgets_the_hits(limiter: tuple[RateLimiter, FrozenClock]) -> None:
    rl, _ = limiter
    for _ in range(5):
        await rl.hit("x", 2, 60)
    await rl.reset("x")
    assert (await rl.hit("x", 2, 60)).allowed
    assert (await rl.hit("other", 2, 60)).count == 1


@pytest.fixture(params=["memory", "postgres"])
def checkpoints(request: pytest.FixtureRequest, pg: Injector) -> CheckpointStore:
    if request.param == "memory":
        return MemoryCheckpointStore()
    injector = pg
    return PostgresCheckpointStore(injector.get(Database))


async def test_checkpoints_remember_completed_units_in_order(checkpoints: CheckpointStore) -> None:
    assert await checkpoints.completed("r") == {}
    await checkpoints.record("r", "A", {"x": 1})
    await checkpoints.record("r", "B", {"y": [1, 2]})
    await checkpoints.record("r", "A", {"x": 2})
    done = await checkpoints.completed("r")
    assert done == {"A": {"x": 2}, "B": {"y": [1, 2]}}
    await checkpoints.clear("r")
    assert await checkpoints.completed("r") == {}


@pytest.fixture(params=["memory", "local"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStorage:
    return MemoryBlobStorage() if request.param == "memory" else LocalBlobStorage(tmp_path / "blobs")


async def _chunks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


async def test_blobs_append_read_stream_and_delete(storage: BlobStorage) -> None:
    assert await storage.append("videos/v1/source", b"hello ") == 6
    assert await storage.append("videos/v1/source", b"world") == 11
    assert await storage.read("videos/v1/source", 6, 5) == b"world"
    assert b"".join([c async for c in storage.stream("videos/v1/source", chunk_size=4)]) == b"hello world"
    async with storage.local_copy("videos/v1/source") as path:
        assert path.read_bytes() == b"hello world"
    await storage.write("videos/v1/cover", _chunks(b"a", b"b"))
    assert await storage.size("videos/v1/cover") == 2
    await storage.delete_prefix("videos/v1")
    assert not await storage.exists("videos/v1/source")
    with pytest.raises(BlobNotFound):
        await storage.read("videos/v1/source")


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a/../b", "", "a//b", "name with space", ".hidden"])
async def test_blob_keys_cannot_escape_the_store(storage: BlobStorage, key: str) -> None:
    with pytest.raises(InvalidKey):
        await storage.append(key, b"x")
