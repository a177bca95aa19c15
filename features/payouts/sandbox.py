"""The built-in sandbox payout vendor: pays every payout a few seconds after it is created, unless a
staff member armed a failure on its console (/staff/payouts). Its records live in PostgreSQL, so any
web process or worker can answer for any payout; a saq job settles each payout after the delay, and
the payouts sweep settles whatever that job missed."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from uuid import UUID

from core.clock import Clock
from core.ids import public_id
from core.jobs import JobQueue
from core.uow import UnitOfWork
from features.payouts.model import PayoutNotFound, PayoutRejected
from features.payouts.ports import SandboxPayoutStore
from features.payouts.sandbox_model import FAILED, PAID, PENDING, SandboxPayout

log = logging.getLogger(__name__)

SETTLE_JOB = "settle_sandbox_payouts"
DEFAULT_DELAY = timedelta(seconds=3)
FAILURE_REASON = "The bank refused the payout (sandbox: a failure was armed on the console)."


class SandboxPayoutVendor:
    def __init__(
        self, store: SandboxPayoutStore, uow: UnitOfWork, clock: Clock, jobs: JobQueue, delay: timedelta = DEFAULT_DELAY
    ) -> None:
        self.store = store
        self.uow = uow
        self.clock = clock
        self.jobs = jobs
        self.delay = delay

    async def create(self, idempotency_key: str, creator_id: UUID, amount_minor: int, currency: str) -> SandboxPayout:
        """Accept a payout (pending); the same key returns the same payout. An armed failure is used up
        by the first new payout, which will fail when it settles. Raises PayoutRejected for a
        non-positive amount."""
        if amount_minor <= 0:
            raise PayoutRejected("The sandbox pays out positive amounts only.")
        now = self.clock.now()
        candidate = SandboxPayout(
            ref="sbpo_" + public_id(20),
            idempotency_key=idempotency_key,
            creator_id=creator_id,
            amount_minor=amount_minor,
            currency=currency.upper(),
            status=PENDING,
            created_at=now,
            settle_at=now + self.delay,
        )
        async with self.uow.atomic():
            payout, new = await self.store.add(candidate)
            if new and await self.store.take_failure():
                await self.store.mark_to_fail(payout.ref, FAILURE_REASON)
                payout = replace(payout, failure_reason=FAILURE_REASON)
        if new:
            try:
                await self.jobs.enqueue(SETTLE_JOB, key=f"sandbox-payout:{payout.ref}", timeout=60, ref=payout.ref)
            except Exception:  # the sweep settles it a minute later; a queue hiccup must not fail the payout
                log.warning("could not queue the settle job of sandbox payout %s", payout.ref, exc_info=True)
        return payout

    async def payout(self, ref: str) -> SandboxPayout:
        """Raises PayoutNotFound."""
        found = await self.store.get(ref)
        if found is None:
            raise PayoutNotFound()
        return found

    async def settle_due(self) -> list[str]:
        """Pay (or fail, if armed) every pending payout whose delay is over; returns their refs."""
        now = self.clock.now()
        settled: list[str] = []
        for payout in await self.store.due(now):
            await self.store.settle(payout.ref, FAILED if payout.failure_reason else PAID, now)
            settled.append(payout.ref)
        return settled

    async def arm_failures(self, count: int) -> int:
        """Make the next `count` payouts fail (0 disarms)."""
        return await self.store.arm_failures(max(0, min(count, 100)))

    async def armed_failures(self) -> int:
        return await self.store.armed_failures()

    async def recent(self, limit: int = 50) -> list[SandboxPayout]:
        return await self.store.recent(limit)
