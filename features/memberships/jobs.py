"""saq jobs of memberships: thin — fetch the service from the worker's injector and call it."""

from __future__ import annotations

from typing import Any

from core.worker import injector_from
from features.memberships.service import MembershipService


async def renew_memberships(ctx: Any) -> dict[str, int]:
    """Every ten minutes: remind, renew, lapse and end the memberships that are due."""
    return await injector_from(ctx).get(MembershipService).run_renewals()
