"""A live Hypha for tests that need real sockets: uvicorn in the test's event loop."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from injector import Injector

from core.server import Server
from core.settings import Settings
from features.bootstrap import create_app


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@asynccontextmanager
async def live_app(settings: Settings, injector: Injector) -> AsyncIterator[str]:
    """Serve the whole app on a free port; yields its base URL and stops it afterwards."""
    port = free_port()
    app = create_app(settings, injector)
    server = Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started, "the live server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
