"""Server-sent events: stream rendered partials to the subscribers allowed to see them.

The topics come from the server (for example `user:<id>` of the logged-in user), never from the
client, so a subscriber only ever receives its own events. A reconnecting browser sends
`Last-Event-ID`; the stream replays what it missed before going live.

The stream is its own small ASGI response rather than Litestar's generic `ServerSentEvent`: one
process may hold thousands of these connections and every broadcast touches all of them, so each
delivery is one wake-up of the connection's task, the renders of the events that arrived, and one
socket write of pre-encoded bytes (events that arrive together go out in one write). A second,
idle task per connection waits for the client to go away. `bench/sse.py` measures it.

Below ASGI, when the server is uvicorn's httptools protocol (`hypha web`, core/server.py): the
status line and headers go through every middleware as usual, but each event's bytes are then
written straight to the connection's transport — no coroutine per stream and per event, no
middleware's send wrapper (none of them touches a body) — as long as the socket takes them at once
and the client is still there. Anything else (a paused socket, another server, a render that must
wait) takes the ASGI path. The write system call is then most of a delivery's cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import logging
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Mapping, Sequence
from typing import Any

from litestar import Request
from litestar.background_tasks import BackgroundTask, BackgroundTasks
from litestar.datastructures import Cookie
from litestar.response import Response
from litestar.response.base import ASGIResponse
from litestar.types import Receive, Scope, Send

from core.errors import TooManyRequests
from core.events import REPLAY_LIMIT, Event, EventBus, Subscription
from core.numbers import whole_or_none
from core.ratelimit import address_key

Renderer = Callable[[Event], Awaitable[str | None]]


class EndStream(Exception):
    """Raised by a renderer to end its stream quietly: what the stream stood for is over (its session
    ended). The browser's EventSource reconnects, and the new request is judged afresh."""


KEEPALIVE_SECONDS = 15.0
log = logging.getLogger(__name__)
MAX_EVENTS_PER_WRITE = 64
# Events queued behind a client that stopped reading before its stream is ended; below the bus's
# replay limit, so the reconnect (with Last-Event-ID) can replay what was dropped.
STREAM_BACKLOG = REPLAY_LIMIT // 2

# Live streams one session may hold in one web process (SSE_STREAMS_PER_SESSION). A browser holds at
# most 6 connections per host over HTTP/1.1, so an honest session never needs more than that.
STREAMS_PER_SESSION = 6
RETRY_AFTER_SECONDS = 30

CONNECTED = b": connected\n\n"
KEEPALIVE = b": keepalive\n\n"


def parse_last_event_id(value: str | None) -> int | None:
    """The event id a reconnecting browser sends back; None for anything but ASCII digits in range."""
    return whole_or_none(value)


def encode_event(name: str, event_id: int, data: str) -> bytes:
    """One SSE message; every line of `data` gets its own `data:` field (the spec joins them with \\n)."""
    lines = data.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    name = name.replace("\r", " ").replace("\n", " ")
    body = "".join(f"data: {line}\n" for line in lines)
    return f"event: {name}\nid: {event_id}\n{body}\n".encode()


class RenderCache:
    """Encoded messages per renderer and event: streams that share a renderer render an event once.

    A renderer made per route (the same output for every subscriber of the topic) renders a
    broadcast once however many subscribe. One made per request (a closure over the viewer) never
    hits, and its entries go with it: renderers are held weakly, so a closed stream's request is not
    kept alive here. A renderer that cannot be weakly referenced is simply not cached.
    """

    def __init__(self, per_renderer: int = 64) -> None:
        self.per_renderer = per_renderer
        self._entries: weakref.WeakKeyDictionary[Renderer, OrderedDict[int, bytes]] = weakref.WeakKeyDictionary()

    def entries(self, render: Renderer) -> OrderedDict[int, bytes] | None:
        """The messages rendered so far by `render`, by event id, kept up to date (None when the
        renderer cannot be cached). A stream holds it to look an event up without a weak-key lookup
        per event; once the renderer is gone, so is the mapping."""
        try:
            entries = self._entries.get(render)
            if entries is None:
                entries = self._entries[render] = OrderedDict()
        except TypeError:
            return None
        return entries

    async def encoded(self, event: Event, render: Renderer) -> bytes:
        try:
            entries = self._entries.get(render)
            if entries is None:
                entries = self._entries[render] = OrderedDict()
        except TypeError:  # not weakly referenceable
            return await _encode(event, render)
        found = entries.get(event.id)
        if found is None:
            found = entries[event.id] = await _encode(event, render)
            if len(entries) > self.per_renderer:
                entries.popitem(last=False)
        return found


async def _encode(event: Event, render: Renderer) -> bytes:
    html = await render(event)
    return b"" if html is None else encode_event(event.name, event.id, html)


_cache = RenderCache()

SERVER_SEND = "hypha.server_send"  # scope["extensions"] key: the server's own send (keep_server_send)
Writer = Callable[[bytes], bool]


def keep_server_send(app: Any) -> Any:
    """Wrap the server's ASGI app so each HTTP scope keeps the server's own `send` (before any
    middleware wraps it): an event stream writes its body through it (core/server.py installs it)."""

    async def with_server_send(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            extensions = scope.get("extensions")
            if extensions is None:
                extensions = scope["extensions"] = {}
            extensions[SERVER_SEND] = send
        await app(scope, receive, send)

    return with_server_send


def direct_writer(scope: Mapping[str, Any]) -> Writer | None:
    """A synchronous writer of body chunks straight to the connection, when the server is uvicorn's
    httptools protocol answering a GET with a chunked body (what an event stream's headers ask for),
    else None. It returns False, writing nothing, when the client is gone or the socket is full:
    the caller then takes the ASGI path, which waits for the socket to drain."""
    server_send = (scope.get("extensions") or {}).get(SERVER_SEND)
    cycle = getattr(server_send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    flow = getattr(cycle, "flow", None)
    if (
        scope.get("method") != "GET"
        or transport is None
        or flow is None
        or getattr(cycle, "chunked_encoding", None) is not True
        or getattr(cycle, "response_started", None) is not True
        or not hasattr(cycle, "disconnected")
        or not hasattr(cycle, "response_complete")
        or not hasattr(flow, "write_paused")
    ):
        return None
    write = transport.write
    connection: Any = cycle

    def write_chunk(body: bytes) -> bool:
        if connection.disconnected or connection.response_complete or flow.write_paused:
            return False
        write(b"%x\r\n%b\r\n" % (len(body), body))
        return True

    return write_chunk


def start_now(coro: Coroutine[Any, Any, None]) -> None:
    """Run `coro` right here up to its first real suspension; if it suspends, a task finishes it.

    For fan-out: sending to a client whose socket takes the bytes at once never suspends, so a
    broadcast reaches thousands of streams without a task switch per stream. It runs in a context
    of its own: the publisher's context variables (its request id, its open transaction with the
    in-memory bus) must not leak into a subscriber's render."""
    context = contextvars.Context()
    try:
        yielded = context.run(coro.send, None)
    except StopIteration:
        return
    asyncio.get_running_loop().create_task(_finish(_Resumed(coro, yielded)), context=context)


async def _finish(resumed: _Resumed) -> None:
    await resumed


class _Resumed:
    """Awaitable continuation of a coroutine already stepped once (as `yield from` would go on)."""

    def __init__(self, coro: Coroutine[Any, Any, None], yielded: Any) -> None:
        self.coro = coro
        self.yielded = yielded

    def __await__(self) -> Generator[Any, Any, None]:
        coro, yielded = self.coro, self.yielded
        while True:
            try:
                sent = yield yielded
            except BaseException as error:  # cancellation (and close) reach the inner coroutine
                try:
                    yielded = coro.throw(error)
                except StopIteration:
                    return
            else:
                try:
                    yielded = coro.send(sent)
                except StopIteration:
                    return


class StreamPump:
    """Writes one stream's events in order, each batch as one body message.

    `push` is called inside the bus's dispatch. The work runs synchronously as far as it can (a
    render already cached, a socket that takes the bytes); whatever must wait (a render that queries
    the database, a slow client) finishes in a task while later events queue behind it."""

    __slots__ = ("busy", "limit", "queue", "rendered", "renderer", "send", "subscription", "write")

    def __init__(self, send: Send, renderer: Renderer, subscription: Subscription, write: Writer | None = None) -> None:
        self.send = send
        self.write = write
        self.rendered = _cache.entries(renderer)
        self.renderer = renderer
        self.subscription = subscription
        # A list, not a deque: it holds at most a batch or two and stays small while idle (an empty
        # deque is ≈ 0.6 KiB, and one process holds thousands of pumps).
        self.queue: list[Event | bytes] = []
        self.busy = False
        # The replay (already pending) may queue in full; live events may add STREAM_BACKLOG more.
        self.limit = STREAM_BACKLOG + subscription.queued() + 1

    def push(self, item: Event | bytes) -> None:
        if self.subscription.closed:
            return
        if self.write is not None and not self.busy and not self.queue:
            # The fast path: nothing in flight, the bytes already rendered, the socket takes them.
            rendered = self.rendered
            body = item if isinstance(item, bytes) else None if rendered is None else rendered.get(item.id)
            if body is not None and (not body or self.write(body)):
                return
        if len(self.queue) >= self.limit:
            # The client stopped reading: end the stream; the browser reconnects with Last-Event-ID.
            self.subscription.overflowed = True
            self.subscription.close()
            return
        self.queue.append(item)
        if not self.busy:
            self.busy = True
            start_now(self._drain())

    async def _drain(self) -> None:
        try:
            while self.queue and not self.subscription.closed:
                batch = self.queue[:MAX_EVENTS_PER_WRITE]
                del self.queue[:MAX_EVENTS_PER_WRITE]
                chunks = [
                    item if isinstance(item, bytes) else await _cache.encoded(item, self.renderer) for item in batch
                ]
                body = b"".join(chunks)
                if body and (self.write is None or not self.write(body)):
                    await self.send({"type": "http.response.body", "body": body, "more_body": True})
        except EndStream:
            self.queue.clear()
            self.subscription.close()
        except Exception:
            log.exception("event stream failed; closing it")
            self.subscription.close()
        finally:
            self.busy = False


_open_streams: set[Subscription] = set()


class TooManyStreams(TooManyRequests):
    """A session asked for one more live stream than it may hold (answered with a 429)."""

    message = (
        "Too many live connections from this session: close another Hypha tab, or reload this page in a little while."
    )


class StreamSlot:
    """One live stream a client holds; `release` (idempotent) gives it back.

    A slot not released explicitly (a response that never ran) is given back when collected."""

    __slots__ = ("__weakref__", "_finalizer")

    def __init__(self, registry: StreamSlots, key: str) -> None:
        self._finalizer = weakref.finalize(self, registry._give_back, key)

    def release(self) -> None:
        self._finalizer()


class StreamSlots:
    """Live event streams per client (a session, else an address) in this process, capped.

    The check and the reservation happen together, without awaiting in between, so parallel
    requests of one session cannot all pass the check. The newest request past the cap is refused
    (a 429) rather than the oldest stream ended: the page already open keeps its stream, and a
    script opening streams in a loop gets refusals, not an eviction of the owner's live page.
    """

    def __init__(self) -> None:
        self._held: dict[str, int] = {}

    def take(self, key: str, limit: int) -> StreamSlot:
        """A slot for `key`; raises TooManyStreams when `key` already holds `limit` streams."""
        held = self._held.get(key, 0)
        if held >= limit:
            raise TooManyStreams(retry_after=RETRY_AFTER_SECONDS)
        self._held[key] = held + 1
        return StreamSlot(self, key)

    def held(self, key: str) -> int:
        return self._held.get(key, 0)

    def total(self) -> int:
        """Live streams held in this process, all clients together."""
        return sum(self._held.values())

    def _give_back(self, key: str) -> None:
        left = self._held.get(key, 0) - 1
        if left > 0:
            self._held[key] = left
        else:
            self._held.pop(key, None)


stream_slots = StreamSlots()


def client_key(request: Request[Any, Any, Any]) -> str:
    """Whose streams these are: the session (its token hashed: no secret kept in memory), else the
    client's address (as uvicorn reports it: the proxy's X-Forwarded-For when the proxy is trusted)."""
    token = request.scope.get("state", {}).get("session_token")
    if token:
        return "session:" + hashlib.sha256(str(token).encode()).hexdigest()[:32]
    return "address:" + address_key(request.client.host if request.client else "unknown")


def end_open_streams() -> int:
    """End every event stream of this process (at shutdown: the server would otherwise wait for
    them forever). Browsers reconnect with Last-Event-ID, to this process's successor."""
    streams = list(_open_streams)
    for subscription in streams:
        subscription.close()
    return len(streams)


async def _until_disconnect(receive: Receive, subscription: Subscription) -> None:
    try:
        while (await receive())["type"] != "http.disconnect":
            pass
    finally:
        subscription.close()


class ASGIEventStream(ASGIResponse):
    """The body of an event stream: subscribe, replay, then write each batch of events as it comes."""

    _should_set_content_length = False

    def __init__(
        self,
        *,
        bus: EventBus,
        topics: Sequence[str],
        render: Renderer,
        after_id: int | None,
        keepalive: float,
        slot: StreamSlot | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bus = bus
        self.topics = topics
        self.renderer = render
        self.after_id = after_id
        self.keepalive = keepalive
        self.slot = slot
        self.subscription = Subscription(())
        self.scope: Mapping[str, Any] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        try:
            # Subscribe (and replay from the database) before the status line goes out, so that a
            # database that is down is a clean 503 rather than a stream cut after its headers.
            async with self.bus.subscribe(self.topics, after_id=self.after_id) as subscription:
                self.subscription = subscription
                _open_streams.add(subscription)
                try:
                    await super().__call__(scope, receive, send)
                finally:
                    _open_streams.discard(subscription)
        finally:
            if self.slot is not None:
                self.slot.release()

    async def send_body(self, send: Send, receive: Receive) -> None:
        subscription = self.subscription
        listener = asyncio.get_running_loop().create_task(_until_disconnect(receive, subscription))
        pump = StreamPump(send, self.renderer, subscription, direct_writer(self.scope or {}))
        try:
            pump.push(CONNECTED)
            subscription.listen(pump.push)
            while not subscription.closed:
                # Events arrive through the pump; this task only keeps the connection alive.
                with contextlib.suppress(ConnectionResetError):
                    await subscription.wait(self.keepalive)
                if not subscription.closed:
                    pump.push(KEEPALIVE)
            for _ in range(int(self.keepalive * 100)):  # let a write in flight finish (bounded)
                if not pump.busy or listener.done():
                    break
                await asyncio.sleep(0.01)
        finally:
            listener.cancel()
        # Ends the response when the subscriber fell behind: the browser reconnects with Last-Event-ID.
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class EventStream(Response[bytes]):
    """A `text/event-stream` response of the events on `topics`, rendered by `render`."""

    def __init__(
        self,
        bus: EventBus,
        topics: Sequence[str],
        render: Renderer,
        last_event_id: str | None = None,
        keepalive: float = KEEPALIVE_SECONDS,
        slot: StreamSlot | None = None,
    ) -> None:
        super().__init__(
            b"",
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
        self.bus = bus
        self.topics = list(topics)
        self.renderer = render
        self.after_id = parse_last_event_id(last_event_id)
        self.keepalive = keepalive
        self.slot = slot

    def to_asgi_response(
        self,
        app: Any,
        request: Request[Any, Any, Any],
        *,
        background: BackgroundTask | BackgroundTasks | None = None,
        cookies: Iterable[Cookie] | None = None,
        encoded_headers: Iterable[tuple[bytes, bytes]] | None = None,
        headers: dict[str, str] | None = None,
        is_head_response: bool = False,
        media_type: str | None = None,
        status_code: int | None = None,
        type_encoders: Any = None,
    ) -> ASGIResponse:
        return ASGIEventStream(
            bus=self.bus,
            topics=self.topics,
            render=self.renderer,
            after_id=self.after_id,
            keepalive=self.keepalive,
            slot=self.slot,
            background=self.background or background,
            content_length=0,
            cookies=[*self.cookies, *(cookies or ())],
            encoded_headers=encoded_headers,
            headers={**(headers or {}), **self.headers},
            is_head_response=is_head_response,
            media_type="text/event-stream",
            status_code=self.status_code or status_code,
        )


def sse_response(
    request: Request[Any, Any, Any],
    bus: EventBus,
    topics: Sequence[str],
    render: Renderer,
) -> EventStream:
    """The event stream a feature answers with: resumed from the request's Last-Event-ID, and counted
    against the session's cap of live streams (SSE_STREAMS_PER_SESSION, per process). Past the cap
    this raises TooManyStreams (a 429 with Retry-After) before anything is subscribed."""
    settings = request.app.state.get("settings")
    limit = getattr(settings, "sse_streams_per_session", STREAMS_PER_SESSION)
    slot = stream_slots.take(client_key(request), limit)
    return EventStream(bus, topics, render, request.headers.get("last-event-id"), slot=slot)
