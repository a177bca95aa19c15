"""The PaymentGateway contract, run against the sandbox vendor (in memory and on PostgreSQL) and the
Stripe adapter talking through the official SDK to a local fake of Stripe's API.

Each adapter comes with a driver that plays the payer and the bank, and hands back the vendor's
webhook body; the tests sign webhooks themselves with the documented scheme
(`t=<unix>,v1=hex(HMAC-SHA256(secret, "<t>.<body>"))`), so a product bug in signing cannot hide.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from injector import Injector

from core.clock import SystemClock
from core.db import Database
from core.uow import MemoryUnitOfWork
from features.sandbox_pay.adapters import MemorySandboxStore, PostgresSandboxStore
from features.sandbox_pay.ports import SandboxStore
from features.sandbox_pay.service import SandboxVendor
from features.wallet.adapters.sandbox_gateway import SandboxGateway
from features.wallet.adapters.stripe_gateway import StripeGateway, make_client
from features.wallet.model import (
    InvalidSignature,
    Pack,
    PaymentNotFound,
    PaymentStatus,
    ReversalKind,
)
from features.wallet.ports import PaymentGateway
from tests.fakes.fake_stripe import API_KEY, WEBHOOK_SECRET, FakeStripe, FakeStripeServer

pytestmark = pytest.mark.filterwarnings("ignore:Use .content=.:DeprecationWarning")  # inside the stripe SDK

PACK = Pack("p550", 550, 500, "USD")
SANDBOX_SECRET = "whsec_contract_sandbox"


def signature(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


@dataclass
class Driver:
    """An adapter, and the hands of the payer and the bank on the vendor's side."""

    gateway: PaymentGateway
    secret: str
    header: str
    complete: Callable[[str], Awaitable[bytes]]  # the payer pays; returns the vendor's webhook body
    dispute: Callable[[str], Awaitable[bytes]]  # the bank disputes; returns the webhook body
    refund_event: Callable[[str], Awaitable[bytes]]  # the webhook body the vendor sends after a refund
    win: Callable[[str], Awaitable[bytes]]  # the merchant wins the dispute; returns the webhook body

    def signed(self, body: bytes, age: int = 0) -> dict[str, str]:
        return {self.header: signature(self.secret, body, int(time.time()) - age), "content-type": "application/json"}


def sandbox_driver(store: SandboxStore, uow: object) -> Driver:
    vendor = SandboxVendor(store, uow, SystemClock(), SANDBOX_SECRET)  # type: ignore[arg-type]

    async def last_body(ref: str) -> bytes:
        return (await vendor.outbox(ref, limit=1))[0].body.encode()

    async def complete(ref: str) -> bytes:
        await vendor.pay(ref)
        return await last_body(ref)

    async def dispute(ref: str) -> bytes:
        await vendor.open_dispute(ref, uuid4().hex)
        return await last_body(ref)

    async def win(ref: str) -> bytes:
        await vendor.win_dispute(ref)
        return await last_body(ref)

    return Driver(
        SandboxGateway(vendor, SystemClock()),
        SANDBOX_SECRET,
        "hypha-sandbox-signature",
        complete,
        dispute,
        last_body,
        win,
    )


def stripe_driver(fake: FakeStripe, url: str) -> Driver:
    gateway = StripeGateway(make_client(API_KEY, url, max_network_retries=0), WEBHOOK_SECRET, "https://hypha.test")

    def event(event_type: str, obj: dict[str, object]) -> bytes:
        body, _ = fake.signed_event(event_type, obj)
        return body

    async def complete(ref: str) -> bytes:
        return event("checkout.session.completed", fake.complete(ref))

    disputes: dict[str, str] = {}

    async def dispute(ref: str) -> bytes:
        opened = fake.dispute(ref)
        disputes[ref] = opened["id"]
        return event("charge.dispute.created", opened)

    async def refund_event(ref: str) -> bytes:
        return event("charge.refunded", fake.charge_of(ref))

    async def win(ref: str) -> bytes:
        return event("charge.dispute.funds_reinstated", fake.win_dispute(disputes[ref]))

    return Driver(gateway, WEBHOOK_SECRET, "stripe-signature", complete, dispute, refund_event, win)


@pytest.fixture(scope="module")
def stripe_server() -> AsyncIterator[FakeStripeServer]:
    server = FakeStripeServer()
    with server:
        yield server  # type: ignore[misc]


@pytest.fixture(params=["sandbox-memory", "sandbox-postgres", "stripe"])
def vendor(request: pytest.FixtureRequest, pg: Injector, stripe_server: FakeStripeServer) -> Driver:
    if request.param == "sandbox-memory":
        return sandbox_driver(MemorySandboxStore(), MemoryUnitOfWork())
    if request.param == "sandbox-postgres":
        db = pg.get(Database)
        return sandbox_driver(PostgresSandboxStore(db), db)
    return stripe_driver(stripe_server.state, stripe_server.url)


async def open_checkout(vendor: Driver, user: UUID | None = None) -> str:
    session = await vendor.gateway.create_checkout(uuid4().hex, PACK, user or uuid4())
    return session.payment_ref


async def test_a_checkout_is_opened_once_per_key_and_remembers_the_user_and_pack(vendor: Driver) -> None:
    user, key = uuid4(), uuid4().hex
    first = await vendor.gateway.create_checkout(key, PACK, user)
    again = await vendor.gateway.create_checkout(key, PACK, user)
    assert first == again
    assert first.url
    payment = await vendor.gateway.fetch_payment(first.payment_ref)
    assert (payment.status, payment.amount_minor, payment.currency) == (PaymentStatus.PENDING, 500, "USD")
    assert (payment.user_id, payment.pack_id, payment.points) == (user, "p550", 550)


async def test_a_paid_payment_reads_paid_and_its_signed_webhook_names_it(vendor: Driver) -> None:
    ref = await open_checkout(vendor)
    body = await vendor.complete(ref)
    event = await vendor.gateway.parse_webhook(body, vendor.signed(body))
    assert event.payment_ref == ref
    assert event.id == json.loads(body)["id"]
    assert (await vendor.gateway.fetch_payment(ref)).status is PaymentStatus.PAID


async def test_a_tampered_forged_or_stale_webhook_is_refused(vendor: Driver) -> None:
    ref = await open_checkout(vendor)
    body = await vendor.complete(ref)
    headers = vendor.signed(body)
    other = b"Y" if ref.endswith("X") else b"X"  # a random ref may already end in X
    tampered = body.replace(ref.encode(), ref[:-1].encode() + other)
    assert tampered != body
    wrong_secret = {vendor.header: signature("whsec_someone_else", body, int(time.time()))}
    attempts = [
        (tampered, headers),  # the body changed after signing
        (body, {vendor.header: headers[vendor.header][:-1] + ("0" if headers[vendor.header][-1] != "0" else "1")}),
        (body, wrong_secret),
        (body, vendor.signed(body, age=301)),  # older than the 300 s tolerance
        (body, {}),  # no signature at all
    ]
    for attempt_body, attempt_headers in attempts:
        with pytest.raises(InvalidSignature):
            await vendor.gateway.parse_webhook(attempt_body, attempt_headers)
    assert (await vendor.gateway.parse_webhook(body, vendor.signed(body, age=240))).payment_ref == ref


async def test_refunds_are_reported_with_their_amounts_and_a_repeated_key_refunds_once(vendor: Driver) -> None:
    ref = await open_checkout(vendor)
    await vendor.complete(ref)
    first = await vendor.gateway.refund("refund-1", ref, 200)
    assert (first.payment_ref, first.amount_minor) == (ref, 200)
    assert await vendor.gateway.refund("refund-1", ref, 200) == first
    partial = await vendor.gateway.fetch_payment(ref)
    assert (partial.status, partial.amount_refunded) == (PaymentStatus.PARTIALLY_REFUNDED, 200)
    assert [(r.kind, r.amount_minor) for r in partial.reversals] == [(ReversalKind.REFUND, 200)]
    body = await vendor.refund_event(ref)
    assert (await vendor.gateway.parse_webhook(body, vendor.signed(body))).payment_ref == ref
    await vendor.gateway.refund("refund-2", ref)  # the rest
    full = await vendor.gateway.fetch_payment(ref)
    assert (full.status, full.amount_refunded) == (PaymentStatus.REFUNDED, 500)
    assert [r.amount_minor for r in full.reversals] == [200, 300]


async def test_a_dispute_reads_as_a_chargeback_and_its_webhook_names_the_payment(vendor: Driver) -> None:
    ref = await open_checkout(vendor)
    await vendor.complete(ref)
    body = await vendor.dispute(ref)
    assert (await vendor.gateway.parse_webhook(body, vendor.signed(body))).payment_ref == ref
    payment = await vendor.gateway.fetch_payment(ref)
    assert payment.status is PaymentStatus.DISPUTED
    assert [(r.kind, r.amount_minor) for r in payment.reversals] == [(ReversalKind.CHARGEBACK, 500)]


async def test_a_won_dispute_reads_as_a_chargeback_reinstated_and_its_webhook_names_the_payment(
    vendor: Driver,
) -> None:
    before = datetime.now(UTC) - timedelta(seconds=2)
    ref = await open_checkout(vendor)
    await vendor.complete(ref)
    await vendor.dispute(ref)
    body = await vendor.win(ref)
    assert (await vendor.gateway.parse_webhook(body, vendor.signed(body))).payment_ref == ref
    payment = await vendor.gateway.fetch_payment(ref)
    assert payment.status is PaymentStatus.PAID  # the money stayed with the merchant
    [chargeback] = payment.reversals
    assert (chargeback.kind, chargeback.amount_minor, chargeback.reinstated) == (ReversalKind.CHARGEBACK, 500, True)
    assert chargeback.reinstated_at is not None
    assert chargeback.reinstated_at >= chargeback.created_at
    [listed] = [
        p for p in await vendor.gateway.list_payments(before, datetime.now(UTC) + timedelta(seconds=2)) if p.ref == ref
    ]
    assert listed.reversals == payment.reversals


async def test_payments_are_listed_by_when_they_were_created(vendor: Driver) -> None:
    before = datetime.now(UTC) - timedelta(seconds=2)
    paid, pending = await open_checkout(vendor), await open_checkout(vendor)
    await vendor.complete(paid)
    after = datetime.now(UTC) + timedelta(seconds=2)
    listed = {p.ref: p.status for p in await vendor.gateway.list_payments(before, after)}
    assert listed[paid] is PaymentStatus.PAID
    assert listed[pending] is PaymentStatus.PENDING
    assert await vendor.gateway.list_payments(after, after + timedelta(hours=1)) == []


async def test_an_unknown_payment_is_not_found(vendor: Driver) -> None:
    with pytest.raises(PaymentNotFound):
        await vendor.gateway.fetch_payment("cs_test_nope" if isinstance(vendor.gateway, StripeGateway) else "sbp_nope")


# --- what only Stripe needs: the SDK's requests are the documented ones ---------------------------


async def test_the_stripe_adapter_sends_what_stripe_documents(stripe_server: FakeStripeServer) -> None:
    fake = stripe_server.state
    driver = stripe_driver(fake, stripe_server.url)
    user = uuid4()
    session = await driver.gateway.create_checkout("checkout:abc", PACK, user)
    create = next(r for r in reversed(fake.requests) if r.method == "POST" and r.path == "/v1/checkout/sessions")
    assert create.headers["authorization"] == f"Bearer {API_KEY}"
    assert create.headers["idempotency-key"] == "checkout:abc"
    assert create.headers["content-type"] == "application/x-www-form-urlencoded"
    assert create.params["mode"] == "payment"
    assert create.params["line_items[0][price_data][unit_amount]"] == "500"
    assert create.params["line_items[0][price_data][currency]"] == "usd"
    assert create.params["metadata[user_id]"] == str(user)
    assert create.params["metadata[pack]"] == "p550"
    assert create.params["client_reference_id"] == str(user)
    assert create.params["success_url"] == "https://hypha.test/wallet/return?ref={CHECKOUT_SESSION_ID}"
    await driver.gateway.fetch_payment(session.payment_ref)
    read = fake.requests[-1]
    assert (read.method, read.path) == ("GET", f"/v1/checkout/sessions/{session.payment_ref}")
    assert read.params == {"expand[0]": "payment_intent.latest_charge"}
    fake.complete(session.payment_ref)
    await driver.gateway.refund("refund:xyz", session.payment_ref, 100)
    refund = fake.requests[-1]
    assert (refund.method, refund.path, refund.headers["idempotency-key"]) == ("POST", "/v1/refunds", "refund:xyz")
    assert refund.params["amount"] == "100"
    assert refund.params["payment_intent"].startswith("pi_")


async def test_a_stripe_dispute_that_never_withdrew_funds_is_no_chargeback_won_or_not(
    stripe_server: FakeStripeServer,
) -> None:
    fake = stripe_server.state
    driver = stripe_driver(fake, stripe_server.url)
    ref = await open_checkout(driver)
    fake.complete(ref)
    inquiry = fake.dispute(ref, withdraw=False)  # an inquiry: the bank asks, takes nothing
    assert (await driver.gateway.fetch_payment(ref)).reversals == ()
    won = fake.win_dispute(inquiry["id"])
    assert (won["status"], won["balance_transactions"]) == ("won", [])
    payment = await driver.gateway.fetch_payment(ref)
    assert (payment.status, payment.reversals) == (PaymentStatus.PAID, ())


async def test_a_wrong_stripe_key_is_not_mistaken_for_a_missing_payment(stripe_server: FakeStripeServer) -> None:
    import stripe

    gateway = StripeGateway(make_client("sk_test_wrong", stripe_server.url, 0), WEBHOOK_SECRET, "https://hypha.test")
    with pytest.raises(stripe.AuthenticationError):
        await gateway.create_checkout("k", PACK, uuid4())
