"""The sandbox vendor on in-memory adapters: its checkout's life, refunds, and webhook delivery with retries."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.clock import FrozenClock
from core.uow import MemoryUnitOfWork
from features.sandbox_pay.adapters import MemorySandboxStore
from features.sandbox_pay.delivery import MemoryWebhookSender
from features.sandbox_pay.model import (
    SIGNATURE_HEADER,
    CheckoutClosed,
    IdempotencyKeyReused,
    NotRefundable,
    SandboxStatus,
    retry_delay_seconds,
    verify,
)
from features.sandbox_pay.service import SandboxVendor


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def vendor(clock: FrozenClock) -> SandboxVendor:
    return SandboxVendor(MemorySandboxStore(), MemoryUnitOfWork(), clock)


async def open_checkout(vendor: SandboxVendor, key: str = "k1", amount: int = 500) -> str:
    payment = await vendor.create_checkout(key, amount, "usd", "550 points", {"pack": "p550"}, "/ok", "/back")
    return payment.id


async def test_a_checkout_key_reused_for_another_amount_is_refused(vendor: SandboxVendor) -> None:
    first = await open_checkout(vendor)
    assert await open_checkout(vendor) == first
    with pytest.raises(IdempotencyKeyReused):
        await open_checkout(vendor, amount=501)


async def test_a_checkout_ends_once_and_paying_twice_changes_nothing(vendor: SandboxVendor) -> None:
    ref = await open_checkout(vendor)
    payment, queued = await vendor.pay(ref)
    assert (payment.status, len(queued)) == (SandboxStatus.PAID, 1)
    assert await vendor.pay(ref) == (payment, [])
    with pytest.raises(CheckoutClosed):
        await vendor.cancel(ref)


async def test_refunds_never_exceed_what_was_paid_and_a_dispute_takes_the_rest(vendor: SandboxVendor) -> None:
    ref = await open_checkout(vendor)
    with pytest.raises(NotRefundable):
        await vendor.refund(ref, "r0")  # not paid yet
    await vendor.pay(ref)
    with pytest.raises(NotRefundable):
        await vendor.refund(ref, "r1", 501)
    refund, _ = await vendor.refund(ref, "r1", 200)
    assert (await vendor.refund(ref, "r1", 200))[0] == refund
    dispute, _ = await vendor.open_dispute(ref, "d1")
    assert dispute.amount_minor == 300
    assert (await vendor.payment(ref)).refundable == 0
    with pytest.raises(NotRefundable):
        await vendor.refund(ref, "r2", 1)


async def test_webhooks_are_signed_and_a_failed_delivery_is_retried_with_back_off(
    vendor: SandboxVendor, clock: FrozenClock
) -> None:
    ref = await open_checkout(vendor)
    _, queued = await vendor.pay(ref)
    down = MemoryWebhookSender(status=503)
    report = await vendor.deliver(down, queued)
    assert (report.delivered, report.failed) == (0, 1)
    body, headers = down.sent[0]
    verify(await vendor.webhook_secret(), headers[SIGNATURE_HEADER], body, int(clock.now().timestamp()))
    [message] = await vendor.outbox(ref)
    assert (message.attempts, message.last_error, message.delivered_at) == (1, "HTTP 503", None)

    up = MemoryWebhookSender()
    clock.advance(timedelta(seconds=retry_delay_seconds(1) - 1))
    assert (await vendor.deliver(up)).delivered == 0  # not due yet
    clock.advance(timedelta(seconds=2))
    assert (await vendor.deliver(up)).delivered == 1
    assert up.sent[0][0] == body  # the same event, re-signed at delivery time
    assert (await vendor.outbox(ref))[0].delivered_at is not None
    clock.advance(timedelta(hours=1))
    assert (await vendor.deliver(up)).delivered == 0  # delivered once is enough


async def test_an_unreachable_merchant_counts_as_a_failed_attempt(vendor: SandboxVendor) -> None:
    class Unreachable:
        async def post(self, body: bytes, headers: object) -> int:
            raise ConnectionRefusedError("nobody listens")

    ref = await open_checkout(vendor)
    _, queued = await vendor.pay(ref)
    assert (await vendor.deliver(Unreachable(), queued)).failed == 1  # type: ignore[arg-type]
    assert "nobody listens" in (await vendor.outbox(ref))[0].last_error


def test_back_off_grows_and_is_capped() -> None:
    delays = [retry_delay_seconds(n) for n in range(1, 14)]
    assert delays[:4] == [30, 60, 120, 240]
    assert delays == sorted(delays)
    assert max(delays) == 6 * 3600
