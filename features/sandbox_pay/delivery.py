"""How webhooks leave the sandbox vendor: over HTTP with httpx, or handed to a callable in memory.

The web process that took the payer's click delivers at once, in-process through the app's own
front door (an httpx ASGI transport: the full middleware, routing and signature check, no network).
The worker's sweep retries over the network to `PUBLIC_URL/webhooks/payments`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from features.sandbox_pay.service import SandboxVendor

if TYPE_CHECKING:
    import httpx  # imported where used: httpx brings its CLI (rich, click, pygments) to every process

WEBHOOK_PATH = "/webhooks/payments"


class HttpxWebhookSender:
    """Posts to `url` with an httpx client (a network one, or one on an ASGI transport)."""

    def __init__(self, url: str, client: httpx.AsyncClient | None = None, timeout: float = 10.0) -> None:
        self.url = url
        self.client = client
        self.timeout = timeout

    async def post(self, body: bytes, headers: Mapping[str, str]) -> int:
        import httpx

        try:
            if self.client is not None:
                response = await self.client.post(self.url, content=body, headers=dict(headers), timeout=self.timeout)
            else:
                async with httpx.AsyncClient(timeout=self.timeout) as client:
                    response = await client.post(self.url, content=body, headers=dict(headers))
        except httpx.TransportError as error:
            raise ConnectionError(str(error) or type(error).__name__) from error
        return response.status_code


def in_process_sender(app: Any) -> HttpxWebhookSender:
    """A sender that knocks on this very app's webhook endpoint without leaving the process."""
    import httpx

    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox-pay.internal")
    return HttpxWebhookSender(WEBHOOK_PATH, client)


@dataclass
class MemoryWebhookSender:
    """Hands each webhook to `receive` (e.g. the wallet's webhook use case) and records what it sent."""

    receive: Callable[[bytes, Mapping[str, str]], Awaitable[int]] | None = None
    status: int = 200
    sent: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)

    async def post(self, body: bytes, headers: Mapping[str, str]) -> int:
        self.sent.append((body, dict(headers)))
        if self.receive is not None:
            return await self.receive(body, headers)
        return self.status


async def deliver_in_process(vendor: SandboxVendor, app: Any, ids: list[int]) -> None:
    """Deliver the webhooks `ids` right now through the app itself (run after the response is sent)."""
    if not ids:
        return
    sender = in_process_sender(app)
    try:
        await vendor.deliver(sender, ids)
    finally:
        if sender.client is not None:
            await sender.client.aclose()
