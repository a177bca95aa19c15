"""The PayoutGateway contract, run against the in-memory adapter, the sandbox payout vendor (in memory
and on PostgreSQL) and the Stripe Connect adapter talking through the official SDK to a local fake of
Stripe's API (tests/fakes/fake_stripe_connect.py).

Each adapter comes with a driver that plays the bank: it settles a payout paid or failed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID, uuid4

import pytest
import stripe
from injector import Injector

from core.clock import FrozenClock
from core.db import Database
from core.jobs import MemoryJobQueue
from core.uow import MemoryUnitOfWork
from features.payouts.adapters.memory_gateway import MemoryPayoutGateway
from features.payouts.adapters.records import (
    MemoryPayeeRepository,
    MemorySandboxPayoutStore,
    PostgresSandboxPayoutStore,
)
from features.payouts.adapters.sandbox_gateway import SandboxPayoutGateway
from features.payouts.adapters.stripe_connect import StripeConnectGateway, make_client
from features.payouts.model import (
    InvalidSignature,
    Payee,
    PayoutNotFound,
    PayoutRejected,
    VendorStatus,
)
from features.payouts.ports import PayoutGateway, SandboxPayoutStore
from features.payouts.sandbox import DEFAULT_DELAY, SETTLE_JOB, SandboxPayoutVendor
from tests.fakes.fake_stripe_connect import (
    ACCOUNT,
    API_KEY,
    WEBHOOK_SECRET,
    FakeStripeConnect,
    FakeStripeConnectServer,
    stripe_signature,
)

pytestmark = pytest.mark.filterwarnings("ignore:Use .content=.:DeprecationWarning")  # inside the stripe SDK


@dataclass
class Driver:
    """An adapter, the bank's hands on the vendor's side, and a creator who can be paid."""

    gateway: PayoutGateway
    creator: UUID
    settle: Callable[[str, bool], Awaitable[None]]  # the bank pays (True) or refuses (False)
    webhook: Callable[[str], tuple[bytes, dict[str, str]]] | None  # a signed webhook about a ref, if it sends any


def memory_driver() -> Driver:
    gateway = MemoryPayoutGateway()

    async def settle(ref: str, paid: bool) -> None:
        gateway.settle(ref, paid=paid)

    return Driver(gateway, uuid4(), settle, gateway.webhook)


def sandbox_driver(store: SandboxPayoutStore, uow: object, creator: UUID) -> Driver:
    clock = FrozenClock()
    jobs = MemoryJobQueue()
    vendor = SandboxPayoutVendor(store, uow, clock, jobs)  # type: ignore[arg-type]

    async def settle(ref: str, paid: bool) -> None:
        assert any(job.function == SETTLE_JOB and job.kwargs == {"ref": ref} for job in jobs.jobs)
        if not paid:
            await vendor.arm_failures(0)
            await store.mark_to_fail(ref, "The bank refused the payout.")  # as an armed failure does
        assert await vendor.settle_due() == []  # not before the delay
        clock.advance(DEFAULT_DELAY)
        assert ref in await vendor.settle_due()

    return Driver(SandboxPayoutGateway(vendor), creator, settle, None)


def stripe_driver(fake: FakeStripeConnect, url: str) -> Driver:
    payees = MemoryPayeeRepository()
    creator = uuid4()
    payees.payees[creator] = Payee(creator, ACCOUNT)
    gateway = StripeConnectGateway(make_client(API_KEY, url, max_network_retries=0), payees, WEBHOOK_SECRET)

    async def settle(ref: str, paid: bool) -> None:
        fake.settle(ref.split("/")[1], paid=paid)

    def webhook(ref: str) -> tuple[bytes, dict[str, str]]:
        return fake.signed_event("payout.paid", ref.split("/")[1])

    return Driver(gateway, creator, settle, webhook)


@pytest.fixture(scope="module")
def stripe_server() -> Iterator[FakeStripeConnectServer]:
    server = FakeStripeConnectServer()
    with server:
        yield server


@pytest.fixture(params=["memory", "sandbox-memory", "sandbox-postgres", "stripe"])
def vendor(request: pytest.FixtureRequest, stripe_server: FakeStripeConnectServer) -> Driver:
    if request.param == "memory":
        return memory_driver()
    if request.param == "sandbox-memory":
        return sandbox_driver(MemorySandboxPayoutStore(), MemoryUnitOfWork(), uuid4())
    if request.param == "sandbox-postgres":
        pg: Injector = request.getfixturevalue("pg")  # only these params pay for a database
        db = pg.get(Database)
        return sandbox_driver(PostgresSandboxPayoutStore(db), db, uuid4())
    return stripe_driver(stripe_server.state, stripe_server.url)


async def test_a_payout_is_created_once_per_key_and_starts_pending(vendor: Driver) -> None:
    key = f"payout:{uuid4()}"
    first = await vendor.gateway.create_payout(key, vendor.creator, 2500, "USD")
    again = await vendor.gateway.create_payout(key, vendor.creator, 2500, "USD")
    assert first == again
    assert first.status is VendorStatus.PENDING
    assert first.ref
    assert await vendor.gateway.fetch_payout(first.ref) == first
    other = await vendor.gateway.create_payout(f"payout:{uuid4()}", vendor.creator, 2500, "USD")
    assert other.ref != first.ref


async def test_a_paid_payout_reads_paid(vendor: Driver) -> None:
    payout = await vendor.gateway.create_payout(f"payout:{uuid4()}", vendor.creator, 2000, "USD")
    await vendor.settle(payout.ref, True)
    seen = await vendor.gateway.fetch_payout(payout.ref)
    assert (seen.ref, seen.status, seen.failure_reason) == (payout.ref, VendorStatus.PAID, "")


async def test_a_failed_payout_reads_failed_with_a_reason_and_its_money_can_be_returned(vendor: Driver) -> None:
    payout = await vendor.gateway.create_payout(f"payout:{uuid4()}", vendor.creator, 2000, "USD")
    await vendor.settle(payout.ref, False)
    seen = await vendor.gateway.fetch_payout(payout.ref)
    assert seen.status is VendorStatus.FAILED
    assert seen.failure_reason
    key = f"payout:{uuid4()}:return"
    await vendor.gateway.return_funds(key, payout.ref)
    await vendor.gateway.return_funds(key, payout.ref)  # once per key: a retry is harmless


async def test_a_non_positive_amount_is_refused(vendor: Driver) -> None:
    with pytest.raises(PayoutRejected):
        await vendor.gateway.create_payout(f"payout:{uuid4()}", vendor.creator, 0, "USD")


async def test_an_unknown_payout_is_not_found(vendor: Driver) -> None:
    unknown = "acct_1FakeConnected01/po_test99999999" if isinstance(vendor.gateway, StripeConnectGateway) else "nope"
    with pytest.raises(PayoutNotFound):
        await vendor.gateway.fetch_payout(unknown)
    with pytest.raises(PayoutNotFound):
        await vendor.gateway.fetch_payout("garbage")


async def test_a_forged_webhook_is_refused_and_a_signed_one_names_the_payout(vendor: Driver) -> None:
    with pytest.raises(InvalidSignature):
        await vendor.gateway.parse_webhook(b'{"id": "evt_1", "type": "payout.paid"}', {"stripe-signature": "t=1,v1=0"})
    with pytest.raises(InvalidSignature):
        await vendor.gateway.parse_webhook(b"{}", {})
    if vendor.webhook is None:
        return  # the sandbox sends none: its settle job tells Hypha directly
    payout = await vendor.gateway.create_payout(f"payout:{uuid4()}", vendor.creator, 2000, "USD")
    body, headers = vendor.webhook(payout.ref)
    assert (await vendor.gateway.parse_webhook(body, headers)).ref == payout.ref
    with pytest.raises(InvalidSignature):
        await vendor.gateway.parse_webhook(body.replace(b'"id"', b'"Id"', 1), headers)


# --- the sandbox only: the staff switch ----------------------------------------------------------------


@pytest.fixture(params=["memory", "postgres"])
def sandbox_store(request: pytest.FixtureRequest) -> tuple[SandboxPayoutStore, object]:
    if request.param == "memory":
        return MemorySandboxPayoutStore(), MemoryUnitOfWork()
    db = request.getfixturevalue("pg").get(Database)
    return PostgresSandboxPayoutStore(db), db


async def test_an_armed_failure_makes_only_the_next_sandbox_payout_fail(
    sandbox_store: tuple[SandboxPayoutStore, object],
) -> None:
    store, uow = sandbox_store
    clock = FrozenClock()
    vendor = SandboxPayoutVendor(store, uow, clock, MemoryJobQueue())  # type: ignore[arg-type]
    assert await vendor.armed_failures() == 0
    assert await vendor.arm_failures(1) == 1
    doomed = await vendor.create("k-1", uuid4(), 2000, "usd")
    assert await vendor.create("k-1", uuid4(), 2000, "usd") == doomed  # the retry uses nothing up
    fine = await vendor.create("k-2", uuid4(), 2000, "usd")
    assert await vendor.armed_failures() == 0
    clock.advance(timedelta(seconds=5))
    assert sorted(await vendor.settle_due()) == sorted([doomed.ref, fine.ref])
    gateway = SandboxPayoutGateway(vendor)
    assert (await gateway.fetch_payout(doomed.ref)).status is VendorStatus.FAILED
    assert (await gateway.fetch_payout(fine.ref)).status is VendorStatus.PAID
    assert doomed.currency == "USD"
    assert [p.ref for p in await vendor.recent(5)][:2] in ([fine.ref, doomed.ref], [doomed.ref, fine.ref])


# --- Stripe only: the SDK's requests are the documented ones ------------------------------------------


async def test_the_stripe_adapter_transfers_to_the_connected_account_then_pays_it_out(
    stripe_server: FakeStripeConnectServer,
) -> None:
    fake = stripe_server.state
    driver = stripe_driver(fake, stripe_server.url)
    platform_before = fake.platform_balance
    payout = await driver.gateway.create_payout("payout:abc", driver.creator, 2500, "USD")
    transfer, create = [r for r in fake.requests if r.method == "POST"][-2:]
    assert (transfer.path, create.path) == ("/v1/transfers", "/v1/payouts")
    assert transfer.headers["authorization"] == f"Bearer {API_KEY}"
    assert transfer.headers["idempotency-key"] == "payout:abc:transfer"
    assert "stripe-account" not in transfer.headers  # the platform's own call
    assert transfer.params["destination"] == ACCOUNT
    assert (transfer.params["amount"], transfer.params["currency"]) == ("2500", "usd")
    assert transfer.params["metadata[creator_id]"] == str(driver.creator)
    assert create.headers["stripe-account"] == ACCOUNT
    assert create.headers["idempotency-key"] == "payout:abc:payout"
    assert (create.params["amount"], create.params["currency"]) == ("2500", "usd")
    assert create.params["metadata[transfer]"].startswith("tr_")
    assert payout.ref.startswith(f"{ACCOUNT}/po_")
    assert fake.platform_balance == platform_before - 2500

    await driver.gateway.fetch_payout(payout.ref)
    read = fake.requests[-1]
    po = payout.ref.split("/")[1]
    assert (read.method, read.path, read.headers["stripe-account"]) == ("GET", f"/v1/payouts/{po}", ACCOUNT)


async def test_a_failed_stripe_payout_is_reversed_so_the_money_is_back_with_the_platform(
    stripe_server: FakeStripeConnectServer,
) -> None:
    fake = stripe_server.state
    driver = stripe_driver(fake, stripe_server.url)
    platform_before = fake.platform_balance
    payout = await driver.gateway.create_payout(f"payout:{uuid4()}", driver.creator, 1200, "USD")
    fake.settle(payout.ref.split("/")[1], paid=False)
    assert (await driver.gateway.fetch_payout(payout.ref)).failure_reason == "The bank account has been closed."
    await driver.gateway.return_funds("payout:x:return", payout.ref)
    reversal = fake.requests[-1]
    assert (reversal.method, reversal.headers["idempotency-key"]) == ("POST", "payout:x:return")
    assert reversal.path.endswith("/reversals")
    assert fake.platform_balance == platform_before
    await driver.gateway.return_funds("payout:x:return", payout.ref)  # replayed by key: reversed once
    assert fake.platform_balance == platform_before


async def test_stripe_refuses_a_payout_to_an_unknown_account_or_a_creator_without_one(
    stripe_server: FakeStripeConnectServer,
) -> None:
    fake = stripe_server.state
    payees = MemoryPayeeRepository()
    stranger, nobody = uuid4(), uuid4()
    payees.payees[stranger] = Payee(stranger, "acct_1NotConnected99")
    gateway = StripeConnectGateway(make_client(API_KEY, stripe_server.url, 0), payees, WEBHOOK_SECRET)
    sent = len(fake.payouts)
    with pytest.raises(PayoutRejected, match="Stripe refused"):
        await gateway.create_payout(f"payout:{uuid4()}", stranger, 2000, "USD")
    with pytest.raises(PayoutRejected, match="No Stripe account"):
        await gateway.create_payout(f"payout:{uuid4()}", nobody, 2000, "USD")
    assert len(fake.payouts) == sent


async def test_a_stale_stripe_webhook_and_one_about_something_else_are_told_apart(
    stripe_server: FakeStripeConnectServer,
) -> None:
    fake = stripe_server.state
    driver = stripe_driver(fake, stripe_server.url)
    payout = await driver.gateway.create_payout(f"payout:{uuid4()}", driver.creator, 2000, "USD")
    po = payout.ref.split("/")[1]
    body, _ = fake.signed_event("payout.failed", po)
    stale = stripe_signature(body, timestamp=int(time.time()) - 301)
    with pytest.raises(InvalidSignature):
        await driver.gateway.parse_webhook(body, {"stripe-signature": stale})
    body, headers = fake.signed_event("account.updated", po)
    notice = await driver.gateway.parse_webhook(body, headers)
    assert notice.ref is None
    assert notice.event_id.startswith("evt_")


async def test_a_wrong_stripe_key_is_not_mistaken_for_a_refusal(stripe_server: FakeStripeConnectServer) -> None:
    payees = MemoryPayeeRepository()
    creator = uuid4()
    payees.payees[creator] = Payee(creator, ACCOUNT)
    gateway = StripeConnectGateway(make_client("sk_test_wrong", stripe_server.url, 0), payees, WEBHOOK_SECRET)
    with pytest.raises(stripe.AuthenticationError):
        await gateway.create_payout("k", creator, 2000, "USD")
