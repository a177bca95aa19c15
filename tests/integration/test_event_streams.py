"""core.sse's event streams on a real uvicorn with real sockets: order, fan-out, slow and stalled
clients, renders that wait, replay, and shutdown."""

from __future__ import annotations

import asyncio
import contextvars
import gc
import json
import socket
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from litestar import Litestar, Request, get

from core.events import Event, MemoryEventBus
from core.server import Server
from core.sse import STREAM_BACKLOG, EventStream, RenderCache, StreamPump, direct_writer
from tests.support.live import free_port

TOPIC = "room:1"


@dataclass
class Live:
    url: str
    port: int
    bus: MemoryEventBus
    server: Server
    renders: list[int] = field(default_factory=list)


def make_app(bus: MemoryEventBus, renders: list[int]) -> Litestar:
    async def shared(event: Event) -> str:
        renders.append(event.id)
        if event.data.get("slow"):
            await asyncio.sleep(0.05)  # a render that queries something
        return json.dumps(dict(event.data))

    @get("/events")
    async def events(request: Request[None, None, None]) -> EventStream:
        return EventStream(bus, [TOPIC], shared, request.headers.get("last-event-id"))

    @get("/mine")
    async def mine(request: Request[None, None, None]) -> EventStream:
        viewer = request.query_params.get("viewer", "")

        async def personal(event: Event) -> str | None:
            if event.data.get("for") not in (None, viewer):
                return None
            return f"{viewer} sees {event.data['n']}\nsecond line"

        return EventStream(bus, [TOPIC], personal, None)

    return Litestar([events, mine])


@pytest.fixture
async def live() -> AsyncIterator[Live]:
    bus = MemoryEventBus()
    renders: list[int] = []
    port = free_port()
    server = Server(uvicorn.Config(make_app(bus, renders), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield Live(f"http://127.0.0.1:{port}", port, bus, server, renders)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


class RawClient:
    """An SSE client on a bare socket, so a test can stop reading and let the server's buffers fill."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.text = ""

    @classmethod
    async def connect(cls, port: int, path: str = "/events", headers: str = "", stalls: bool = False) -> RawClient:
        sock = socket.socket()
        if stalls:  # a small receive buffer, so that the server's side fills up soon after it stops reading
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 24)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: t\r\nAccept: text/event-stream\r\n{headers}\r\n".encode())
        await writer.drain()
        client = cls(reader, writer)
        await client.read_until(": connected")
        return client

    async def read_until(self, marker: str, timeout: float = 10) -> str:
        async def more() -> None:
            found = marker in self.text
            while not found:
                chunk = await self.reader.read(1 << 16)
                if not chunk:
                    raise EOFError(f"stream ended before {marker!r}")
                self.text += chunk.decode("utf-8", "replace")
                found = marker in self.text[-(len(chunk) + len(marker)) :]

        await asyncio.wait_for(more(), timeout)
        return self.text

    def ids(self) -> list[int]:
        return [int(line[4:]) for line in self.text.splitlines() if line.startswith("id: ")]

    def close(self) -> None:
        self.writer.close()


async def test_a_broadcast_reaches_every_stream_once_in_order_and_is_rendered_once(live: Live) -> None:
    clients = [await RawClient.connect(live.port) for _ in range(40)]
    for n in range(1, 21):
        await live.bus.publish(TOPIC, "tick", {"n": n})
    for client in clients:
        await client.read_until("id: 20\n")
        assert client.ids() == list(range(1, 21))
        assert 'data: {"n": 20}' in client.text
        client.close()
    # One renderer shared by every stream: each event rendered once, not once per subscriber.
    assert sorted(live.renders) == list(range(1, 21))


async def test_per_viewer_renders_stay_per_viewer_and_multiline_data_is_framed(live: Live) -> None:
    ann = await RawClient.connect(live.port, "/mine?viewer=ann")
    bob = await RawClient.connect(live.port, "/mine?viewer=bob")
    await live.bus.publish(TOPIC, "note", {"n": 1, "for": "ann"})
    await live.bus.publish(TOPIC, "note", {"n": 2})
    await ann.read_until("id: 2\n")
    await bob.read_until("id: 2\n")
    assert "data: ann sees 1\ndata: second line\n\n" in ann.text
    assert "sees 1" not in bob.text
    assert "data: bob sees 2\ndata: second line\n\n" in bob.text
    ann.close()
    bob.close()


async def test_a_client_that_stops_reading_holds_up_nobody_and_loses_nothing(live: Live) -> None:
    stalled = await RawClient.connect(live.port, stalls=True)
    reader = await RawClient.connect(live.port)
    blob = "x" * 64_000
    for n in range(1, 121):  # ~7.7 MB: far past the socket buffers of a client that does not read
        await live.bus.publish(TOPIC, "big", {"n": n, "blob": blob})
    await reader.read_until("id: 120\n", timeout=20)
    assert reader.ids() == list(range(1, 121))
    await live.bus.publish(TOPIC, "small", {"n": 121})
    await reader.read_until("id: 121\n")
    # The stalled client, once it reads again, gets every event in order.
    await stalled.read_until("id: 121\n", timeout=30)
    assert stalled.ids() == list(range(1, 122))
    stalled.close()
    reader.close()


async def test_renders_that_wait_keep_the_order(live: Live) -> None:
    client = await RawClient.connect(live.port)
    for n in range(1, 11):
        await live.bus.publish(TOPIC, "tick", {"n": n, "slow": n % 3 == 0})
    await client.read_until("id: 10\n")
    assert client.ids() == list(range(1, 11))
    client.close()


async def test_a_stream_too_far_behind_is_ended_so_the_browser_reconnects_and_catches_up(live: Live) -> None:
    stalled = await RawClient.connect(live.port, stalls=True)
    blob = "x" * 64_000
    for n in range(1, 121):
        await live.bus.publish(TOPIC, "big", {"n": n, "blob": blob})
    last = 120 + STREAM_BACKLOG + 10
    for n in range(121, last + 1):
        await live.bus.publish(TOPIC, "small", {"n": n})
        if n % 200 == 0:
            await asyncio.sleep(0)
    # The server ends the response (its last chunk) rather than buffering for it forever.
    await stalled.read_until("\r\n0\r\n\r\n", timeout=30)
    received = stalled.ids()
    assert received == list(range(1, len(received) + 1))
    assert len(received) < last
    # A reconnect with Last-Event-ID replays the rest.
    again = await RawClient.connect(live.port, headers=f"Last-Event-ID: {received[-1]}\r\n")
    await again.read_until(f"id: {last}\n")
    assert again.ids() == list(range(received[-1] + 1, last + 1))
    again.close()


async def test_replayed_events_are_not_sent_twice(live: Live) -> None:
    for n in range(1, 6):
        await live.bus.publish(TOPIC, "tick", {"n": n})
    client = await RawClient.connect(live.port, headers="Last-Event-ID: 2\r\n")
    await live.bus.publish(TOPIC, "tick", {"n": 6})
    await client.read_until("id: 6\n")
    assert client.ids() == [3, 4, 5, 6]
    client.close()


async def test_shutdown_ends_open_streams_instead_of_waiting_for_them(live: Live) -> None:
    client = await RawClient.connect(live.port)
    live.server.should_exit = True
    await client.read_until("\r\n0\r\n\r\n", timeout=5)
    assert await client.reader.read() == b"", "and closes the connection"


async def test_a_subscriber_render_does_not_run_in_the_publishers_context(live: Live) -> None:
    marker: contextvars.ContextVar[str] = contextvars.ContextVar("marker", default="none")
    seen: list[str] = []

    async def render(event: Event) -> str:
        seen.append(marker.get())
        return "x"

    async with live.bus.subscribe([TOPIC]) as subscription:
        sent: list[bytes] = []

        async def send(message: Any) -> None:
            sent.append(message.get("body", b""))

        pump = StreamPump(send, render, subscription)
        subscription.listen(pump.push)
        marker.set("publisher")
        await live.bus.publish(TOPIC, "tick", {"n": 1})
        assert seen == ["none"]
        assert sent == [b"event: tick\nid: 1\ndata: x\n\n"]


async def test_the_render_cache_does_not_keep_a_closed_streams_renderer_alive() -> None:
    cache = RenderCache()
    calls: list[int] = []

    async def shared(event: Event) -> str:
        calls.append(event.id)
        return "x"

    event = Event(1, TOPIC, "tick", {})
    assert await cache.encoded(event, shared) == await cache.encoded(event, shared)
    assert calls == [1]  # rendered once for both

    async def render_once() -> weakref.ref[Any]:
        async def render(event: Event) -> str:
            return "mine"

        await cache.encoded(event, render)
        return weakref.ref(render)

    gone = await render_once()
    gc.collect()
    assert gone() is None


def chunks_of(raw: bytes) -> list[bytes]:
    """The chunks of a chunked HTTP/1.1 response body, checked byte for byte (sizes, CRLFs, the end)."""
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    found = []
    while True:
        size_line, _, rest = body.partition(b"\r\n")
        size = int(size_line, 16)
        assert rest[size : size + 2] == b"\r\n", "every chunk ends with CRLF right after its size"
        if size == 0:
            assert rest == b"\r\n", "nothing follows the last chunk"
            return found
        found.append(rest[:size])
        body = rest[size + 2 :]


@pytest.mark.parametrize("server_class", [Server, uvicorn.Server], ids=["hypha-server", "plain-uvicorn"])
async def test_events_go_straight_to_the_socket_only_under_hyphas_server_and_are_framed_alike(
    server_class: type[uvicorn.Server],
) -> None:
    """core.server.Server hands streams the connection's own writer (no middleware, no coroutine per
    event); another server gets the ASGI path. Both produce the same well-framed chunks."""
    writers: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        write = direct_writer(scope)
        writers.append(write is not None)
        for n in range(3):
            message = f"event: tick\nid: {n}\ndata: {'x' * (n * 5000)}\n\n".encode()
            if write is None or not write(message):
                await send({"type": "http.response.body", "body": message, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    port = free_port()
    server = server_class(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /events HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        raw = await asyncio.wait_for(reader.read(), 10)
        writer.close()
        head_reader, head_writer = await asyncio.open_connection("127.0.0.1", port)
        head_writer.write(b"HEAD /events HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        head = await asyncio.wait_for(head_reader.read(), 10)
        head_writer.close()
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
    assert chunks_of(raw) == [f"event: tick\nid: {n}\ndata: {'x' * (n * 5000)}\n\n".encode() for n in range(3)]
    assert writers == [server_class is Server, False], "direct for a GET under Hypha's server, never for a HEAD"
    assert head.endswith(b"\r\n\r\n"), "a HEAD answer carries no body"
