"""saq jobs of analytics: thin — fetch the service from the worker's injector and call it."""

from __future__ import annotations

from typing import Any

from core.worker import injector_from
from features.analytics.service import AnalyticsService


async def fold_analytics(ctx: Any) -> dict[str, int]:
    """Every minute: fold new heartbeats and new sales and tips into the per-day aggregates."""
    report = await injector_from(ctx).get(AnalyticsService).fold()
    return {"heartbeats": report.heartbeats, "events": report.events}
