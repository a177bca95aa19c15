"""uvicorn, taught three things: to end the open event streams when it shuts down, to send a
response's head and body in one write, and to keep the garbage collector off the request path.

uvicorn's graceful shutdown waits for every response in flight to finish; an SSE stream never does,
so a web process with a studio tab open would hang on SIGTERM until killed. Ending the streams first
lets each finish its response; browsers reconnect (with Last-Event-ID) to the next process.

uvicorn writes a response's status line and headers to the socket when the app sends
`http.response.start`, and the body in a second write when it sends `http.response.body`: two
system calls and two TCP segments (on loopback, two wake-ups of the reader) for every small page.
`HeadWithBodyTransport` holds the head until the body's write, or at the latest until the event loop's
next turn, and sends both at once.

The web process imports and builds everything before it serves: some 130,000 long-lived objects the
cyclic garbage collector would otherwise walk again at every full collection (every few hundred
requests: ≈ 3 % of an unlock's CPU). `Server.startup` collects once and freezes them (`gc.freeze`),
and lets the young generation grow to 10,000 objects before it is collected. Measured on the unlock under
wrk (16 connections, load ≈ 8–12): the collector's CPU per request went from ≈ 75 µs (before these
changes) to ≈ 60 µs once requests made no reference cycles (core.web.HyphaRequest), ≈ 32 µs with the
freeze, ≈ 10–12 µs with the larger threshold.
"""

from __future__ import annotations

import asyncio
import gc
import socket
from typing import Any

import uvicorn

from core.settings import Settings
from core.sse import end_open_streams, keep_server_send

# Python's default is 700 allocations; measured under wrk on the unlock (16 connections): the collector's
# CPU per request fell from ≈ 32 µs to ≈ 10–12 µs at 10,000 (see the module docstring).
YOUNG_GENERATION_THRESHOLD = 10_000


class HeadWithBodyTransport(asyncio.Transport):
    """A transport that holds a response's head (a write starting with `HTTP/`) until the next write,
    which it joins, or until the event loop's next turn. Every other write goes straight through,
    after anything held, so the bytes leave in the order they were written."""

    __slots__ = ("_flush_soon", "_held", "_loop", "_transport")  # one per connection: no __dict__

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._held: bytes | None = None
        self._flush_soon: asyncio.Handle | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        held = self._held
        if held is not None:
            self._held = None
            if self._flush_soon is not None:
                self._flush_soon.cancel()
                self._flush_soon = None
            self._transport.write(held + bytes(data))
        elif isinstance(data, bytes) and data.startswith(b"HTTP/"):
            self._held = data
            self._flush_soon = self._loop.call_soon(self.flush)
        else:
            self._transport.write(data)

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def flush(self) -> None:
        """Send whatever is held now."""
        self._flush_soon = None
        held, self._held = self._held, None
        if held is not None and not self._transport.is_closing():
            self._transport.write(held)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._held = None
        self._transport.abort()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + len(self._held or b"")

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()


def head_with_body_protocol() -> type[asyncio.Protocol] | None:
    """uvicorn's httptools protocol writing through a `HeadWithBodyTransport`, or None without httptools
    (uvicorn then uses h11, left as it is)."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is a dependency (uvicorn[standard])
        return None

    class HeadWithBodyProtocol(HttpToolsProtocol):
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            # uvicorn read the addresses and TLS from the real transport; the flow control keeps it too.
            self.transport = HeadWithBodyTransport(transport, self.loop)

    return HeadWithBodyProtocol


def web_config(app: Any, settings: Settings, host: str, port: int) -> uvicorn.Config:
    """How `hypha web` (and so `hypha up`) serves `app`.

    uvicorn's own limits, stated rather than left to its defaults: idle keep-alive connections close
    after 5 s, and one request head (line + headers) may not exceed 16 KiB (h11 answers 400/431). It
    has no timeout for a head that arrives slowly: the reverse proxy must cut those (docs/scaling.md,
    deploy/nginx.conf).

    `X-Forwarded-For` / `X-Forwarded-Proto` are believed only from the proxies FORWARDED_ALLOW_IPS
    names. Left to itself uvicorn believes them from 127.0.0.1, so any client on the machine (or any
    proxy there that passes the header on) could claim a fresh address per request and step around
    every per-address limit: log-in, sign-up, password reset, the views and device cookies of visitors.
    """
    trusted = settings.forwarded_allow_ips.strip()
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted or "",
        access_log=False,
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=16 * 1024,
    )


class Server(uvicorn.Server):
    """Also hands each request the server's own `send`, below the middleware: event streams write
    their events straight to the connection (core/sse.py)."""

    def __init__(self, config: uvicorn.Config) -> None:
        if config.http == "auto" and (protocol := head_with_body_protocol()) is not None:
            config.http = protocol
        super().__init__(config)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.config.loaded_app = keep_server_send(self.config.loaded_app)
        await super().startup(sockets)
        # Everything imported and built so far lives as long as the process: collect the start-up's
        # garbage once, then leave the rest out of every later collection.
        gc.collect()
        gc.freeze()
        # A request frees what it made by reference counting (it makes no cycles: HyphaRequest), so the
        # young generation fills with the objects of requests still in flight, walked again at every
        # collection for nothing; a larger threshold walks them 14 times less often.
        gc.set_threshold(YOUNG_GENERATION_THRESHOLD, *gc.get_threshold()[1:])

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        end_open_streams()
        await super().shutdown(sockets)
