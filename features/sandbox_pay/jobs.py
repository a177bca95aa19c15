"""The sandbox vendor's retry sweep: webhooks the web process could not deliver at once."""

from __future__ import annotations

from typing import Any

from core.settings import Settings
from core.worker import injector_from
from features.sandbox_pay.delivery import WEBHOOK_PATH, HttpxWebhookSender
from features.sandbox_pay.service import SandboxVendor


async def deliver_sandbox_webhooks(ctx: dict[str, Any]) -> dict[str, int]:
    injector = injector_from(ctx)
    settings = injector.get(Settings)
    vendor = injector.get(SandboxVendor)
    report = await vendor.deliver(HttpxWebhookSender(settings.public_url.rstrip("/") + WEBHOOK_PATH))
    return {"delivered": report.delivered, "failed": report.failed}
