"""The wallet on the Stripe adapter, end to end against the local fake Stripe: checkout, the signed
`checkout.session.completed` webhook crediting the pack once, a `charge.refunded` event traced back
to its session, a tampered webhook refused, a dispute taken and won back, and reconciliation through
the Checkout Sessions list."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from uuid import uuid4

import pytest
from injector import Binder, Injector, Module

from core.di import bind_port, build_injector
from core.settings import Settings
from features.bootstrap import features_for
from features.ledger.model import AccountRef
from features.ledger.service import LedgerService
from features.wallet.adapters.stripe_gateway import StripeGateway, make_client
from features.wallet.model import FindingKind, InvalidSignature, WebhookOutcome
from features.wallet.ports import PaymentGateway
from features.wallet.service import WalletService
from tests.fakes.fake_stripe import API_KEY, WEBHOOK_SECRET, FakeStripe, FakeStripeServer

pytestmark = pytest.mark.filterwarnings("ignore:Use .content=.:DeprecationWarning")  # inside the stripe SDK


@pytest.fixture(scope="module")
def stripe_server() -> Iterator[FakeStripeServer]:
    server = FakeStripeServer()
    with server:
        yield server


@pytest.fixture
def on_stripe(memory_settings: Settings, stripe_server: FakeStripeServer) -> Injector:
    gateway = StripeGateway(make_client(API_KEY, stripe_server.url, 0), WEBHOOK_SECRET, "https://hypha.test")

    class StripeOverride(Module):
        def configure(self, binder: Binder) -> None:
            bind_port(binder, PaymentGateway, gateway)

    return build_injector(memory_settings, features_for(memory_settings), StripeOverride(), memory=True)


async def test_a_stripe_purchase_is_credited_once_and_a_refund_event_takes_it_back(
    on_stripe: Injector, stripe_server: FakeStripeServer
) -> None:
    fake: FakeStripe = stripe_server.state
    wallet, ledger = on_stripe.get(WalletService), on_stripe.get(LedgerService)
    user = uuid4()
    purchase = await wallet.start_purchase(user, "p550", "k1", "500", "USD")
    assert purchase.checkout_url.startswith("https://checkout.stripe.test/")

    body, headers = fake.signed_event("checkout.session.completed", fake.complete(purchase.payment_ref))
    assert await wallet.handle_webhook(body, headers) is WebhookOutcome.APPLIED
    assert await wallet.handle_webhook(body, headers) is WebhookOutcome.DUPLICATE
    assert await ledger.balance(AccountRef.wallet(user)) == 550

    with pytest.raises(InvalidSignature):
        await wallet.handle_webhook(body.replace(b"paid", b"PAID"), headers)

    await wallet.refund(purchase.payment_ref, "refund-1", 250)
    body, headers = fake.signed_event("charge.refunded", fake.charge_of(purchase.payment_ref))
    assert await wallet.handle_webhook(body, headers) is WebhookOutcome.APPLIED
    assert await ledger.balance(AccountRef.wallet(user)) == 275


async def test_reconciliation_on_stripe_heals_a_session_whose_webhook_was_lost(
    on_stripe: Injector, stripe_server: FakeStripeServer
) -> None:
    wallet, ledger = on_stripe.get(WalletService), on_stripe.get(LedgerService)
    user = uuid4()
    purchase = await wallet.start_purchase(user, "p100", "k2", "100", "USD")
    stripe_server.state.complete(purchase.payment_ref)  # paid; the webhook never arrives
    now = wallet.clock.now()
    run = await wallet.reconcile(now - timedelta(minutes=5), now + timedelta(minutes=5))
    healed = [f for f in run.findings if f.payment_ref == purchase.payment_ref]
    assert [(f.kind, f.healed) for f in healed] == [(FindingKind.MISSING_CREDIT, True)]
    assert await ledger.balance(AccountRef.wallet(user)) == 100


async def test_a_won_stripe_dispute_gives_the_points_back_once_for_both_of_its_events(
    on_stripe: Injector, stripe_server: FakeStripeServer
) -> None:
    fake: FakeStripe = stripe_server.state
    wallet, ledger = on_stripe.get(WalletService), on_stripe.get(LedgerService)
    user = uuid4()
    purchase = await wallet.start_purchase(user, "p550", "k3", "500", "USD")
    await wallet.handle_webhook(*fake.signed_event("checkout.session.completed", fake.complete(purchase.payment_ref)))
    dispute = fake.dispute(purchase.payment_ref)
    assert await wallet.handle_webhook(*fake.signed_event("charge.dispute.created", dispute)) is WebhookOutcome.APPLIED
    assert await ledger.balance(AccountRef.wallet(user)) == 0

    won = fake.win_dispute(dispute["id"])
    reinstated = fake.signed_event("charge.dispute.funds_reinstated", won)
    assert await wallet.handle_webhook(*reinstated) is WebhookOutcome.APPLIED
    assert await wallet.handle_webhook(*fake.signed_event("charge.dispute.closed", won)) is WebhookOutcome.APPLIED
    for _ in range(3):
        assert await wallet.handle_webhook(*reinstated) is WebhookOutcome.DUPLICATE
    assert await ledger.balance(AccountRef.wallet(user)) == 550
    statement = await wallet.statement(user)
    assert [e.kind for e in statement.entries] == ["dispute_won", "chargeback", "purchase"]
    assert statement.entries[0].metadata["reversal"] == dispute["id"]
    assert await ledger.verify() == []


async def test_reconciliation_on_stripe_gives_back_a_won_dispute_whose_webhooks_were_lost(
    on_stripe: Injector, stripe_server: FakeStripeServer
) -> None:
    fake: FakeStripe = stripe_server.state
    wallet, ledger = on_stripe.get(WalletService), on_stripe.get(LedgerService)
    user = uuid4()
    purchase = await wallet.start_purchase(user, "p100", "k4", "100", "USD")
    await wallet.handle_webhook(*fake.signed_event("checkout.session.completed", fake.complete(purchase.payment_ref)))
    dispute = fake.dispute(purchase.payment_ref)
    await wallet.handle_webhook(*fake.signed_event("charge.dispute.created", dispute))
    fake.win_dispute(dispute["id"])  # won; neither funds_reinstated nor closed arrives
    assert await ledger.balance(AccountRef.wallet(user)) == 0
    now = wallet.clock.now()
    run = await wallet.reconcile(now - timedelta(minutes=5), now + timedelta(minutes=5))
    healed = [f for f in run.findings if f.payment_ref == purchase.payment_ref]
    assert [(f.kind, f.healed, f.points) for f in healed] == [(FindingKind.MISSING_REINSTATEMENT, True, 100)]
    assert await ledger.balance(AccountRef.wallet(user)) == 100
    again = await wallet.reconcile(now - timedelta(minutes=5), now + timedelta(minutes=5))
    assert [f for f in again.findings if f.payment_ref == purchase.payment_ref] == []
    assert await ledger.verify() == []
