"""The hourly reconciliation of the vendor's payments with the ledger."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from core.clock import Clock
from core.di import get_port
from core.worker import injector_from
from features.wallet.service import WalletService

# Look back two days (a run that failed is covered by the next ones); leave the last minutes to the
# webhooks, which normally land within seconds.
LOOKBACK = timedelta(days=2)
SETTLE = timedelta(minutes=10)


async def reconcile_payments(ctx: dict[str, Any]) -> dict[str, int]:
    injector = injector_from(ctx)
    now = get_port(injector, Clock).now()
    run = await injector.get(WalletService).reconcile(now - LOOKBACK, now - SETTLE)
    return {"payments": run.payments_checked, "findings": len(run.findings), "healed": run.healed}
