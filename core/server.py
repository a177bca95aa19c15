"""uvicorn, taught to end the open event streams when it shuts down.

uvicorn's graceful shutdown waits for every response in flight to finish; an SSE stream never does,
so a web process with a studio tab open would hang on SIGTERM until killed. Ending the streams first
lets each finish its response; browsers reconnect (with Last-Event-ID) to the next process.
"""

from __future__ import annotations

import socket

import uvicorn

from core.sse import end_open_streams, keep_server_send


class Server(uvicorn.Server):
    """Also hands each request the server's own `send`, below the middleware: event streams write
    their events straight to the connection (core/sse.py)."""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        self.config.loaded_app = keep_server_send(self.config.loaded_app)
        await super().startup(sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        end_open_streams()
        await super().shutdown(sockets)
