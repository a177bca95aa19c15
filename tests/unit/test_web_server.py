"""`hypha web`'s server (core/server.py): a response's head leaves with its body in one write, nothing
is reordered or lost on the way, and real HTTP over a socket still works through it."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
from typing import Any

import uvicorn

from core.server import YOUNG_GENERATION_THRESHOLD, HeadWithBodyTransport, Server

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n"


class RecordingTransport(asyncio.Transport):
    """A transport that keeps what is written to it, one entry per write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def is_closing(self) -> bool:
        return self.closed


async def test_a_response_head_leaves_with_its_body_in_one_write() -> None:
    socket_side = RecordingTransport()
    transport = HeadWithBodyTransport(socket_side, asyncio.get_running_loop())
    transport.write(HEAD)
    transport.write(b"hello")
    assert socket_side.writes == [HEAD + b"hello"]
    await asyncio.sleep(0)  # the loop's next turn sends nothing more
    assert socket_side.writes == [HEAD + b"hello"]


async def test_a_head_whose_body_is_not_ready_leaves_on_the_loops_next_turn() -> None:
    socket_side = RecordingTransport()
    transport = HeadWithBodyTransport(socket_side, asyncio.get_running_loop())
    transport.write(HEAD)
    assert socket_side.writes == []
    await asyncio.sleep(0)
    assert socket_side.writes == [HEAD]
    transport.write(b"event: 1\n\n")  # a streamed body, later, goes straight out
    assert socket_side.writes == [HEAD, b"event: 1\n\n"]


async def test_bytes_leave_in_the_order_they_were_written() -> None:
    socket_side = RecordingTransport()
    transport = HeadWithBodyTransport(socket_side, asyncio.get_running_loop())
    transport.write(b"a body chunk that is not a head")
    transport.write(HEAD)
    transport.writelines([b"hel", b"lo"])
    transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")  # the next response on the connection
    await asyncio.sleep(0)
    assert b"".join(socket_side.writes) == (
        b"a body chunk that is not a head" + HEAD + b"hello" + b"HTTP/1.1 204 No Content\r\n\r\n"
    )


async def test_closing_sends_what_is_held_before_closing() -> None:
    socket_side = RecordingTransport()
    transport = HeadWithBodyTransport(socket_side, asyncio.get_running_loop())
    transport.write(HEAD)
    transport.close()
    assert socket_side.writes == [HEAD]
    assert socket_side.closed
    await asyncio.sleep(0)
    assert socket_side.writes == [HEAD]


async def test_aborting_drops_what_is_held() -> None:
    socket_side = RecordingTransport()
    transport = HeadWithBodyTransport(socket_side, asyncio.get_running_loop())
    transport.write(HEAD)
    transport.abort()
    await asyncio.sleep(0)
    assert socket_side.writes == []
    assert socket_side.aborted


async def echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    request = await receive()
    body = b"you sent " + request.get("body", b"")
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def test_the_server_answers_requests_on_a_kept_alive_connection_with_its_start_up_heap_frozen() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(echo_app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = Server(config)
    thresholds = gc.get_threshold()
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        assert gc.get_freeze_count() > 0  # what start-up built is left out of every later collection
        assert gc.get_threshold()[0] == YOUNG_GENERATION_THRESHOLD
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for text in (b"one", b"two"):
            writer.write(
                b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: %d\r\n\r\n%s" % (len(text), text)  # keep-alive
            )
            head = await reader.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            length = next(
                int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
            )
            assert await reader.readexactly(length) == b"you sent " + text
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()
    finally:
        server.should_exit = True
        await serving
        gc.unfreeze()  # this is a test process, not a web process: let its heap be collected again
        gc.set_threshold(*thresholds)
