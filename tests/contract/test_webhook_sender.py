"""The WebhookSender contract: the webhook arrives byte for byte with its headers, and the receiver's
status comes back — over HTTP (httpx, to a local server) and in memory."""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from features.sandbox_pay.delivery import HttpxWebhookSender, MemoryWebhookSender
from features.sandbox_pay.ports import WebhookSender

Received = list[tuple[bytes, dict[str, str]]]


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[str, Received]]:
    received: Received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append((body, {k.lower(): v for k, v in self.headers.items()}))
            self.send_response(202 if self.path == "/webhooks/payments" else 404)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(params=["memory", "httpx"])
async def sender(request: pytest.FixtureRequest, receiver: tuple[str, Received]) -> AsyncIterator[WebhookSender]:
    url, received = receiver
    if request.param == "memory":

        async def receive(body: bytes, headers: Any) -> int:
            received.append((body, {k.lower(): v for k, v in headers.items()}))
            return 202

        yield MemoryWebhookSender(receive=receive)
        return
    yield HttpxWebhookSender(f"{url}/webhooks/payments")


async def test_the_webhook_arrives_intact_and_the_receivers_status_comes_back(
    sender: WebhookSender, receiver: tuple[str, Received]
) -> None:
    _, received = receiver
    received.clear()
    body = b'{"id":"evt_1","type":"payment.succeeded"}'
    status = await sender.post(body, {"Hypha-Sandbox-Signature": "t=1,v1=ab", "content-type": "application/json"})
    assert status == 202
    [(got_body, got_headers)] = received
    assert got_body == body
    assert got_headers["hypha-sandbox-signature"] == "t=1,v1=ab"


async def test_an_unreachable_endpoint_raises_a_connection_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        with pytest.raises(ConnectionError):
            await HttpxWebhookSender(f"http://127.0.0.1:{port}/webhooks/payments", timeout=2).post(b"{}", {})
