"""saq jobs of the dashboard: thin — fetch the service from the worker's injector and call it."""

from __future__ import annotations

from typing import Any

from core.worker import injector_from
from features.dashboard.service import DashboardService


async def refresh_viewers(ctx: Any) -> int:
    """Every 10 s: take in new heartbeats and publish the "watching now" counts that changed."""
    return len(await injector_from(ctx).get(DashboardService).refresh_viewers())
