"""The EventBus port: publish small events on topics; subscribe live, with catch-up after an id.

Adapters: PostgreSQL (an `event_log` table plus LISTEN/NOTIFY, so workers reach every web process
and a reconnecting browser catches up from `Last-Event-ID`) and in-memory (tests, one process).
Payloads stay small — ids and figures; web processes render HTML from them.
"""

from __future__ import annotations

import asyncio
from array import array
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

QUEUE_SIZE = 1000
REPLAY_LIMIT = 500  # a subscriber back after a longer absence reloads the page instead


@dataclass(frozen=True)
class Event:
    id: int
    topic: str
    name: str
    data: Mapping[str, Any]
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


RECENT_IDS = 1024  # more than a replay returns (core/postgres.py), so a replayed event seen live is caught
RECENT_SLACK = 256  # the oldest ids are forgotten this many at a time


class Subscription:
    """Events for a set of topics, each once (a replayed event that also arrives live is dropped).

    Either pulled (`wait`/`take`/`next`) or pushed: after `listen(callback)` every new event is
    handed to the callback synchronously, inside the bus's dispatch — no queue and no task switch
    per subscriber, which is what lets one process fan a broadcast out to thousands of streams
    (core/sse.py, bench/sse.py). `offer` runs for every subscriber on every event: keep it cheap.
    """

    __slots__ = ("_listener", "_pending", "_recent", "_waiter", "closed", "last_id", "overflowed", "topics")

    def __init__(self, topics: Sequence[str]) -> None:
        self.topics = frozenset(topics)
        self.last_id = 0
        self.overflowed = False
        self.closed = False
        self._waiter: asyncio.Future[None] | None = None
        # Made on first use: a live stream (pushed to its listener) never queues, and thousands of
        # idle streams each holding two empty deques and a set cost ≈ 1.7 KiB apiece (bench/sse.py).
        self._pending: deque[Event] | None = None
        # The ids seen last, oldest first: at least RECENT_IDS of them, 8 bytes each (a dict of 1,024
        # ids in a set and a deque held ≈ 41 KiB per stream; a day-long dashboard reaches that).
        self._recent: array[int] | None = None
        self._listener: Callable[[Event], None] | None = None

    @property
    def pending(self) -> deque[Event]:
        """Events delivered and not yet taken (always empty once a listener is set)."""
        if self._pending is None:
            self._pending = deque()
        return self._pending

    def queued(self) -> int:
        """How many events are pending."""
        return len(self._pending) if self._pending else 0

    def offer(self, event: Event) -> None:
        if event.topic not in self.topics or self.closed:
            return
        recent = self._recent
        if recent is None:
            recent = self._recent = array("q")
        elif event.id <= self.last_id and event.id in recent:
            return  # (an id above every id seen so far is new without a look)
        recent.append(event.id)
        if len(recent) > RECENT_IDS + RECENT_SLACK:
            del recent[:RECENT_SLACK]
        self.last_id = max(self.last_id, event.id)
        if self._listener is not None:
            self._listener(event)
            return
        pending = self.pending
        if len(pending) >= QUEUE_SIZE:
            # A subscriber that cannot keep up is closed; it reconnects and catches up by id.
            self.overflowed = True
            self.close()
            return
        pending.append(event)
        self._wake()

    def listen(self, callback: Callable[[Event], None]) -> None:
        """From now on hand each event to `callback`, starting with those already pending (in id order)."""
        waiting = sorted(self._pending or (), key=lambda e: e.id)
        self._pending = None
        self._listener = callback
        for event in waiting:
            callback(event)

    def close(self) -> None:
        """End the subscription: a waiting `wait`/`next` raises ConnectionResetError."""
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def take(self, limit: int | None = None) -> list[Event]:
        """Events already delivered (at most `limit`), without waiting."""
        events: list[Event] = []
        while self._pending and (limit is None or len(events) < limit):
            events.append(self.pending.popleft())
        return events

    async def wait(self, timeout: float | None = None) -> bool:
        """Wait until an event is pending or the subscription closes; False on timeout.

        Raises ConnectionResetError once closed and drained."""
        while not self._pending:
            if self.closed:
                raise ConnectionResetError("subscriber fell behind" if self.overflowed else "subscription closed")
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = None if timeout is None else loop.call_later(timeout, _expire, waiter)
            try:
                await waiter
            finally:
                self._waiter = None
                if timer is not None:
                    timer.cancel()
            if not self._pending and not self.closed:
                return False
        return True

    async def next(self, timeout: float | None = None) -> Event | None:
        """The next new event; None on timeout. Raises ConnectionResetError when closed or overflowed."""
        if not await self.wait(timeout):
            return None
        return self.pending.popleft()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            event = await self.next()
            if event is not None:
                yield event


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


@dataclass(frozen=True)
class LogCursor:
    """A read position in an id sequence that rows commit into out of order (the event log, heartbeats).

    Ids are handed out when rows are inserted, not when they commit: with 5 and 7 visible, 6 may still
    be on its way. So the cursor only moves over an unbroken run of ids; at a hole it waits, and
    `gap_seen_at` says since when. A hole still open after the grace period is a rolled-back insert
    (or a sequence skip) and is stepped over. Every id up to `position` has been dealt with.
    """

    position: int = 0
    gap_seen_at: datetime | None = None

    def advanced_over(self, ids: Sequence[int], now: datetime, grace: timedelta) -> LogCursor:
        """The cursor after seeing these stored ids (ascending)."""
        position, gap_seen_at = self.position, self.gap_seen_at
        for found in ids:
            if found <= position:
                continue
            if found == position + 1:
                position, gap_seen_at = found, None
                continue
            if gap_seen_at is None:
                gap_seen_at = now
                break
            if now - gap_seen_at < grace:
                break
            position, gap_seen_at = found, None
        return LogCursor(position, gap_seen_at)


@dataclass(frozen=True)
class LiveFragment:
    """A piece of a live page: a template and its context. The live stream (core/live.py) renders it
    with `oob=True`; its root element carries `hx-swap-oob` and replaces its namesake on the page."""

    template: str
    context: Mapping[str, Any]


class LivePart(Protocol):
    """A feature's part of the live pages (studio tiles, the dashboard's tiles), kept live over the one
    event stream of the page. A feature declares its parts in `Feature.live_parts`."""

    async def fragments(self, owner_id: UUID, event: Event) -> Sequence[LiveFragment]:
        """What to send the person for this event of their topic `user:<owner id>` (empty: nothing).
        Called for every event on that topic: a part picks the names it knows."""
        ...


class EventBus(Protocol):
    async def publish(self, topic: str, name: str, data: Mapping[str, Any]) -> None:
        """Publish an event. Inside a transaction it is delivered only if the transaction commits."""
        ...

    async def publish_all(self, events: Sequence[tuple[str, str, Mapping[str, Any]]]) -> None:
        """Publish several (topic, name, data) events, in this order, in one round trip (a hot path
        that tells two people — the unlock: the creator's sale and the buyer's wallet)."""
        ...

    def subscribe(
        self, topics: Sequence[str], after_id: int | None = None
    ) -> AbstractAsyncContextManager[Subscription]:
        """Subscribe to topics; with `after_id`, first replay stored events newer than that id."""
        ...


class Subscribers:
    """A bus's live subscriptions, by topic: an event is offered only to the subscriptions of its
    topic, so an event on one person's topic (`user:<id>`) costs nothing per other open stream."""

    __slots__ = ("_by_topic",)

    def __init__(self) -> None:
        self._by_topic: dict[str, set[Subscription]] = {}

    def add(self, sub: Subscription) -> None:
        for topic in sub.topics:
            self._by_topic.setdefault(topic, set()).add(sub)

    def discard(self, sub: Subscription) -> None:
        for topic in sub.topics:
            subs = self._by_topic.get(topic)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._by_topic[topic]

    def listens_to(self, topic: str) -> bool:
        """Whether any subscription here wants events of `topic`."""
        return topic in self._by_topic

    def topics(self) -> list[str]:
        """Every topic someone listens to, sorted."""
        return sorted(self._by_topic)

    def offer(self, event: Event) -> None:
        subs = self._by_topic.get(event.topic)
        if subs:
            for sub in list(subs):  # a subscriber may close (and leave) while being offered
                sub.offer(event)


class MemoryEventBus:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self._subscribers = Subscribers()
        self._last_id = 0  # not len(events): retention removes stored events, ids never repeat

    async def publish(self, topic: str, name: str, data: Mapping[str, Any]) -> None:
        self._last_id += 1
        event = Event(self._last_id, topic, name, dict(data))
        self.events.append(event)
        self._subscribers.offer(event)

    async def publish_all(self, events: Sequence[tuple[str, str, Mapping[str, Any]]]) -> None:
        for topic, name, data in events:
            await self.publish(topic, name, data)

    @asynccontextmanager
    async def subscribe(self, topics: Sequence[str], after_id: int | None = None) -> AsyncIterator[Subscription]:
        sub = Subscription(topics)
        self._subscribers.add(sub)
        try:
            if after_id is not None:
                for event in [e for e in self.events if e.id > after_id and e.topic in sub.topics][:REPLAY_LIMIT]:
                    sub.offer(event)
            yield sub
        finally:
            self._subscribers.discard(sub)
