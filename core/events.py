"""The EventBus port: publish small events on topics; subscribe live, with catch-up after an id.

Adapters: PostgreSQL (an `event_log` table plus LISTEN/NOTIFY, so workers reach every web process
and a reconnecting browser catches up from `Last-Event-ID`) and in-memory (tests, one process).
Payloads stay small — ids and figures; web processes render HTML from them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

QUEUE_SIZE = 1000


@dataclass(frozen=True)
class Event:
    id: int
    topic: str
    name: str
    data: Mapping[str, Any]
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class Subscription:
    """Events for a set of topics, in id order, without duplicates."""

    def __init__(self, topics: Sequence[str]) -> None:
        self.topics = frozenset(topics)
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue(QUEUE_SIZE)
        self.last_id = 0
        self.overflowed = False

    def offer(self, event: Event) -> None:
        if event.topic not in self.topics:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # A subscriber that cannot keep up is closed; it reconnects and catches up by id.
            self.overflowed = True
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
            self.queue.put_nowait(None)

    async def next(self, timeout: float | None = None) -> Event | None:
        """The next new event; None on timeout. Raises ConnectionResetError when overflowed."""
        while True:
            try:
                event = await asyncio.wait_for(self.queue.get(), timeout)
            except TimeoutError:
                return None
            if event is None:
                raise ConnectionResetError("subscriber fell behind")
            if event.id <= self.last_id:
                continue
            self.last_id = event.id
            return event

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            event = await self.next()
            if event is not None:
                yield event


class EventBus(Protocol):
    async def publish(self, topic: str, name: str, data: Mapping[str, Any]) -> None:
        """Publish an event. Inside a transaction it is delivered only if the transaction commits."""
        ...

    def subscribe(
        self, topics: Sequence[str], after_id: int | None = None
    ) -> AbstractAsyncContextManager[Subscription]:
        """Subscribe to topics; with `after_id`, first replay stored events newer than that id."""
        ...


class MemoryEventBus:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self._subscribers: set[Subscription] = set()

    async def publish(self, topic: str, name: str, data: Mapping[str, Any]) -> None:
        event = Event(len(self.events) + 1, topic, name, dict(data))
        self.events.append(event)
        for sub in list(self._subscribers):
            sub.offer(event)

    @asynccontextmanager
    async def subscribe(self, topics: Sequence[str], after_id: int | None = None) -> AsyncIterator[Subscription]:
        sub = Subscription(topics)
        self._subscribers.add(sub)
        try:
            if after_id is not None:
                for event in self.events:
                    if event.id > after_id:
                        sub.offer(event)
            yield sub
        finally:
            self._subscribers.discard(sub)
