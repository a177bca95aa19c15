"""A small fake of Stripe Connect's HTTP API for contract tests of the payout gateway.

It serves, on a free local port, the endpoints the Stripe Connect payout adapter uses — Transfers
(platform → connected account), Payouts on a connected account (with the `Stripe-Account` header),
and Transfer Reversals — with Stripe-shaped JSON. It checks what the official SDK sends: method, path,
form-encoded parameters, `Authorization: Bearer <key>`, an `Idempotency-Key` on every create (the
first response is replayed for a reused key, per account as Stripe does), that the destination is a
connected account and that balances cover the money. Tests play the bank with `settle` and get Connect
webhooks signed the way Stripe signs them from `signed_event`.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.stripe_http import FakeHttpServer, Recorded, parse_request, sign, stripe_error

API_KEY = "sk_test_fake_connect"
WEBHOOK_SECRET = "whsec_fake_connect_secret"
ACCOUNT = "acct_1FakeConnected01"


def stripe_signature(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    return sign(payload, secret, timestamp)


def _metadata(params: dict[str, str]) -> dict[str, str]:
    return {k[len("metadata[") : -1]: v for k, v in params.items() if k.startswith("metadata[")}


@dataclass
class FakeStripeConnect:
    api_key: str = API_KEY
    webhook_secret: str = WEBHOOK_SECRET
    platform_balance: int = 10_000_000  # minor units the platform can transfer
    accounts: dict[str, int] = field(default_factory=lambda: {ACCOUNT: 0})  # connected account → balance
    transfers: dict[str, dict[str, Any]] = field(default_factory=dict)
    payouts: dict[str, dict[str, Any]] = field(default_factory=dict)
    payout_account: dict[str, str] = field(default_factory=dict)
    reversals: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    idempotent: dict[tuple[str, str], tuple[int, dict[str, Any]]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_test{next(self._ids):08d}"

    # --- the bank (test side) -------------------------------------------------------------------------

    def connect(self, account: str) -> str:
        with self.lock:
            self.accounts.setdefault(account, 0)
            return account

    def settle(self, payout_id: str, *, paid: bool = True, failure_code: str = "account_closed") -> dict[str, Any]:
        """The bank pays the payout — or refuses it, and Stripe puts the money back in the account's balance."""
        with self.lock:
            payout = self.payouts[payout_id]
            if paid:
                payout.update(status="paid")
            else:
                payout.update(
                    status="failed",
                    failure_code=failure_code,
                    failure_message="The bank account has been closed.",
                )
                self.accounts[self.payout_account[payout_id]] += payout["amount"]
            return dict(payout)

    def signed_event(
        self, event_type: str, payout_id: str, *, timestamp: int | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """A Connect webhook as Stripe sends it: the event (with `account`) and its Stripe-Signature."""
        with self.lock:
            event = {
                "id": self.new_id("evt"),
                "object": "event",
                "api_version": "2025-01-01",
                "account": self.payout_account[payout_id],
                "created": int(time.time()),
                "type": event_type,
                "livemode": False,
                "data": {"object": dict(self.payouts[payout_id])},
            }
        body = json.dumps(event).encode()
        return body, {"stripe-signature": stripe_signature(body, self.webhook_secret, timestamp)}

    # --- the API (server side) ------------------------------------------------------------------------

    def handle(self, method: str, target: str, body: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        recorded = parse_request(method, target, body, headers)
        params = recorded.params
        with self.lock:
            self.requests.append(recorded)
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, stripe_error("invalid_request_error", "Invalid API Key provided.")
        account = headers.get("stripe-account", "")
        if account and account not in self.accounts:
            return 403, stripe_error("invalid_request_error", "The provided key does not have access to that account.")
        key = headers.get("idempotency-key")
        if method == "POST":
            if not key:
                return 400, stripe_error("invalid_request_error", "The fake wants an Idempotency-Key on every create.")
            with self.lock:
                if (account, key) in self.idempotent:
                    return self.idempotent[(account, key)]
        with self.lock:
            answer = self._route(method, recorded.path, params, account)
            if method == "POST" and key and answer[0] < 500:
                self.idempotent[(account, key)] = answer  # Stripe replays errors of a key too
        return answer

    def _route(self, method: str, path: str, params: dict[str, str], account: str) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        if method == "POST" and path == "/v1/transfers" and not account:
            return self._create_transfer(params)
        if method == "POST" and path == "/v1/payouts" and account:
            return self._create_payout(params, account)
        if method == "GET" and len(parts) == 3 and parts[:2] == ["v1", "payouts"] and account:
            if self.payout_account.get(parts[2]) != account:
                return 404, stripe_error("invalid_request_error", f"No such payout: '{parts[2]}'", "resource_missing")
            return 200, dict(self.payouts[parts[2]])
        if method == "POST" and len(parts) == 4 and parts[:2] == ["v1", "transfers"] and parts[3] == "reversals":
            return self._reverse(parts[2], params)
        return 404, stripe_error("invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    def _create_transfer(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        missing = [name for name in ("amount", "currency", "destination") if not params.get(name)]
        if missing:
            return 400, stripe_error(
                "invalid_request_error", f"Missing required param: {missing[0]}.", "parameter_missing"
            )
        destination, amount = params["destination"], int(params["amount"])
        if destination not in self.accounts:
            return 400, stripe_error(
                "invalid_request_error", f"No such destination: '{destination}'", "resource_missing"
            )
        if not 0 < amount <= self.platform_balance:
            return 400, stripe_error(
                "invalid_request_error", "Insufficient funds in Stripe balance.", "balance_insufficient"
            )
        transfer_id = self.new_id("tr")
        self.transfers[transfer_id] = {
            "id": transfer_id,
            "object": "transfer",
            "amount": amount,
            "amount_reversed": 0,
            "currency": params["currency"],
            "destination": destination,
            "transfer_group": params.get("transfer_group"),
            "metadata": _metadata(params),
            "reversed": False,
            "created": int(time.time()),
        }
        self.platform_balance -= amount
        self.accounts[destination] += amount
        return 200, dict(self.transfers[transfer_id])

    def _create_payout(self, params: dict[str, str], account: str) -> tuple[int, dict[str, Any]]:
        if not params.get("amount") or not params.get("currency"):
            return 400, stripe_error("invalid_request_error", "Missing required param: amount.", "parameter_missing")
        amount = int(params["amount"])
        if not 0 < amount <= self.accounts[account]:
            return 400, stripe_error(
                "invalid_request_error", "Insufficient funds in Stripe balance.", "balance_insufficient"
            )
        payout_id = self.new_id("po")
        self.payouts[payout_id] = {
            "id": payout_id,
            "object": "payout",
            "amount": amount,
            "currency": params["currency"],
            "status": "pending",
            "failure_code": None,
            "failure_message": None,
            "metadata": _metadata(params),
            "arrival_date": int(time.time()) + 2 * 86400,
            "created": int(time.time()),
        }
        self.payout_account[payout_id] = account
        self.accounts[account] -= amount
        return 200, dict(self.payouts[payout_id])

    def _reverse(self, transfer_id: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        transfer = self.transfers.get(transfer_id)
        if transfer is None:
            return 404, stripe_error("invalid_request_error", f"No such transfer: '{transfer_id}'", "resource_missing")
        left = transfer["amount"] - transfer["amount_reversed"]
        amount = int(params.get("amount", left))
        destination = transfer["destination"]
        if not 0 < amount <= min(left, self.accounts[destination]):
            return 400, stripe_error("invalid_request_error", "The transfer cannot be reversed by that amount.")
        reversal_id = self.new_id("trr")
        self.reversals[reversal_id] = {
            "id": reversal_id,
            "object": "transfer_reversal",
            "amount": amount,
            "transfer": transfer_id,
            "metadata": _metadata(params),
        }
        transfer["amount_reversed"] += amount
        transfer["reversed"] = transfer["amount_reversed"] == transfer["amount"]
        self.accounts[destination] -= amount
        self.platform_balance += amount
        return 200, dict(self.reversals[reversal_id])


class FakeStripeConnectServer(FakeHttpServer[FakeStripeConnect]):
    """`with FakeStripeConnectServer() as fake:` serves a FakeStripeConnect on http://127.0.0.1:<free port>."""

    def __init__(self, state: FakeStripeConnect | None = None) -> None:
        super().__init__(state or FakeStripeConnect(), "req_fake_connect")
