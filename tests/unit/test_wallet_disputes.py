"""A dispute the merchant wins gives the viewer back what its chargeback took — once, whatever order
the vendor's webhooks arrive in, and by reconciliation when the webhook is lost. The wallet and the
sandbox vendor on in-memory adapters, wired by the injector."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import pytest
from injector import Binder, Injector, Module, provider, singleton

from core.clock import Clock
from core.di import build_injector
from core.settings import Settings
from features.bootstrap import features_for
from features.ledger.model import AccountRef, Leg
from features.sandbox_pay.service import SandboxVendor
from features.wallet.adapters.sandbox_gateway import SandboxGateway
from features.wallet.model import (
    CheckoutSession,
    FindingKind,
    Pack,
    PaymentStatus,
    Purchase,
    VendorEvent,
    VendorPayment,
    VendorRefund,
    WebhookOutcome,
)
from features.wallet.ports import PaymentGateway
from tests.support.wallet import WalletHarness


@pytest.fixture
async def shop(memory: Injector) -> AsyncIterator[WalletHarness]:
    harness = WalletHarness(memory)
    yield harness
    assert await harness.ledger.verify() == []  # every test ends with a balanced ledger


async def win(shop: WalletHarness, purchase: Purchase, *, deliver: bool = True, hold: bool = False) -> list[int]:
    """The merchant wins the payment's dispute at the sandbox vendor."""
    _, ids = await shop.vendor.win_dispute(purchase.payment_ref)
    if deliver:
        await shop.deliver(ids, hold=hold)
    return ids


async def kinds(shop: WalletHarness, user: UUID) -> list[str]:
    return [e.kind for e in (await shop.wallet.statement(user)).entries]


async def restores(shop: WalletHarness, purchase: Purchase) -> int:
    transfers = await shop.ledger.transfers_with_metadata("payment_ref", purchase.payment_ref)
    return sum(1 for t in transfers if t.kind == "dispute_won")


def period(shop: WalletHarness) -> tuple[datetime, datetime]:
    now = shop.wallet.clock.now()
    return now - timedelta(hours=1), now + timedelta(minutes=1)


async def test_winning_a_dispute_gives_the_spent_points_back_and_unlocks_the_wallet(shop: WalletHarness) -> None:
    user = uuid4()
    purchase = await shop.buy(user, "p100")
    await shop.pay(purchase)
    await shop.ledger.transfer("unlock:1", "unlock", [Leg(AccountRef.wallet(user), AccountRef.earnings(uuid4()), 80)])
    await shop.dispute(purchase)
    assert await shop.balance(user) == -80
    assert await shop.wallet.is_locked(user)

    await win(shop, purchase)
    assert await shop.balance(user) == 20
    assert not await shop.wallet.is_locked(user)
    assert await kinds(shop, user) == ["dispute_won", "chargeback", "unlock", "purchase"]
    restored = (await shop.wallet.statement(user)).entries[0]
    assert (restored.amount, restored.balance_after) == (100, 20)
    assert restored.metadata["payment_ref"] == purchase.payment_ref
    progress = await shop.wallet.progress(user, purchase.payment_ref)
    assert progress.purchase.status.value == "paid"  # the money stayed with us


async def test_twenty_replays_of_the_won_webhook_credit_the_points_once(shop: WalletHarness) -> None:
    user = uuid4()
    purchase = await shop.buy(user, "p550")
    await shop.pay(purchase)
    dispute_ids = await shop.dispute(purchase, deliver=False)
    await shop.deliver(dispute_ids, hold=True)
    [(disputed_body, disputed_headers)] = shop.held.sent
    await shop.receive(disputed_body, disputed_headers)
    assert await shop.balance(user) == 0
    await win(shop, purchase, hold=True)
    [_, (won_body, won_headers)] = shop.held.sent
    for _ in range(20):
        await shop.receive(won_body, won_headers)
        await shop.receive(disputed_body, disputed_headers)  # the old dispute event, replayed too
    assert shop.outcomes[-40:] == [WebhookOutcome.APPLIED] + [WebhookOutcome.DUPLICATE] * 39
    assert await shop.balance(user) == 550
    assert await restores(shop, purchase) == 1


async def test_the_won_webhook_arriving_before_the_dispute_webhook_leaves_the_pack_untouched(
    shop: WalletHarness,
) -> None:
    user = uuid4()
    purchase = await shop.buy(user, "p550")
    await shop.pay(purchase)
    dispute_ids = await shop.dispute(purchase, deliver=False)
    won_ids = await win(shop, purchase, deliver=False)
    await shop.deliver(won_ids)  # the payment is re-read: the dispute is already won, nothing was taken
    assert await shop.balance(user) == 550
    await shop.deliver(dispute_ids)  # the late "dispute created" re-reads the same won dispute
    assert await shop.balance(user) == 550
    assert await kinds(shop, user) == ["purchase"]
    assert shop.outcomes[-2:] == [WebhookOutcome.APPLIED, WebhookOutcome.APPLIED]
    run = await shop.wallet.reconcile(*period(shop))
    assert run.clean  # a dispute won before its chargeback was ever applied changes nothing


async def test_reconciliation_gives_back_the_points_of_a_won_dispute_whose_webhook_was_lost(
    shop: WalletHarness,
) -> None:
    user = uuid4()
    purchase = await shop.buy(user, "p1200")
    await shop.pay(purchase)
    await shop.dispute(purchase)
    won_ids = await win(shop, purchase, deliver=False)  # won at the vendor; the webhook never arrives
    assert await shop.balance(user) == 0

    run = await shop.wallet.reconcile(*period(shop))
    assert [(f.kind, f.payment_ref, f.healed, f.points) for f in run.findings] == [
        (FindingKind.MISSING_REINSTATEMENT, purchase.payment_ref, True, 1200)
    ]
    assert await shop.balance(user) == 1200
    assert (await shop.wallet.reconcile(*period(shop))).clean
    await shop.deliver(won_ids)  # the lost webhook turns up after all
    assert await shop.balance(user) == 1200
    assert await restores(shop, purchase) == 1


async def test_a_refund_after_a_won_dispute_takes_back_only_its_own_share(shop: WalletHarness) -> None:
    user = uuid4()
    purchase = await shop.buy(user, "p550")
    await shop.pay(purchase)
    await shop.refund(purchase, 250)
    await shop.dispute(purchase)  # the other half
    assert await shop.balance(user) == 0
    await win(shop, purchase)
    assert await shop.balance(user) == 275
    await shop.refund(purchase)  # the won half is ours again, and now refunded
    assert await shop.balance(user) == 0
    assert await kinds(shop, user) == ["refund", "dispute_won", "chargeback", "refund", "purchase"]
    assert (await shop.wallet.reconcile(*period(shop))).clean


async def test_winning_twice_sends_nothing_more(shop: WalletHarness) -> None:
    user = uuid4()
    purchase = await shop.buy(user, "p100")
    await shop.pay(purchase)
    await shop.dispute(purchase)
    assert await win(shop, purchase) != []
    assert await win(shop, purchase) == []
    assert await shop.balance(user) == 100


# --- a read that raced the win ------------------------------------------------------------------


class LaggingGateway:
    """The sandbox gateway, except that a payment can be made to answer one read with an older
    snapshot — what a webhook sees when it read the vendor just before the dispute was won."""

    def __init__(self, inner: SandboxGateway) -> None:
        self.inner = inner
        self.stale: dict[str, VendorPayment] = {}

    async def create_checkout(self, idempotency_key: str, pack: Pack, user_id: UUID) -> CheckoutSession:
        return await self.inner.create_checkout(idempotency_key, pack, user_id)

    async def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> VendorEvent:
        return await self.inner.parse_webhook(raw_body, headers)

    async def fetch_payment(self, ref: str) -> VendorPayment:
        if ref in self.stale:
            return self.stale.pop(ref)
        return await self.inner.fetch_payment(ref)

    async def refund(self, idempotency_key: str, ref: str, amount_minor: int | None = None) -> VendorRefund:
        return await self.inner.refund(idempotency_key, ref, amount_minor)

    async def list_payments(self, since: datetime, until: datetime) -> list[VendorPayment]:
        return await self.inner.list_payments(since, until)


class Lagging(Module):
    def configure(self, binder: Binder) -> None:
        pass

    @singleton
    @provider
    def lagging(self, vendor: SandboxVendor, clock: Clock) -> LaggingGateway:
        return LaggingGateway(SandboxGateway(vendor, clock))

    @singleton
    @provider
    def gateway(self, lagging: LaggingGateway) -> PaymentGateway:
        return lagging


@pytest.fixture
async def lagging_shop(memory_settings: Settings) -> AsyncIterator[WalletHarness]:
    harness = WalletHarness(build_injector(memory_settings, features_for(memory_settings), Lagging(), memory=True))
    yield harness
    assert await harness.ledger.verify() == []


async def test_a_chargeback_applied_from_a_read_older_than_the_win_is_given_back_at_once(
    lagging_shop: WalletHarness,
) -> None:
    shop = lagging_shop
    gateway = shop.injector.get(LaggingGateway)
    user = uuid4()
    purchase = await shop.buy(user, "p550")
    await shop.pay(purchase)
    dispute_ids = await shop.dispute(purchase, deliver=False)
    before_the_win = await gateway.fetch_payment(purchase.payment_ref)
    won_ids = await win(shop, purchase, deliver=False)
    await shop.deliver(won_ids)  # nothing was taken yet: nothing to give back
    assert await shop.balance(user) == 550
    gateway.stale[purchase.payment_ref] = before_the_win
    await shop.deliver(dispute_ids)  # reads "disputed", takes the points, then re-reads: won
    assert await shop.balance(user) == 550
    assert await kinds(shop, user) == ["dispute_won", "chargeback", "purchase"]


async def test_a_payment_read_before_its_refund_does_not_show_the_purchase_as_paid_again(
    lagging_shop: WalletHarness,
) -> None:
    """A slow delivery of the 'paid' webhook, which read the vendor before the refund, commits after the
    refund's delivery: the purchase the viewer sees in their wallet stays refunded."""
    shop = lagging_shop
    gateway = shop.injector.get(LaggingGateway)
    user = uuid4()
    purchase = await shop.buy(user, "p100")
    paid_ids = await shop.pay(purchase, deliver=False)
    before_the_refund = await gateway.fetch_payment(purchase.payment_ref)
    await shop.refund(purchase)
    assert [p.status for p in await shop.wallet.purchases_of(user)] == [PaymentStatus.REFUNDED]
    gateway.stale[purchase.payment_ref] = before_the_refund
    await shop.deliver(paid_ids)  # reads "paid" (stale), applies it, then re-reads: refunded
    assert [p.status for p in await shop.wallet.purchases_of(user)] == [PaymentStatus.REFUNDED]
    assert await shop.balance(user) == 0
    assert await kinds(shop, user) == ["refund", "purchase"]
