"""Driving the wallet and the sandbox vendor in tests: buy, pay, refund, dispute, and deliver the
vendor's webhooks straight into `WalletService.handle_webhook` (memory or PostgreSQL adapters alike)."""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID, uuid4

from injector import Injector

from features.ledger.model import AccountRef
from features.ledger.service import LedgerService
from features.sandbox_pay.delivery import MemoryWebhookSender
from features.sandbox_pay.model import DeliveryReport
from features.sandbox_pay.service import SandboxVendor
from features.wallet.model import InvalidSignature, Purchase, WebhookOutcome
from features.wallet.service import WalletService


class WalletHarness:
    def __init__(self, injector: Injector) -> None:
        self.injector = injector
        self.wallet = injector.get(WalletService)
        self.vendor = injector.get(SandboxVendor)
        self.ledger = injector.get(LedgerService)
        self.outcomes: list[WebhookOutcome] = []
        self.rejected = 0
        self.sender = MemoryWebhookSender(receive=self.receive)
        self.held = MemoryWebhookSender()  # records webhooks without handing them over

    async def receive(self, body: bytes, headers: Mapping[str, str]) -> int:
        try:
            outcome = await self.wallet.handle_webhook(body, headers)
        except InvalidSignature:
            self.rejected += 1
            return 400
        self.outcomes.append(outcome)
        return 200

    async def buy(self, user_id: UUID | None = None, pack_id: str = "p100", key: str | None = None) -> Purchase:
        pack = self.wallet.catalog.find(pack_id)  # the price its buy button would show
        shown = (pack.price_minor, pack.currency) if pack else (0, "USD")
        return await self.wallet.start_purchase(user_id or uuid4(), pack_id, key or uuid4().hex, *shown)

    async def deliver(self, ids: list[int], *, hold: bool = False) -> DeliveryReport:
        return await self.vendor.deliver(self.held if hold else self.sender, ids)

    async def pay(self, purchase: Purchase, *, deliver: bool = True, hold: bool = False) -> list[int]:
        _, ids = await self.vendor.pay(purchase.payment_ref)
        if deliver:
            await self.deliver(ids, hold=hold)
        return ids

    async def decline(self, purchase: Purchase) -> None:
        _, ids = await self.vendor.decline(purchase.payment_ref)
        await self.deliver(ids)

    async def refund(
        self, purchase: Purchase, amount_minor: int | None = None, *, deliver: bool = True, hold: bool = False
    ) -> list[int]:
        _, ids = await self.vendor.refund(purchase.payment_ref, uuid4().hex, amount_minor)
        if deliver:
            await self.deliver(ids, hold=hold)
        return ids

    async def dispute(self, purchase: Purchase, *, deliver: bool = True) -> list[int]:
        _, ids = await self.vendor.open_dispute(purchase.payment_ref, uuid4().hex)
        if deliver:
            await self.deliver(ids)
        return ids

    async def balance(self, user_id: UUID) -> int:
        return await self.ledger.balance(AccountRef.wallet(user_id))

    async def credits(self, purchase: Purchase) -> int:
        """How many purchase transfers the ledger holds for this payment."""
        transfers = await self.ledger.transfers_with_metadata("payment_ref", purchase.payment_ref)
        return sum(1 for t in transfers if t.kind == "purchase")
