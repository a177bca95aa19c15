"""What the fake Stripe APIs share: the wire (form-encoded requests, JSON answers on a local HTTP
server), recorded requests, Stripe's error shape and its webhook signature."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import parse_qsl, urlsplit

Answer = tuple[int, dict[str, Any]]


@dataclass
class Recorded:
    method: str
    path: str
    params: dict[str, str]
    headers: dict[str, str]


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header as Stripe documents it: t=<unix>,v1=HMAC-SHA256(secret, "<t>.<payload>")."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def stripe_error(kind: str, message: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message, "code": code}}


def parse_request(method: str, target: str, body: str, headers: dict[str, str]) -> Recorded:
    """Path and parameters: the query string of a GET, the form-encoded body otherwise."""
    url = urlsplit(target)
    params = dict(parse_qsl(url.query if method == "GET" else body, keep_blank_values=True))
    return Recorded(method, url.path, params, headers)


class Handles(Protocol):
    def handle(self, method: str, target: str, body: str, headers: dict[str, str]) -> Answer: ...


StateT = TypeVar("StateT", bound=Handles)


class FakeHttpServer(Generic[StateT]):
    """`with Server(state) as fake:` serves `state.handle` on http://127.0.0.1:<free port>."""

    def __init__(self, state: StateT, request_id: str) -> None:
        self.state = state

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, payload = state.handle(self.command, self.path, body, headers)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.send_header("request-id", request_id)
                self.end_headers()
                self.wfile.write(data)

            do_GET = _answer  # noqa: N815 — the name http.server calls
            do_POST = _answer  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> StateT:
        self.thread.start()
        return self.state

    def __exit__(self, *_exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)
