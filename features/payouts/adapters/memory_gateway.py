"""The PayoutGateway in memory, with the vendor's hands for tests: settle a payout paid or failed,
refuse the next one, be unreachable, and send an HMAC-signed webhook about a payout."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from uuid import UUID

import msgspec

from features.payouts.model import (
    InvalidSignature,
    PayoutNotFound,
    PayoutNotice,
    PayoutRejected,
    VendorPayout,
    VendorStatus,
    VendorUnavailable,
)

SIGNATURE_HEADER = "x-memory-payouts-signature"


class PayoutWebhookBody(msgspec.Struct):
    """The in-memory vendor's webhook JSON, decoded once its signature over the raw bytes holds."""

    id: str
    ref: str | None = None


@dataclass
class MemoryPayoutGateway:
    secret: str = "memory-payouts-secret"  # noqa: S105 — a test adapter's fixed key
    payouts: dict[str, VendorPayout] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    sent: dict[str, tuple[UUID, int, str]] = field(default_factory=dict)  # ref → (creator, amount, currency)
    returned: list[str] = field(default_factory=list)  # refs whose money came back (return_funds)
    reject_next: str = ""  # a reason: the next new payout is refused with it
    unavailable: bool = False
    returns_unavailable: bool = False  # only return_funds cannot reach the vendor
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    async def create_payout(
        self, idempotency_key: str, creator_id: UUID, amount_minor: int, currency: str
    ) -> VendorPayout:
        if self.unavailable:
            raise VendorUnavailable()
        if idempotency_key in self.by_key:
            return self.payouts[self.by_key[idempotency_key]]
        if self.reject_next or amount_minor <= 0:
            reason, self.reject_next = self.reject_next or "The amount must be positive.", ""
            raise PayoutRejected(reason)
        ref = f"mpo_{next(self._ids):06d}"
        self.payouts[ref] = VendorPayout(ref, VendorStatus.PENDING)
        self.by_key[idempotency_key] = ref
        self.sent[ref] = (creator_id, amount_minor, currency)
        return self.payouts[ref]

    async def fetch_payout(self, ref: str) -> VendorPayout:
        if self.unavailable:
            raise VendorUnavailable()
        if ref not in self.payouts:
            raise PayoutNotFound()
        return self.payouts[ref]

    async def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> PayoutNotice:
        given = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER), "")
        expected = hmac.new(self.secret.encode(), raw_body, hashlib.sha256).hexdigest()
        if not given or not hmac.compare_digest(given, expected):
            raise InvalidSignature()
        try:
            notice = msgspec.json.decode(raw_body, type=PayoutWebhookBody)
        except msgspec.DecodeError as error:
            raise InvalidSignature("That webhook is not a payout event.") from error
        return PayoutNotice(notice.id, notice.ref or None)

    async def return_funds(self, idempotency_key: str, ref: str) -> None:
        if self.unavailable or self.returns_unavailable:
            raise VendorUnavailable()
        if ref not in self.payouts:
            raise PayoutNotFound()
        if ref not in self.returned:
            self.returned.append(ref)

    # --- the vendor's side (tests) ------------------------------------------------------------------

    def settle(self, ref: str, *, paid: bool = True, reason: str = "The bank refused the payout.") -> VendorPayout:
        status = VendorStatus.PAID if paid else VendorStatus.FAILED
        self.payouts[ref] = replace(self.payouts[ref], status=status, failure_reason="" if paid else reason)
        return self.payouts[ref]

    def webhook(self, ref: str | None) -> tuple[bytes, dict[str, str]]:
        """A signed webhook about `ref` (None: an event about something else)."""
        body = json.dumps({"id": f"mev_{next(self._ids):06d}", "ref": ref}).encode()
        return body, {SIGNATURE_HEADER: hmac.new(self.secret.encode(), body, hashlib.sha256).hexdigest()}
