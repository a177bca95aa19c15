"""saq jobs of payouts: thin — fetch the services from the worker's injector and call them."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from core.clock import Clock
from core.di import get_port
from core.worker import injector_from
from features.payouts.model import PayoutNotFound
from features.payouts.sandbox import SandboxPayoutVendor
from features.payouts.service import PayoutService

log = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 10.0


async def settle_and_apply(vendor: SandboxPayoutVendor, payouts: PayoutService) -> int:
    """Settle the sandbox payouts that are due and tell PayoutService about each (the sandbox's
    stand-in for a webhook). Returns how many were settled."""
    settled = await vendor.settle_due()
    for ref in settled:
        await payouts.refresh_by_ref(ref)
    return len(settled)


async def settle_sandbox_payouts(ctx: dict[str, Any], *, ref: str = "") -> dict[str, int]:
    """Queued by the sandbox vendor for each new payout: wait out its short delay, then settle."""
    injector = injector_from(ctx)
    vendor = injector.get(SandboxPayoutVendor)
    if ref:
        try:
            payout = await vendor.payout(ref)
        except PayoutNotFound:
            log.warning("settle job for unknown sandbox payout %s", ref)
        else:
            wait = (payout.settle_at - get_port(injector, Clock).now()).total_seconds()
            if wait > 0:
                await asyncio.sleep(min(wait, MAX_WAIT_SECONDS))
    return {"settled": await settle_and_apply(vendor, injector.get(PayoutService))}


async def sweep_payouts(ctx: dict[str, Any]) -> dict[str, int]:
    """Every minute: settle due sandbox payouts, resubmit stuck ones, re-check those still on their way."""
    injector = injector_from(ctx)
    payouts = injector.get(PayoutService)
    sandbox = payouts.gateway_name == "sandbox"  # the sandbox vendor is part of the app only then
    settled = await settle_and_apply(injector.get(SandboxPayoutVendor), payouts) if sandbox else 0
    report = await payouts.sweep()
    return {"settled": settled, "submitted": report.submitted, "rechecked": report.rechecked, "changed": report.changed}


async def monthly_payouts(ctx: dict[str, Any]) -> dict[str, int]:
    """On the 1st of each month: pay out every enrolled creator above the minimum."""
    report = await injector_from(ctx).get(PayoutService).run_monthly()
    return {"requested": report.requested, "skipped": report.skipped, "failed": report.failed}
