"""The PayoutGateway on Stripe Connect, through the official `stripe` package (StripeClient, async).

A payout is two Stripe objects, each created with its own idempotency key derived from ours:
1. a Transfer of the amount from the platform's balance to the creator's connected account
   (`destination` = the acct_… id the creator entered on the payouts page), then
2. a Payout on that connected account (`Stripe-Account` header) to its bank, which Stripe reports as
   pending → in_transit → paid, or failed / canceled, with `payout.*` Connect webhooks.

Our vendor ref is "<acct_…>/<po_…>": a payout is read with the account's header. When a payout
fails, Stripe puts the money back in the connected account's balance; `return_funds` reverses the
transfer so it is back with the platform before the points go back to the creator.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar
from uuid import UUID

import stripe

from features.payouts.model import (
    InvalidSignature,
    PayoutNotFound,
    PayoutNotice,
    PayoutRejected,
    VendorPayout,
    VendorStatus,
    VendorUnavailable,
)
from features.payouts.ports import PayeeRepository

TOLERANCE_SECONDS = 300
T = TypeVar("T")


def _status(payout: Mapping[str, Any]) -> VendorPayout:
    raw = str(payout.get("status", ""))
    if raw == "paid":
        status = VendorStatus.PAID
    elif raw in ("failed", "canceled"):
        status = VendorStatus.FAILED
    else:  # pending, in_transit
        status = VendorStatus.PENDING
    reason = ""
    if status is VendorStatus.FAILED:
        reason = str(payout.get("failure_message") or payout.get("failure_code") or f"Stripe reports it {raw}.")
    return VendorPayout("", status, reason)


def _split(ref: str) -> tuple[str, str]:
    account, _, payout_id = ref.partition("/")
    if not account.startswith("acct_") or not payout_id.startswith("po_"):
        raise PayoutNotFound()
    return account, payout_id


def make_client(api_key: str, api_base: str = "", max_network_retries: int = 2) -> stripe.StripeClient:
    """A StripeClient on the SDK's httpx client (async), optionally pointed at another API base URL."""
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base} if api_base else None,
        http_client=stripe.HTTPXClient(),
        max_network_retries=max_network_retries,
    )


class StripeConnectGateway:
    def __init__(self, client: stripe.StripeClient, payees: PayeeRepository, webhook_secret: str) -> None:
        self.client = client
        self.payees = payees
        self.webhook_secret = webhook_secret

    async def _call(self, request: Callable[[], Awaitable[T]], *, creating: bool = False) -> T:
        try:
            return await request()
        except stripe.InvalidRequestError as error:
            if creating:  # e.g. "No such destination", "balance_insufficient": Stripe will not do it
                raise PayoutRejected(f"Stripe refused the payout: {error.user_message or error.code}") from error
            if error.http_status == 404:
                raise PayoutNotFound() from error
            raise
        except stripe.PermissionError as error:  # the account is not connected to this platform
            raise PayoutRejected("Stripe refused the payout: that account is not connected to Hypha.") from error
        except (stripe.APIConnectionError, stripe.APIError, stripe.RateLimitError) as error:
            raise VendorUnavailable() from error

    async def create_payout(
        self, idempotency_key: str, creator_id: UUID, amount_minor: int, currency: str
    ) -> VendorPayout:
        payee = await self.payees.get(creator_id)
        if payee is None or not payee.stripe_account_id:
            raise PayoutRejected("No Stripe account id is set for this creator.")
        account = payee.stripe_account_id
        metadata = {"creator_id": str(creator_id), "payout_key": idempotency_key}
        transfer = await self._call(
            lambda: self.client.v1.transfers.create_async(
                {
                    "amount": amount_minor,
                    "currency": currency.lower(),
                    "destination": account,
                    "transfer_group": idempotency_key,
                    "metadata": metadata,
                },
                {"idempotency_key": f"{idempotency_key}:transfer"},
            ),
            creating=True,
        )
        try:
            payout = await self._call(
                lambda: self.client.v1.payouts.create_async(
                    {
                        "amount": amount_minor,
                        "currency": currency.lower(),
                        "metadata": {**metadata, "transfer": str(transfer.id)},
                    },
                    {"idempotency_key": f"{idempotency_key}:payout", "stripe_account": account},
                ),
                creating=True,
            )
        except PayoutRejected:
            await self._reverse(str(transfer.id), f"{idempotency_key}:reversal")
            raise
        found = _status(payout.to_dict())
        return VendorPayout(f"{account}/{payout.id}", found.status, found.failure_reason)

    async def _payout(self, ref: str) -> dict[str, Any]:
        account, payout_id = _split(ref)
        payout = await self._call(
            lambda: self.client.v1.payouts.retrieve_async(payout_id, options={"stripe_account": account})
        )
        return payout.to_dict()

    async def fetch_payout(self, ref: str) -> VendorPayout:
        found = _status(await self._payout(ref))
        return VendorPayout(ref, found.status, found.failure_reason)

    async def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> PayoutNotice:
        header = next((v for k, v in headers.items() if k.lower() == "stripe-signature"), None)
        try:
            event = self.client.construct_event(raw_body, header, self.webhook_secret, tolerance=TOLERANCE_SECONDS)
        except (stripe.SignatureVerificationError, ValueError) as error:
            raise InvalidSignature() from error
        data = event.to_dict()
        obj = data.get("data", {}).get("object", {})
        account = data.get("account")
        ref = None
        if str(data.get("type", "")).startswith("payout.") and account and obj.get("id"):
            ref = f"{account}/{obj['id']}"
        return PayoutNotice(str(data.get("id", "")), ref)

    async def return_funds(self, idempotency_key: str, ref: str) -> None:
        transfer = str((await self._payout(ref)).get("metadata", {}).get("transfer", ""))
        if transfer:
            await self._reverse(transfer, idempotency_key)

    async def _reverse(self, transfer_id: str, idempotency_key: str) -> None:
        await self._call(
            lambda: self.client.v1.transfers.reversals.create_async(
                transfer_id, {"metadata": {"reason": "payout_failed"}}, {"idempotency_key": idempotency_key}
            )
        )
