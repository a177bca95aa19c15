"""saq jobs of gifts: thin — fetch the service from the worker's injector and call it."""

from __future__ import annotations

from typing import Any

from core.worker import injector_from
from features.gifts.service import GiftService


async def settle_gifts(ctx: Any) -> int:
    """Every 10 minutes: return the expired gifts to their senders, and mail again the unannounced ones."""
    service = injector_from(ctx).get(GiftService)
    returned = await service.return_expired()
    await service.mail_unannounced()
    return len(returned)
