"""A small fake of Stripe's HTTP API for contract tests of the Stripe gateway.

It runs `http.server` in a thread on a free local port and answers the handful of endpoints the
gateway uses (Checkout Sessions, Refunds, Disputes) with Stripe-shaped JSON. It checks what the
official SDK sends — method, path, form-encoded parameters, `Authorization: Bearer <key>`,
`Idempotency-Key` on creates — records every request, and replays the first response for a reused
idempotency key, as Stripe does. Tests play the payer and the bank with `complete`, `dispute`,
`win_dispute` and `expire`, and get webhooks signed the way Stripe signs them from `signed_event`.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.stripe_http import FakeHttpServer, Recorded, parse_request, sign, stripe_error

API_KEY = "sk_test_fake_hypha"
WEBHOOK_SECRET = "whsec_fake_hypha_secret"


def stripe_signature(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    return sign(payload, secret, timestamp)


@dataclass
class FakeStripe:
    api_key: str = API_KEY
    webhook_secret: str = WEBHOOK_SECRET
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    charges: dict[str, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)
    disputes: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    idempotent: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_test_{next(self._ids):06d}"

    # --- the payer and the bank (test side) ---------------------------------------------------------

    def complete(self, session_id: str) -> dict[str, Any]:
        """The payer pays: a PaymentIntent and its Charge appear, the session is complete and paid."""
        with self.lock:
            session = self.sessions[session_id]
            intent_id, charge_id = self.new_id("pi"), self.new_id("ch")
            self.charges[charge_id] = {
                "id": charge_id,
                "object": "charge",
                "amount": session["amount_total"],
                "amount_refunded": 0,
                "currency": session["currency"],
                "payment_intent": intent_id,
                "refunded": False,
                "disputed": False,
                "created": int(time.time()),
            }
            self.intents[intent_id] = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": session["amount_total"],
                "currency": session["currency"],
                "status": "succeeded",
                "latest_charge": charge_id,
                "metadata": dict(session["metadata"]),
            }
            session.update(status="complete", payment_status="paid", payment_intent=intent_id)
            return self._session(session_id, expand=False)

    def expire(self, session_id: str) -> dict[str, Any]:
        with self.lock:
            self.sessions[session_id].update(status="expired")
            return self._session(session_id, expand=False)

    def dispute(self, session_id: str, *, withdraw: bool = True) -> dict[str, Any]:
        """The payer's bank disputes the charge and withdraws what was not refunded (a balance transaction
        of minus that amount). `withdraw=False` is an inquiry: nothing is taken yet."""
        with self.lock:
            intent = self.intents[self.sessions[session_id]["payment_intent"]]
            charge = self.charges[intent["latest_charge"]]
            dispute_id, now = self.new_id("dp"), int(time.time())
            amount = charge["amount"] - charge["amount_refunded"]
            self.disputes[dispute_id] = {
                "id": dispute_id,
                "object": "dispute",
                "amount": amount,
                "currency": charge["currency"],
                "charge": charge["id"],
                "payment_intent": intent["id"],
                "status": "needs_response" if withdraw else "warning_needs_response",
                "balance_transactions": [self._balance_transaction(-amount, "dispute", now)] if withdraw else [],
                "created": now,
            }
            charge["disputed"] = True
            return _copy(self.disputes[dispute_id])

    def win_dispute(self, dispute_id: str) -> dict[str, Any]:
        """The merchant wins: the dispute is `won` and, if money was withdrawn, a second balance
        transaction reinstates it. Send `charge.dispute.funds_reinstated` / `charge.dispute.closed`
        with `signed_event(..., returned dispute)`."""
        with self.lock:
            dispute = self.disputes[dispute_id]
            if dispute["status"] != "won":
                withdrawn = -sum(bt["amount"] for bt in dispute["balance_transactions"])
                dispute["status"] = "won"
                if withdrawn > 0:
                    bt = self._balance_transaction(withdrawn, "dispute_reversal", int(time.time()))
                    dispute["balance_transactions"].append(bt)
            return _copy(dispute)

    def _balance_transaction(self, amount: int, category: str, created: int) -> dict[str, Any]:
        return {
            "id": self.new_id("txn"),
            "object": "balance_transaction",
            "amount": amount,
            "currency": "usd",
            "reporting_category": category,
            "type": "adjustment",
            "created": created,
        }

    def signed_event(
        self, event_type: str, obj: dict[str, Any], *, timestamp: int | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """A webhook as Stripe would send it: the event JSON and its Stripe-Signature header."""
        event = {
            "id": self.new_id("evt"),
            "object": "event",
            "api_version": "2025-01-01",
            "created": int(time.time()),
            "type": event_type,
            "livemode": False,
            "data": {"object": obj},
        }
        body = json.dumps(event).encode()
        return body, {"stripe-signature": stripe_signature(body, self.webhook_secret, timestamp)}

    def charge_of(self, session_id: str) -> dict[str, Any]:
        with self.lock:
            return dict(self.charges[self.intents[self.sessions[session_id]["payment_intent"]]["latest_charge"]])

    # --- the API (server side) ---------------------------------------------------------------------

    def _session(self, session_id: str, *, expand: bool) -> dict[str, Any]:
        session = dict(self.sessions[session_id])
        if expand and session.get("payment_intent"):
            intent = dict(self.intents[session["payment_intent"]])
            intent["latest_charge"] = dict(self.charges[intent["latest_charge"]])
            session["payment_intent"] = intent
        return session

    def handle(self, method: str, target: str, body: str, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
        recorded = parse_request(method, target, body, headers)
        params = recorded.params
        with self.lock:
            self.requests.append(recorded)
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, stripe_error("invalid_request_error", "Invalid API Key provided.")
        key = headers.get("idempotency-key")
        if method == "POST":
            if not key:
                return 400, stripe_error("invalid_request_error", "The fake wants an Idempotency-Key on every create.")
            with self.lock:
                if key in self.idempotent:
                    return self.idempotent[key]
        answer = self._route(method, recorded.path, params)
        if method == "POST" and key and answer[0] == 200:
            with self.lock:
                self.idempotent[key] = answer
        return answer

    def _route(self, method: str, path: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        with self.lock:
            if method == "POST" and path == "/v1/checkout/sessions":
                return self._create_session(params)
            if method == "GET" and path == "/v1/checkout/sessions":
                return 200, self._list_sessions(params)
            if method == "GET" and len(parts) == 4 and parts[:3] == ["v1", "checkout", "sessions"]:
                if parts[3] not in self.sessions:
                    return 404, stripe_error("invalid_request_error", f"No such checkout.session: '{parts[3]}'")
                expand = params.get("expand[0]") == "payment_intent.latest_charge"
                return 200, self._session(parts[3], expand=expand)
            if method == "POST" and path == "/v1/refunds":
                return self._create_refund(params)
            if method == "GET" and path == "/v1/refunds":
                found = [r for r in self.refunds.values() if r["payment_intent"] == params.get("payment_intent")]
                return 200, _list(path, found)
            if method == "GET" and path == "/v1/disputes":
                found = [
                    _copy(d) for d in self.disputes.values() if d["payment_intent"] == params.get("payment_intent")
                ]
                return 200, _list(path, found)
        return 404, stripe_error("invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    def _create_session(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        required = [
            "mode",
            "line_items[0][quantity]",
            "line_items[0][price_data][currency]",
            "line_items[0][price_data][unit_amount]",
            "line_items[0][price_data][product_data][name]",
            "success_url",
            "cancel_url",
        ]
        missing = [name for name in required if not params.get(name)]
        if missing or params["mode"] != "payment":
            return 400, stripe_error("invalid_request_error", f"Missing or wrong parameters: {missing or ['mode']}")
        session_id = self.new_id("cs")
        metadata = {k[len("metadata[") : -1]: v for k, v in params.items() if k.startswith("metadata[")}
        self.sessions[session_id] = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "status": "open",
            "payment_status": "unpaid",
            "amount_total": int(params["line_items[0][price_data][unit_amount]"])
            * int(params["line_items[0][quantity]"]),
            "currency": params["line_items[0][price_data][currency]"],
            "client_reference_id": params.get("client_reference_id"),
            "metadata": metadata,
            "payment_intent": None,
            "success_url": params["success_url"],
            "cancel_url": params["cancel_url"],
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
            "created": int(time.time()),
        }
        return 200, dict(self.sessions[session_id])

    def _list_sessions(self, params: dict[str, str]) -> dict[str, Any]:
        found = list(self.sessions.values())
        if "payment_intent" in params:
            found = [s for s in found if s["payment_intent"] == params["payment_intent"]]
        if "created[gte]" in params:
            found = [s for s in found if s["created"] >= int(params["created[gte]"])]
        if "created[lt]" in params:
            found = [s for s in found if s["created"] < int(params["created[lt]"])]
        expand = params.get("expand[0]") == "data.payment_intent.latest_charge"
        found.sort(key=lambda s: s["id"], reverse=True)  # Stripe lists newest first
        limit = int(params.get("limit", "10"))
        if "starting_after" in params:
            ids = [s["id"] for s in found]
            found = found[ids.index(params["starting_after"]) + 1 :]
        page = [self._session(s["id"], expand=expand) for s in found[:limit]]
        return _list("/v1/checkout/sessions", page, has_more=len(found) > limit)

    def _create_refund(self, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        intent = self.intents.get(params.get("payment_intent", ""))
        if intent is None:
            return 404, stripe_error("invalid_request_error", "No such payment_intent.")
        charge = self.charges[intent["latest_charge"]]
        left = charge["amount"] - charge["amount_refunded"]
        amount = int(params.get("amount", left))
        if not 0 < amount <= left:
            return 400, stripe_error("invalid_request_error", "Refund amount is greater than unrefunded amount.")
        refund_id = self.new_id("re")
        self.refunds[refund_id] = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "payment_intent": intent["id"],
            "status": "succeeded",
            "created": int(time.time()),
        }
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        return 200, dict(self.refunds[refund_id])


def _copy(obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy (through JSON, as it goes on the wire), so callers never hold the fake's own state."""
    copied: dict[str, Any] = json.loads(json.dumps(obj))
    return copied


def _list(url: str, data: list[dict[str, Any]], *, has_more: bool = False) -> dict[str, Any]:
    """A Stripe list: newest first."""
    data = sorted(data, key=lambda item: (item.get("created", 0), item["id"]), reverse=True)
    return {"object": "list", "url": url, "has_more": has_more, "data": data}


class FakeStripeServer(FakeHttpServer[FakeStripe]):
    """`with FakeStripeServer() as fake:` serves a FakeStripe on http://127.0.0.1:<free port>."""

    def __init__(self, state: FakeStripe | None = None) -> None:
        super().__init__(state or FakeStripe(), "req_fake")
