"""Payouts on real PostgreSQL: the ledger moves exactly as the states say, a failure returns the points,
concurrent requests pay once, the saq settle job, the monthly run, and Stripe Connect end to end on the
local fake.

Ledger entries are stamped by LedgerService's clock (now); the payout service runs on a frozen clock
eight days ahead, so those earnings are past the seven-day hold.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from injector import Binder, Injector, InstanceProvider, Module

from core.clock import Clock, FrozenClock
from core.db import Database
from core.di import bind_port, get_port
from core.events import EventBus
from core.ids import public_id
from core.jobs import MemoryJobQueue
from features.accounts.service import AccountService
from features.ledger.model import AccountRef, Leg
from features.ledger.service import LedgerService
from features.payouts.adapters.sandbox_gateway import SandboxPayoutGateway
from features.payouts.adapters.stripe_connect import StripeConnectGateway, make_client
from features.payouts.jobs import settle_sandbox_payouts, sweep_payouts
from features.payouts.model import BelowMinimum, PayoutPolicy, PayoutState, Trigger
from features.payouts.ports import (
    EarningsWindowStore,
    PayeeRepository,
    PayoutGateway,
    PayoutRepository,
    SandboxPayoutStore,
)
from features.payouts.sandbox import DEFAULT_DELAY, SandboxPayoutVendor
from features.payouts.service import PayoutService
from tests.fakes.fake_stripe_connect import ACCOUNT, API_KEY, WEBHOOK_SECRET, FakeStripeConnectServer

pytestmark = pytest.mark.filterwarnings("ignore:Use .content=.:DeprecationWarning")  # inside the stripe SDK


@dataclass
class World:
    pg: Injector
    db: Database
    clock: FrozenClock
    jobs: MemoryJobQueue
    vendor: SandboxPayoutVendor
    service: PayoutService
    ledger: LedgerService

    async def creator(self) -> UUID:
        user = await self.pg.get(AccountService).sign_up(f"{public_id()}@example.com", "long enough password")
        return user.id

    async def earn(self, creator: UUID, points: int, fee: int = 0) -> None:
        viewer, key = uuid4(), public_id()
        await self.ledger.transfer(
            f"buy-{key}", "purchase", [Leg(AccountRef.vendor_clearing(), AccountRef.wallet(viewer), points)]
        )
        legs = [Leg(AccountRef.wallet(viewer), AccountRef.earnings(creator), points)]
        if fee:
            legs.append(Leg(AccountRef.earnings(creator), AccountRef.platform_revenue(), fee))
        await self.ledger.transfer(f"unlock-{key}", "unlock", legs, {"memo": "Night trains"})

    async def balances(self, creator: UUID) -> tuple[int, int, int]:
        """(earnings, payouts in transit, vendor clearing)."""
        accounts = [AccountRef.earnings(creator), AccountRef.payouts_in_transit(), AccountRef.vendor_clearing()]
        found = await self.ledger.balances(accounts)
        return found[accounts[0]], found[accounts[1]], found[accounts[2]]

    async def events(self, creator: UUID) -> list[dict[str, Any]]:
        rows = await self.db.fetch(
            "SELECT data::text AS data FROM event_log WHERE topic = $1 AND name = 'payout' ORDER BY id",
            f"user:{creator}",
        )
        return [json.loads(r["data"]) for r in rows]


def make_world(pg: Injector, gateway: PayoutGateway | None = None, policy: PayoutPolicy | None = None) -> World:
    db = pg.get(Database)
    clock = FrozenClock(datetime.now(UTC) + timedelta(days=8))
    jobs = MemoryJobQueue()
    vendor = SandboxPayoutVendor(get_port(pg, SandboxPayoutStore), db, clock, jobs)
    service = PayoutService(
        get_port(pg, PayoutRepository),
        get_port(pg, PayeeRepository),
        get_port(pg, EarningsWindowStore),
        gateway or SandboxPayoutGateway(vendor),
        pg.get(LedgerService),
        get_port(pg, EventBus),
        db,
        clock,
        policy or PayoutPolicy(),
    )
    return World(pg, db, clock, jobs, vendor, service, pg.get(LedgerService))


@pytest.fixture
def world(pg: Injector) -> World:
    return make_world(pg)


def worker_ctx(world: World) -> dict[str, Any]:
    """A saq job context whose injector hands out this world's services (frozen clock included)."""

    class Wiring(Module):
        def configure(self, binder: Binder) -> None:
            binder.bind(SandboxPayoutVendor, to=InstanceProvider(world.vendor))
            binder.bind(PayoutService, to=InstanceProvider(world.service))
            bind_port(binder, Clock, world.clock)

    return {"injector": Injector([Wiring()])}


async def test_a_payout_from_request_to_paid_moves_the_ledger_exactly(world: World) -> None:
    creator = await world.creator()
    await world.earn(creator, 3000, fee=300)  # 2,700 net
    await world.earn(creator, 500)
    assert await world.balances(creator) == (3200, 0, -3500)

    payout = (await world.service.request_payout(creator, "click-1")).payout
    assert (payout.state, payout.points, payout.amount_minor, payout.currency) == (
        PayoutState.PROCESSING,
        3200,
        3200,
        "USD",
    )
    assert payout.vendor_ref is not None
    assert payout.vendor_ref.startswith("sbpo_")
    assert await world.balances(creator) == (0, 3200, -3500)

    world.clock.advance(DEFAULT_DELAY)
    (job,) = world.jobs.jobs
    assert (job.function, job.kwargs) == ("settle_sandbox_payouts", {"ref": payout.vendor_ref})
    assert await settle_sandbox_payouts(worker_ctx(world), **job.kwargs) == {"settled": 1}

    (paid,) = await world.service.statement(creator)
    assert (paid.state, paid.paid_at) == (PayoutState.PAID, world.clock.now())
    assert await world.balances(creator) == (0, 0, -300)  # the platform's fee is all that is left of the cash
    assert await world.ledger.balance(AccountRef.platform_revenue()) == 300
    assert await world.ledger.verify() == []

    trail = await world.service.payout_for(creator, payout.id)
    assert [
        (step, t.kind, [(leg.source, leg.destination, leg.amount) for leg in t.legs]) for step, t in trail.transfers
    ] == [
        ("request", "payout", [(AccountRef.earnings(creator), AccountRef.payouts_in_transit(), 3200)]),
        ("paid", "payout", [(AccountRef.payouts_in_transit(), AccountRef.vendor_clearing(), 3200)]),
    ]
    base = {"points": 3200, "amount_minor": 3200, "currency": "USD", "payout_id": str(payout.id)}
    assert await world.events(creator) == [{"state": s, **base} for s in ("REQUESTED", "PROCESSING", "PAID")]


async def test_a_failed_payout_returns_the_funds(world: World) -> None:
    creator = await world.creator()
    await world.earn(creator, 2500)
    await world.vendor.arm_failures(1)
    payout = (await world.service.request_payout(creator, "click-1")).payout
    assert await world.balances(creator) == (0, 2500, -2500)
    world.clock.advance(DEFAULT_DELAY)
    result = await sweep_payouts(worker_ctx(world))  # the minute sweep settles what the job missed
    assert result["settled"] == 1

    (failed,) = await world.service.statement(creator)
    assert failed.state is PayoutState.FAILED
    assert "bank refused" in failed.failure_reason
    assert await world.balances(creator) == (2500, 0, -2500)
    assert (await world.service.availability(creator)).available == 2500  # back at once, no new hold
    assert [e["state"] for e in await world.events(creator)] == ["REQUESTED", "PROCESSING", "FAILED"]
    steps = [step for step, _ in (await world.service.payout_for(creator, payout.id)).transfers]
    assert steps == ["request", "failed"]
    assert await world.ledger.verify() == []

    again = await world.service.request_payout(creator, "click-2")  # the next one goes through
    assert again.payout.state is PayoutState.PROCESSING


async def test_a_double_request_makes_one_payout(world: World) -> None:
    creator = await world.creator()
    await world.earn(creator, 4000)
    same_key = await asyncio.gather(*(world.service.request_payout(creator, "click-1") for _ in range(5)))
    assert len({o.payout.id for o in same_key}) == 1
    assert sum(not o.replayed for o in same_key) == 1

    await world.earn(creator, 4000)
    fresh_keys = await asyncio.gather(
        *(world.service.request_payout(creator, f"click-{n}") for n in range(2, 8)), return_exceptions=True
    )
    made = [o for o in fresh_keys if not isinstance(o, BaseException)]
    refused = [o for o in fresh_keys if isinstance(o, BaseException)]
    assert len(made) == 1
    assert all(isinstance(e, BelowMinimum) for e in refused)
    assert len(refused) == 5
    assert [p.points for p in await world.service.statement(creator)] == [4000, 4000]
    assert await world.balances(creator) == (0, 8000, -8000)
    assert len(world.jobs.jobs) == 2  # two vendor payouts, no more
    assert await world.ledger.verify() == []


async def test_the_monthly_run_pays_enrolled_creators_above_the_minimum_once(world: World) -> None:
    rich, poor = await world.creator(), await world.creator()
    await world.earn(rich, 2600)
    await world.earn(poor, 10)
    for creator in (rich, poor):
        await world.service.overview(creator)
    report = await world.service.run_monthly()
    assert (report.requested, report.skipped, report.failed) == (1, 1, 0)
    (payout,) = await world.service.statement(rich)
    assert payout.trigger is Trigger.MONTHLY
    assert (await world.service.run_monthly()).requested == 0
    assert await world.service.statement(poor) == []


@pytest.fixture(scope="module")
def stripe_server() -> Iterator[FakeStripeConnectServer]:
    server = FakeStripeConnectServer()
    with server:
        yield server


async def test_stripe_connect_end_to_end_on_the_fake_with_its_webhooks(
    pg: Injector, stripe_server: FakeStripeConnectServer
) -> None:
    fake = stripe_server.state
    gateway = StripeConnectGateway(
        make_client(API_KEY, stripe_server.url, 0),
        get_port(pg, PayeeRepository),
        WEBHOOK_SECRET,
    )
    world = make_world(pg, gateway, PayoutPolicy(needs_connected_account=True))
    creator = await world.creator()
    await world.earn(creator, 2000)
    await world.service.set_stripe_account(creator, ACCOUNT)

    first = (await world.service.request_payout(creator, "click-1")).payout
    assert first.vendor_ref is not None
    fake.settle(first.vendor_ref.split("/")[1])
    body, headers = fake.signed_event("payout.paid", first.vendor_ref.split("/")[1])
    assert await world.service.handle_webhook(body, headers) == "PAID"
    assert await world.service.handle_webhook(body, headers) == "PAID"  # a redelivery changes nothing
    assert await world.balances(creator) == (0, 0, 0)

    await world.earn(creator, 2000)
    platform = fake.platform_balance
    second = (await world.service.request_payout(creator, "click-2")).payout
    assert second.vendor_ref is not None
    fake.settle(second.vendor_ref.split("/")[1], paid=False)
    body, headers = fake.signed_event("payout.failed", second.vendor_ref.split("/")[1])
    assert await world.service.handle_webhook(body, headers) == "FAILED"
    assert fake.platform_balance == platform  # the transfer was reversed before the points came back
    assert await world.balances(creator) == (2000, 0, -2000)
    assert await world.ledger.verify() == []
