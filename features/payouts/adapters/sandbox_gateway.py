"""The PayoutGateway on the built-in sandbox payout vendor (features/payouts/sandbox.py): same process,
same database, spoken to only through the vendor's service, as a real vendor's API would be.

The sandbox sends no webhooks: its settle job tells PayoutService directly (the poll path)."""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

from features.payouts.model import InvalidSignature, PayoutNotice, VendorPayout, VendorStatus
from features.payouts.sandbox import SandboxPayoutVendor
from features.payouts.sandbox_model import FAILED, PAID, SandboxPayout


def vendor_payout(payout: SandboxPayout) -> VendorPayout:
    status = {PAID: VendorStatus.PAID, FAILED: VendorStatus.FAILED}.get(payout.status, VendorStatus.PENDING)
    reason = payout.failure_reason if status is VendorStatus.FAILED else ""
    return VendorPayout(payout.ref, status, reason)


class SandboxPayoutGateway:
    def __init__(self, vendor: SandboxPayoutVendor) -> None:
        self.vendor = vendor

    async def create_payout(
        self, idempotency_key: str, creator_id: UUID, amount_minor: int, currency: str
    ) -> VendorPayout:
        return vendor_payout(await self.vendor.create(idempotency_key, creator_id, amount_minor, currency))

    async def fetch_payout(self, ref: str) -> VendorPayout:
        return vendor_payout(await self.vendor.payout(ref))

    async def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> PayoutNotice:
        raise InvalidSignature("The sandbox payout vendor sends no webhooks.")

    async def return_funds(self, idempotency_key: str, ref: str) -> None:
        await self.vendor.payout(ref)  # a failed sandbox payout never took the money: only check the ref
