"""saq jobs of portability: thin — fetch the service from the worker's injector and call it."""

from __future__ import annotations

from typing import Any

from core.worker import injector_from
from features.portability.service import PortabilityService


async def record_roots(ctx: Any) -> dict[str, int]:
    """Every minute: store the IPFS root of each video that became ready or published."""
    return {"roots": await injector_from(ctx).get(PortabilityService).record_new_roots()}
