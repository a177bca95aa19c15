"""Wallet use cases on in-memory adapters: webhooks, refunds, chargebacks and reconciliation rules."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import pytest
from injector import Injector

from core.clock import Clock, FrozenClock
from core.di import get_port
from features.ledger.model import AccountRef, InsufficientPoints, Leg
from features.sandbox_pay.model import SIGNATURE_HEADER
from features.wallet.model import FindingKind, InvalidSignature, PaymentStatus, WebhookOutcome
from tests.support.wallet import WalletHarness


@pytest.fixture
def shop(memory: Injector) -> WalletHarness:
    return WalletHarness(memory)


@pytest.fixture
def clock(memory: Injector) -> FrozenClock:
    found = get_port(memory, Clock)
    assert isinstance(found, FrozenClock)
    return found


async def test_a_double_click_on_buy_opens_one_checkout(shop: WalletHarness) -> None:
    user = uuid4()
    first = await shop.buy(user, "p550", key="k1")
    second = await shop.buy(user, "p550", key="k1")
    assert first.payment_ref == second.payment_ref
    assert (first.points, first.amount_minor, first.status) == (550, 500, PaymentStatus.PENDING)
    assert first.checkout_url == f"/sandbox-pay/checkout/{first.payment_ref}"


async def test_paying_credits_the_pack_once_even_when_the_webhook_is_replayed(shop: WalletHarness) -> None:
    user = uuid4()
    purchase = await shop.buy(user, "p550")
    await shop.pay(purchase, hold=True)
    [(body, headers)] = shop.held.sent
    for _ in range(5):
        await shop.receive(body, headers)
    assert shop.outcomes == [WebhookOutcome.APPLIED] + [WebhookOutcome.DUPLICATE] * 4
    assert await shop.balance(user) == 550
    assert await shop.credits(purchase) == 1
    progress = await shop.wallet.progress(user, purchase.payment_ref)
    assert progress.credited
    assert progress.purchase.status is PaymentStatus.PAID


async def test_a_declined_card_credits_nothing_and_the_purchase_says_so(shop: WalletHarness) -> None:
    user = uuid4()
    purchase = await shop.buy(user)
    await shop.decline(purchase)
    assert await shop.balance(user) == 0
    progress = await shop.wallet.progress(user, purchase.payment_ref)
    assert (progress.credited, progress.purchase.status) == (False, PaymentStatus.FAILED)


async def test_a_forged_webhook_is_refused_and_records_nothing(shop: WalletHarness) -> None:
    user = uuid4()
    purchase = await shop.buy(user)
    await shop.pay(purchase, hold=True)
    [(body, headers)] = shop.held.sent
    forged = {**headers, SIGNATURE_HEADER: headers[SIGNATURE_HEADER][:-4] + "0000"}
    tampered = body.replace(b'"status":"paid"', b'"status":"PAID"')
    for attempt_body, attempt_headers in [(body, forged), (tampered, headers), (body, {})]:
        with pytest.raises(InvalidSignature):
            await shop.wallet.handle_webhook(attempt_body, attempt_headers)
    assert await shop.balance(user) == 0
    assert not await shop.wallet.inbox.seen("sandbox", body.decode().split('"id":"', 1)[1].split('"', 1)[0])


async def test_a_webhook_older_than_five_minutes_is_refused(shop: WalletHarness, clock: FrozenClock) -> None:
    purchase = await shop.buy()
    await shop.pay(purchase, hold=True)
    [(body, headers)] = shop.held.sent
    clock.advance(timedelta(seconds=301))
    with pytest.raises(InvalidSignature, match="too old"):
        await shop.wallet.handle_webhook(body, headers)


async def test_a_refund_takes_the_points_back(shop: WalletHarness) -> None:
    user = uuid4()
    purchase = await shop.buy(user, "p550")
    await shop.pay(purchase)
    await shop.refund(purchase)
    assert await shop.balance(user) == 0
    assert not await shop.wallet.is_locked(user)
    kinds = [e.kind for e in (await shop.wallet.statement(user)).entries]
    assert kinds == ["refund", "purchase"]


async def test_a_chargeback_of_spent_points_leaves_the_wallet_negative_and_locked_until_topped_up(
    shop: WalletHarness,
) -> None:
    user = uuid4()
    purchase = await shop.buy(user, "p100")
    await shop.pay(purchase)
    creator = AccountRef.earnings(uuid4())
    await shop.ledger.transfer("unlock:1", "unlock", [Leg(AccountRef.wallet(user), creator, 80)])
    await shop.dispute(purchase)
    assert await shop.balance(user) == -80
    assert await shop.wallet.is_locked(user)
    statement = await shop.wallet.statement(user)
    assert statement.entries[0].kind == "chargeback"
    with pytest.raises(InsufficientPoints):  # a locked wallet cannot spend
        await shop.ledger.transfer("unlock:2", "unlock", [Leg(AccountRef.wallet(user), creator, 1)])
    top_up = await shop.buy(user, "p550")
    await shop.pay(top_up)
    assert await shop.balance(user) == 470
    assert not await shop.wallet.is_locked(user)


async def test_a_refund_event_arriving_before_the_paid_event_ends_in_the_same_state(shop: WalletHarness) -> None:
    user = uuid4()
    purchase = await shop.buy(user, "p550")
    paid_ids = await shop.pay(purchase, deliver=False)
    refund_ids = await shop.refund(purchase, 250, deliver=False)
    await shop.deliver(refund_ids)  # the refund webhook first: the payment is re-read, both transfers land
    assert await shop.balance(user) == 275
    await shop.deliver(paid_ids)  # the late "paid" event changes nothing
    assert await shop.balance(user) == 275
    assert await shop.credits(purchase) == 1
    assert shop.outcomes == [WebhookOutcome.APPLIED, WebhookOutcome.APPLIED]


async def test_reconciliation_heals_a_payment_whose_webhook_never_arrived(shop: WalletHarness) -> None:
    user = uuid4()
    purchase = await shop.buy(user, "p1200")
    await shop.pay(purchase, deliver=False)
    now = shop.wallet.clock.now()
    run = await shop.wallet.reconcile(now - timedelta(hours=1), now + timedelta(minutes=1))
    [finding] = run.findings
    assert (finding.kind, finding.payment_ref, finding.healed, finding.points) == (
        FindingKind.MISSING_CREDIT,
        purchase.payment_ref,
        True,
        1200,
    )
    assert await shop.balance(user) == 1200
    again = await shop.wallet.reconcile(now - timedelta(hours=1), now + timedelta(minutes=1))
    assert again.clean
    assert [r.id for r in await shop.wallet.reconciliation_runs()] == [again.id, run.id]


async def test_reconciliation_heals_a_refund_that_was_never_applied(shop: WalletHarness) -> None:
    user = uuid4()
    purchase = await shop.buy(user, "p100")
    await shop.pay(purchase)
    await shop.refund(purchase, deliver=False)
    now = shop.wallet.clock.now()
    run = await shop.wallet.reconcile(now - timedelta(hours=1), now + timedelta(minutes=1))
    assert [(f.kind, f.healed, f.points) for f in run.findings] == [(FindingKind.MISSING_REVERSAL, True, 100)]
    assert await shop.balance(user) == 0


async def test_reconciliation_reports_an_amount_mismatch_and_credits_nothing(shop: WalletHarness) -> None:
    user = uuid4()
    # A payment for the 100-point pack for which the vendor collected 9.99 instead of 1.00.
    odd = await shop.vendor.create_checkout(
        "odd", 999, "USD", "100 points", {"user_id": str(user), "pack": "p100", "points": "100"}, "/", "/"
    )
    await shop.vendor.pay(odd.id)
    now = shop.wallet.clock.now()
    run = await shop.wallet.reconcile(now - timedelta(hours=1), now + timedelta(minutes=1))
    [finding] = run.findings
    assert (finding.kind, finding.healed, finding.amount_minor) == (FindingKind.AMOUNT_MISMATCH, False, 999)
    assert await shop.balance(user) == 0


async def test_reconciliation_reports_a_ledger_credit_the_vendor_never_collected(shop: WalletHarness) -> None:
    user = uuid4()
    purchase = await shop.buy(user, "p100")
    await shop.vendor.cancel(purchase.payment_ref)
    await shop.ledger.transfer(
        f"purchase:{purchase.payment_ref}",
        "purchase",
        [Leg(AccountRef.vendor_clearing(), AccountRef.wallet(user), 100)],
        {"payment_ref": purchase.payment_ref},
    )
    now = shop.wallet.clock.now()
    run = await shop.wallet.reconcile(now - timedelta(hours=1), now + timedelta(minutes=1))
    [finding] = run.findings
    assert (finding.kind, finding.payment_ref, finding.healed) == (
        FindingKind.ORPHAN_CREDIT,
        purchase.payment_ref,
        False,
    )
    assert "canceled" in finding.detail


async def test_a_paid_payment_we_know_nothing_about_is_reported_not_credited(shop: WalletHarness) -> None:
    stray = await shop.vendor.create_checkout("stray", 500, "USD", "something else", {}, "/", "/")
    _, ids = await shop.vendor.pay(stray.id)
    await shop.deliver(ids)
    assert shop.outcomes == [WebhookOutcome.UNKNOWN_PAYMENT]
    now = shop.wallet.clock.now()
    run = await shop.wallet.reconcile(now - timedelta(hours=1), now + timedelta(minutes=1))
    assert [f.kind for f in run.findings] == [FindingKind.UNKNOWN_PAYMENT]


async def test_someone_elses_purchase_is_not_found(shop: WalletHarness) -> None:
    purchase = await shop.buy(uuid4())
    from features.wallet.model import PurchaseNotFound

    with pytest.raises(PurchaseNotFound):
        await shop.wallet.progress(uuid4(), purchase.payment_ref)
