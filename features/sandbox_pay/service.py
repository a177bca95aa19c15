"""The sandbox vendor's use cases: checkouts, the payer's choice, refunds, disputes (and winning them),
webhook delivery."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from core.clock import Clock
from core.ids import public_id
from core.uow import UnitOfWork
from features.sandbox_pay.model import (
    EVENT_OF_STATUS,
    SIGNATURE_HEADER,
    DeliveryReport,
    EventType,
    IdempotencyKeyReused,
    NoOpenDispute,
    NotRefundable,
    OutboxMessage,
    SandboxPayment,
    SandboxPaymentNotFound,
    SandboxReversal,
    SandboxStatus,
    event_body,
    next_status,
    retry_delay_seconds,
    sign,
)
from features.sandbox_pay.ports import SandboxStore, WebhookSender

log = logging.getLogger(__name__)

SECRET_NAME = "sandbox_webhook_secret"  # noqa: S105 — the name of a row, not a secret
# The web process tries to deliver at once; the worker's sweep only takes over after this grace.
SWEEP_GRACE = timedelta(seconds=20)
LEASE = timedelta(seconds=60)
MAX_ATTEMPTS = 12


class SandboxVendor:
    """A pretend card processor. Every state change and the webhook it owes commit together."""

    def __init__(self, store: SandboxStore, uow: UnitOfWork, clock: Clock, configured_secret: str = "") -> None:
        self.store = store
        self.uow = uow
        self.clock = clock
        self._secret = configured_secret

    async def webhook_secret(self) -> str:
        """The signing secret: SANDBOX_WEBHOOK_SECRET, or one generated once and shared by every process."""
        if not self._secret:
            self._secret = await self.store.shared_secret(SECRET_NAME, "whsec_" + secrets.token_hex(24))
        return self._secret

    async def create_checkout(
        self,
        idempotency_key: str,
        amount_minor: int,
        currency: str,
        description: str,
        metadata: Mapping[str, str],
        success_url: str,
        cancel_url: str,
    ) -> SandboxPayment:
        """Open a checkout. The same key returns the same checkout; the same key for another amount,
        currency or metadata raises IdempotencyKeyReused."""
        if amount_minor <= 0:
            raise NotRefundable("The amount must be positive.")
        now = self.clock.now()
        candidate = SandboxPayment(
            id="sbp_" + public_id(20),
            idempotency_key=idempotency_key,
            amount_minor=amount_minor,
            currency=currency.upper(),
            description=description,
            metadata=dict(metadata),
            success_url=success_url,
            cancel_url=cancel_url,
            status=SandboxStatus.OPEN,
            created_at=now,
            updated_at=now,
        )
        stored = await self.store.add(candidate)
        if not stored.same_request(amount_minor, currency.upper(), metadata):
            raise IdempotencyKeyReused()
        return stored

    async def payment(self, payment_id: str) -> SandboxPayment:
        """A payment with its refunds and disputes; raises SandboxPaymentNotFound."""
        payment = await self.store.get(payment_id)
        if payment is None:
            raise SandboxPaymentNotFound()
        return payment

    async def pay(self, payment_id: str) -> tuple[SandboxPayment, list[int]]:
        """The payer pays. Paying a paid checkout again changes nothing. Returns the payment and the
        ids of the webhooks it queued."""
        return await self._finish(payment_id, SandboxStatus.PAID)

    async def decline(self, payment_id: str) -> tuple[SandboxPayment, list[int]]:
        """The card is declined: the checkout fails."""
        return await self._finish(payment_id, SandboxStatus.FAILED)

    async def cancel(self, payment_id: str) -> tuple[SandboxPayment, list[int]]:
        """The payer goes back without paying."""
        return await self._finish(payment_id, SandboxStatus.CANCELED)

    async def _finish(self, payment_id: str, target: SandboxStatus) -> tuple[SandboxPayment, list[int]]:
        async with self.uow.atomic():
            payment = await self.store.get(payment_id, lock=True)
            if payment is None:
                raise SandboxPaymentNotFound()
            if payment.status is target:
                return payment, []
            status = next_status(payment.status, target)
            now = self.clock.now()
            await self.store.set_status(payment.id, status, now)
            payment = replace(payment, status=status, updated_at=now)
            message_id = await self._queue_webhook(EVENT_OF_STATUS[status], payment)
        return payment, [message_id]

    async def refund(
        self, payment_id: str, idempotency_key: str, amount_minor: int | None = None
    ) -> tuple[SandboxReversal, list[int]]:
        """Give (part of) a paid payment back; `None` refunds what is left. The same key returns the
        first refund. Raises NotRefundable for an unpaid payment or an amount above what is left."""
        return await self._reverse(payment_id, "refund", idempotency_key, amount_minor)

    async def open_dispute(self, payment_id: str, idempotency_key: str) -> tuple[SandboxReversal, list[int]]:
        """The payer disputes the charge with their bank: what is left is taken back at once."""
        return await self._reverse(payment_id, "dispute", idempotency_key, None)

    async def win_dispute(self, payment_id: str) -> tuple[SandboxReversal, list[int]]:
        """The merchant wins the payment's open dispute: the bank gives the money back. Winning again
        (a double click) returns the dispute already won and sends nothing. Raises NoOpenDispute when
        the payment was never disputed."""
        async with self.uow.atomic():
            payment = await self.store.get(payment_id, lock=True)
            if payment is None:
                raise SandboxPaymentNotFound()
            disputes = [r for r in payment.reversals if r.kind == "dispute"]
            if not disputes:
                raise NoOpenDispute()
            if not payment.open_disputes:
                return disputes[-1], []
            dispute = payment.open_disputes[0]
            now = self.clock.now()
            await self.store.set_dispute_won(dispute.id, now)
            won = replace(dispute, won_at=now)
            payment = replace(payment, reversals=tuple(won if r.id == dispute.id else r for r in payment.reversals))
            message_id = await self._queue_webhook(EventType.DISPUTE_FUNDS_REINSTATED, payment)
        return won, [message_id]

    async def _reverse(
        self, payment_id: str, kind: str, idempotency_key: str, amount_minor: int | None
    ) -> tuple[SandboxReversal, list[int]]:
        async with self.uow.atomic():
            payment = await self.store.get(payment_id, lock=True)
            if payment is None:
                raise SandboxPaymentNotFound()
            earlier = next((r for r in payment.reversals if r.idempotency_key == idempotency_key), None)
            if earlier is not None:
                if earlier.kind != kind or (amount_minor is not None and amount_minor != earlier.amount_minor):
                    raise IdempotencyKeyReused()
                return earlier, []
            amount = payment.refundable if amount_minor is None else amount_minor
            if payment.status is not SandboxStatus.PAID or not 0 < amount <= payment.refundable:
                raise NotRefundable()
            prefix = "re_" if kind == "refund" else "dp_"
            reversal = await self.store.add_reversal(
                SandboxReversal(
                    id=prefix + public_id(20),
                    payment_id=payment.id,
                    kind=kind,
                    amount_minor=amount,
                    idempotency_key=idempotency_key,
                    created_at=self.clock.now(),
                )
            )
            payment = replace(payment, reversals=(*payment.reversals, reversal))
            event = EventType.CHARGE_REFUNDED if kind == "refund" else EventType.DISPUTE_CREATED
            message_id = await self._queue_webhook(event, payment)
        return reversal, [message_id]

    async def _queue_webhook(self, event_type: EventType, payment: SandboxPayment) -> int:
        now = self.clock.now()
        event_id = "evt_" + public_id(24)
        return await self.store.enqueue_webhook(
            OutboxMessage(
                id=0,
                event_id=event_id,
                event_type=event_type.value,
                payment_id=payment.id,
                body=event_body(event_id, event_type.value, int(now.timestamp()), payment),
                attempts=0,
                next_attempt_at=now + SWEEP_GRACE,
            )
        )

    async def list_payments(self, since: datetime, until: datetime) -> list[SandboxPayment]:
        """Payments created in [since, until), oldest first, with their reversals."""
        return await self.store.created_between(since, until)

    async def recent(self, limit: int = 50) -> list[SandboxPayment]:
        return await self.store.recent(limit)

    async def outbox(self, payment_id: str | None = None, limit: int = 50) -> list[OutboxMessage]:
        return await self.store.outbox(payment_id, limit)

    async def signed_headers(self, body: bytes) -> dict[str, str]:
        """The headers of a webhook carrying `body`, signed now."""
        timestamp = int(self.clock.now().timestamp())
        return {
            "content-type": "application/json",
            SIGNATURE_HEADER: sign(await self.webhook_secret(), timestamp, body),
        }

    async def deliver(self, sender: WebhookSender, ids: Sequence[int] = (), limit: int = 50) -> DeliveryReport:
        """Post owed webhooks: the given ones, or else every one that is due. A 2xx answer marks a
        webhook delivered; anything else schedules a retry with back-off (at least once, in order of
        creation — receivers must cope with duplicates and any order)."""
        now = self.clock.now()
        messages = await self.store.claim_webhooks(now, now + LEASE, ids=ids, limit=limit, max_attempts=MAX_ATTEMPTS)
        delivered = failed = 0
        for message in messages:
            body = message.body.encode()
            try:
                status = await sender.post(body, await self.signed_headers(body))
            except OSError as error:
                status, error_text = 0, f"{type(error).__name__}: {error}"[:500]
            else:
                error_text = f"HTTP {status}"
            if 200 <= status < 300:
                await self.store.mark_delivered(message.id, self.clock.now())
                delivered += 1
            else:
                retry_at = self.clock.now() + timedelta(seconds=retry_delay_seconds(message.attempts))
                await self.store.mark_failed(message.id, error_text, retry_at)
                log.warning(
                    "sandbox webhook %s not delivered (%s); retry at %s", message.event_id, error_text, retry_at
                )
                failed += 1
        return DeliveryReport(delivered, failed)
