"""Server-sent events: stream rendered partials to the subscribers allowed to see them.

The topics come from the server (for example `user:<id>` of the logged-in user), never from the
client, so a subscriber only ever receives its own events. A reconnecting browser sends
`Last-Event-ID`; the stream replays what it missed before going live.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from litestar.response import ServerSentEvent, ServerSentEventMessage

from core.events import Event, EventBus

Renderer = Callable[[Event], Awaitable[str | None]]
KEEPALIVE_SECONDS = 15.0


def parse_last_event_id(value: str | None) -> int | None:
    if value and value.strip().isdigit():
        return int(value.strip())
    return None


async def stream_events(
    bus: EventBus,
    topics: Sequence[str],
    render: Renderer,
    last_event_id: int | None = None,
    keepalive: float = KEEPALIVE_SECONDS,
) -> AsyncIterator[ServerSentEventMessage]:
    """Yield one SSE message per event the renderer accepts (it returns None to skip one)."""
    async with bus.subscribe(topics, after_id=last_event_id) as subscription:
        yield ServerSentEventMessage(comment="connected")
        while True:
            try:
                event = await subscription.next(timeout=keepalive)
            except ConnectionResetError:
                return
            if event is None:
                yield ServerSentEventMessage(comment="keepalive")
                continue
            html = await render(event)
            if html is not None:
                yield ServerSentEventMessage(data=html, event=event.name, id=str(event.id))


def sse_response(
    bus: EventBus,
    topics: Sequence[str],
    render: Renderer,
    last_event_id: str | None,
) -> ServerSentEvent:
    return ServerSentEvent(
        stream_events(bus, topics, render, parse_last_event_id(last_event_id)),
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
