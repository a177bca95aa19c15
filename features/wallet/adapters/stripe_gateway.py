"""The PaymentGateway on Stripe, through the official `stripe` package (StripeClient on httpx, async).

Our payment reference is the Checkout Session id (`cs_…`): it exists before the payer pays, it is
what the return URL carries, and the session's metadata names the user and pack. Charge, refund and
dispute events are traced back to their session through the PaymentIntent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

import stripe

from core.numbers import whole_or_none
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
    VendorUnavailable,
)

TOLERANCE_SECONDS = 300
RETURN_PATH = "/wallet/return?ref={CHECKOUT_SESSION_ID}"
# Disputes whose money the bank has taken (inquiries, "warning_*", take nothing; a won dispute gives it back).
DISPUTES_WITH_FUNDS_WITHDRAWN = frozenset({"needs_response", "under_review", "lost"})
DISPUTE_WON = "won"
T = TypeVar("T")


def make_client(api_key: str, api_base: str = "", max_network_retries: int = 2) -> stripe.StripeClient:
    """A StripeClient on the SDK's httpx client (async), optionally pointed at another API base URL."""
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        http_client=stripe.HTTPXClient(),
        max_network_retries=max_network_retries,
    )


def _timestamp(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value or 0), UTC)


def _user_id(value: Any) -> UUID | None:
    try:
        return UUID(str(value)) if value else None
    except ValueError:
        return None


def _id(value: Any) -> str | None:
    """An expandable field: either the id or the expanded object."""
    if isinstance(value, dict):
        return str(value.get("id")) if value.get("id") else None
    return str(value) if value else None


def _balance_transactions(dispute: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The dispute's zero, one or two balance transactions: the withdrawal (negative), the reinstatement
    (positive). Stripe always includes them whole on the dispute."""
    return [bt for bt in dispute.get("balance_transactions") or [] if isinstance(bt, Mapping)]


def _funds_withdrawn(dispute: Mapping[str, Any]) -> bool:
    """Did the bank ever take the money? (An inquiry, or a dispute on a method that withdraws nothing, did not.)"""
    return any(int(bt.get("amount") or 0) < 0 for bt in _balance_transactions(dispute))


def _reinstated_at(dispute: Mapping[str, Any]) -> datetime | None:
    back = [int(bt.get("created") or 0) for bt in _balance_transactions(dispute) if int(bt.get("amount") or 0) > 0]
    return _timestamp(max(back)) if back else None


class StripeGateway:
    def __init__(self, client: stripe.StripeClient, webhook_secret: str, public_url: str) -> None:
        self.client = client
        self.webhook_secret = webhook_secret
        self.public_url = public_url.rstrip("/")

    async def _call(self, request: Callable[[], Awaitable[T]]) -> T:
        try:
            return await request()
        except stripe.InvalidRequestError as error:
            if error.http_status == 404:
                raise PaymentNotFound() from error
            raise
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as error:
            raise VendorUnavailable() from error

    async def create_checkout(self, idempotency_key: str, pack: Pack, user_id: UUID) -> CheckoutSession:
        metadata = {"user_id": str(user_id), "pack": pack.id, "points": str(pack.points)}
        return_url = self.public_url + RETURN_PATH
        session = await self._call(
            lambda: self.client.v1.checkout.sessions.create_async(
                {
                    "mode": "payment",
                    "line_items": [
                        {
                            "quantity": 1,
                            "price_data": {
                                "currency": pack.currency.lower(),
                                "unit_amount": pack.price_minor,
                                "product_data": {"name": pack.description},
                            },
                        }
                    ],
                    "client_reference_id": str(user_id),
                    "metadata": metadata,
                    "payment_intent_data": {"metadata": metadata},
                    "success_url": return_url,
                    "cancel_url": return_url,
                },
                {"idempotency_key": idempotency_key},
            )
        )
        return CheckoutSession(url=str(session.url), payment_ref=str(session.id))

    async def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> VendorEvent:
        header = next((v for k, v in headers.items() if k.lower() == "stripe-signature"), None)
        try:
            event = self.client.construct_event(raw_body, header, self.webhook_secret, tolerance=TOLERANCE_SECONDS)
        except (stripe.SignatureVerificationError, ValueError) as error:
            raise InvalidSignature() from error
        data = event.to_dict()
        event_type = str(data.get("type", ""))
        obj = data.get("data", {}).get("object", {})
        ref: str | None = None
        if event_type.startswith("checkout.session."):
            ref = _id(obj.get("id"))
        elif event_type.startswith(("charge.", "refund.", "payment_intent.")):
            intent = obj.get("id") if event_type.startswith("payment_intent.") else obj.get("payment_intent")
            ref = await self._session_of(_id(intent))
        return VendorEvent(str(data["id"]), event_type, ref, _timestamp(data.get("created")))

    async def _session_of(self, payment_intent: str | None) -> str | None:
        if not payment_intent:
            return None
        page = await self._call(
            lambda: self.client.v1.checkout.sessions.list_async({"payment_intent": payment_intent, "limit": 1})
        )
        sessions = page.to_dict().get("data", [])
        return str(sessions[0]["id"]) if sessions else None

    async def fetch_payment(self, ref: str) -> VendorPayment:
        session = await self._call(
            lambda: self.client.v1.checkout.sessions.retrieve_async(ref, {"expand": ["payment_intent.latest_charge"]})
        )
        return await self._payment(session.to_dict())

    async def _payment(self, session: dict[str, Any]) -> VendorPayment:
        intent = session.get("payment_intent") if isinstance(session.get("payment_intent"), dict) else None
        charge = intent.get("latest_charge") if intent and isinstance(intent.get("latest_charge"), dict) else None
        metadata = session.get("metadata") or {}
        reversals: list[Reversal] = []
        amount_refunded = int(charge.get("amount_refunded", 0)) if charge else 0
        if session.get("status") == "expired":
            status = PaymentStatus.CANCELED
        elif session.get("payment_status") == "paid":
            status = PaymentStatus.PAID
            intent_id = _id(session.get("payment_intent"))
            if intent_id and amount_refunded > 0:
                reversals += await self._refunds(intent_id)
            if intent_id and charge and charge.get("disputed"):
                reversals += await self._disputes(intent_id)
            if any(r.kind is ReversalKind.CHARGEBACK and not r.reinstated for r in reversals):
                status = PaymentStatus.DISPUTED
            elif amount_refunded >= int(session.get("amount_total") or 0) > 0:
                status = PaymentStatus.REFUNDED
            elif amount_refunded > 0:
                status = PaymentStatus.PARTIALLY_REFUNDED
        elif (
            session.get("status") == "complete"
            and intent
            and intent.get("status") in ("canceled", "requires_payment_method")
        ):
            status = PaymentStatus.FAILED  # an asynchronous payment method failed after the session completed
        else:
            status = PaymentStatus.PENDING
        points = str(metadata.get("points", ""))
        return VendorPayment(
            ref=str(session["id"]),
            status=status,
            amount_minor=int(session.get("amount_total") or 0),
            currency=str(session.get("currency") or "").upper(),
            created_at=_timestamp(session.get("created")),
            amount_refunded=amount_refunded,
            user_id=_user_id(metadata.get("user_id") or session.get("client_reference_id")),
            pack_id=metadata.get("pack"),
            points=whole_or_none(points),
            reversals=tuple(reversals),
        )

    async def _refunds(self, payment_intent: str) -> list[Reversal]:
        page = await self._call(
            lambda: self.client.v1.refunds.list_async({"payment_intent": payment_intent, "limit": 100})
        )
        return [  # Stripe lists newest first; reversals are kept oldest first
            Reversal(str(r["id"]), ReversalKind.REFUND, int(r["amount"]), _timestamp(r.get("created")))
            for r in reversed(page.to_dict().get("data", []))
            if r.get("status") == "succeeded"
        ]

    async def _disputes(self, payment_intent: str) -> list[Reversal]:
        """Chargebacks: disputes whose funds were withdrawn — still out, or won and reinstated."""
        page = await self._call(
            lambda: self.client.v1.disputes.list_async({"payment_intent": payment_intent, "limit": 100})
        )
        reversals: list[Reversal] = []
        for d in reversed(page.to_dict().get("data", [])):
            status, created = d.get("status"), _timestamp(d.get("created"))
            if status in DISPUTES_WITH_FUNDS_WITHDRAWN:
                reversals.append(Reversal(str(d["id"]), ReversalKind.CHARGEBACK, int(d["amount"]), created))
            elif status == DISPUTE_WON and _funds_withdrawn(d):
                reinstated = _reinstated_at(d) or created
                reversals.append(Reversal(str(d["id"]), ReversalKind.CHARGEBACK, int(d["amount"]), created, reinstated))
        return reversals

    async def refund(self, idempotency_key: str, ref: str, amount_minor: int | None = None) -> VendorRefund:
        session = await self._call(lambda: self.client.v1.checkout.sessions.retrieve_async(ref))
        intent = _id(session.to_dict().get("payment_intent"))
        if intent is None:
            raise PaymentNotFound("That payment was never paid, so there is nothing to refund.")
        params: dict[str, Any] = {"payment_intent": intent}
        if amount_minor is not None:
            params["amount"] = amount_minor
        refund = await self._call(
            lambda: self.client.v1.refunds.create_async(params, {"idempotency_key": idempotency_key})  # type: ignore[arg-type]
        )
        data = refund.to_dict()
        return VendorRefund(str(data["id"]), ref, int(data["amount"]), str(data.get("status", "")))

    async def list_payments(self, since: datetime, until: datetime) -> list[VendorPayment]:
        page = await self._call(
            lambda: self.client.v1.checkout.sessions.list_async(
                {
                    "created": {"gte": int(since.timestamp()), "lt": int(until.timestamp())},
                    "limit": 100,
                    "expand": ["data.payment_intent.latest_charge"],
                }
            )
        )
        return [await self._payment(session.to_dict()) async for session in page.auto_paging_iter()]
