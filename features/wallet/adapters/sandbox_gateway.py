"""The PaymentGateway on the built-in sandbox vendor (features.sandbox_pay): same process, same
database, but spoken to only through the vendor's service, the way a real vendor's API would be."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from uuid import UUID

import msgspec

from core.clock import Clock
from core.numbers import whole_or_none
from features.sandbox_pay.model import (
    SIGNATURE_HEADER,
    BadSignature,
    SandboxPayment,
    SandboxPaymentNotFound,
    SandboxStatus,
    verify,
)
from features.sandbox_pay.service import SandboxVendor
from features.wallet.model import (
    CheckoutSession,
    InvalidSignature,
    Pack,
    PaymentNotFound,
    PaymentStatus,
    Reversal,
    ReversalKind,
    VendorEvent,
    VendorPayment,
    VendorRefund,
)

RETURN_URL = "/wallet/return?ref={PAYMENT_ID}"


def _user_id(value: str | None) -> UUID | None:
    try:
        return UUID(value) if value else None
    except ValueError:
        return None


def vendor_payment(payment: SandboxPayment) -> VendorPayment:
    """The sandbox's record in the wallet's words."""
    if payment.status is SandboxStatus.PAID:
        if payment.disputed:
            status = PaymentStatus.DISPUTED
        elif payment.amount_refunded >= payment.amount_minor:
            status = PaymentStatus.REFUNDED
        elif payment.amount_refunded > 0:
            status = PaymentStatus.PARTIALLY_REFUNDED
        else:
            status = PaymentStatus.PAID
    else:
        status = {
            SandboxStatus.OPEN: PaymentStatus.PENDING,
            SandboxStatus.FAILED: PaymentStatus.FAILED,
            SandboxStatus.CANCELED: PaymentStatus.CANCELED,
        }[payment.status]
    points = payment.metadata.get("points", "")
    return VendorPayment(
        ref=payment.id,
        status=status,
        amount_minor=payment.amount_minor,
        currency=payment.currency,
        created_at=payment.created_at,
        amount_refunded=payment.amount_refunded,
        user_id=_user_id(payment.metadata.get("user_id")),
        pack_id=payment.metadata.get("pack"),
        points=whole_or_none(points),
        reversals=tuple(
            Reversal(
                r.id,
                ReversalKind.REFUND if r.kind == "refund" else ReversalKind.CHARGEBACK,
                r.amount_minor,
                r.created_at,
                reinstated_at=r.won_at,  # a dispute the merchant won: the money came back
            )
            for r in payment.reversals
        ),
    )


class _EventObject(msgspec.Struct):
    id: str


class _EventData(msgspec.Struct):
    object: _EventObject


class SandboxEventBody(msgspec.Struct):
    """A sandbox webhook's JSON (the Stripe shape), decoded once its signature over the raw bytes holds."""

    id: str
    type: str
    data: _EventData
    created: int = 0


class SandboxGateway:
    def __init__(self, vendor: SandboxVendor, clock: Clock, return_url: str = RETURN_URL) -> None:
        self.vendor = vendor
        self.clock = clock
        self.return_url = return_url

    async def create_checkout(self, idempotency_key: str, pack: Pack, user_id: UUID) -> CheckoutSession:
        payment = await self.vendor.create_checkout(
            idempotency_key,
            pack.price_minor,
            pack.currency,
            pack.description,
            {"user_id": str(user_id), "pack": pack.id, "points": str(pack.points)},
            success_url=self.return_url,
            cancel_url=self.return_url,
        )
        return CheckoutSession(url=f"/sandbox-pay/checkout/{payment.id}", payment_ref=payment.id)

    async def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> VendorEvent:
        header = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER), None)
        try:
            verify(await self.vendor.webhook_secret(), header, raw_body, int(self.clock.now().timestamp()))
        except BadSignature as error:
            raise InvalidSignature(error.message) from error
        try:
            event = msgspec.json.decode(raw_body, type=SandboxEventBody)
            created = datetime.fromtimestamp(event.created, UTC)
        except (msgspec.DecodeError, ValueError, OverflowError, OSError) as error:
            raise InvalidSignature("The webhook body is not a sandbox event.") from error
        return VendorEvent(event.id, event.type, event.data.object.id, created)

    async def fetch_payment(self, ref: str) -> VendorPayment:
        try:
            return vendor_payment(await self.vendor.payment(ref))
        except SandboxPaymentNotFound as error:
            raise PaymentNotFound() from error

    async def refund(self, idempotency_key: str, ref: str, amount_minor: int | None = None) -> VendorRefund:
        try:
            reversal, _queued = await self.vendor.refund(ref, idempotency_key, amount_minor)
        except SandboxPaymentNotFound as error:
            raise PaymentNotFound() from error
        return VendorRefund(reversal.id, ref, reversal.amount_minor, "succeeded")

    async def list_payments(self, since: datetime, until: datetime) -> list[VendorPayment]:
        return [vendor_payment(p) for p in await self.vendor.list_payments(since, until)]
