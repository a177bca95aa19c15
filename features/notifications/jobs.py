"""saq jobs of notifications: thin — fetch the service from the worker's injector and call it."""

from __future__ import annotations

from typing import Any

from core.worker import injector_from
from features.notifications.service import NotificationService


async def send_notifications(ctx: Any) -> int:
    """Every minute: mail what new events call for and retry failed mail that is due."""
    return await injector_from(ctx).get(NotificationService).process_new_events()
