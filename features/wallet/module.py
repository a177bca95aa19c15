"""Wiring for the wallet: its records, the payment gateway chosen by PAYMENT_GATEWAY, and routes."""

from __future__ import annotations

import logging
import os

from injector import Binder, Injector, Module, provider, singleton

from core.clock import Clock
from core.db import Database, tables_in
from core.di import bind_port
from core.events import EventBus
from core.feature import Command, CronSpec, Feature, NavLink
from core.settings import Settings, SettingsError
from core.uow import UnitOfWork
from features.ledger.service import LedgerService
from features.sandbox_pay.service import SandboxVendor
from features.wallet import cli as wallet_cli
from features.wallet import tables as wallet_tables
from features.wallet.adapters.records import (
    MemoryPurchaseRepository,
    MemoryReconciliationRepository,
    MemoryWebhookInbox,
    PostgresPurchaseRepository,
    PostgresReconciliationRepository,
    PostgresWebhookInbox,
)
from features.wallet.adapters.sandbox_gateway import SandboxGateway
from features.wallet.controller import ReconciliationController, WalletController, WebhookController
from features.wallet.jobs import reconcile_payments
from features.wallet.live import WalletPill
from features.wallet.model import InvalidPacks, PackCatalog, parse_packs
from features.wallet.ports import PaymentGateway, PurchaseRepository, ReconciliationRepository, WebhookInbox
from features.wallet.service import WalletService

log = logging.getLogger(__name__)


def pack_catalog(settings: Settings) -> PackCatalog:
    """The packs on sale; a bad PACKS or CURRENCY stops start-up with a message naming the variable."""
    try:
        return parse_packs(settings.packs, settings.currency)
    except InvalidPacks as error:
        raise SettingsError(f"PACKS / CURRENCY: {error}") from error


class _WalletServiceModule(Module):
    @singleton
    @provider
    def catalog(self, settings: Settings) -> PackCatalog:
        return pack_catalog(settings)

    @singleton
    @provider
    def gateway(self, settings: Settings, injector: Injector, clock: Clock) -> PaymentGateway:
        if settings.payment_gateway == "stripe":
            # stripe's SDK takes ≈ 0.5 s to import: only when it is the configured gateway
            from features.wallet.adapters.stripe_gateway import StripeGateway, make_client

            client = make_client(settings.stripe_api_key, settings.stripe_api_base)
            return StripeGateway(client, settings.stripe_webhook_secret, settings.public_url)
        return SandboxGateway(injector.get(SandboxVendor), clock)

    @singleton
    @provider
    def wallet_service(
        self,
        catalog: PackCatalog,
        gateway: PaymentGateway,
        purchases: PurchaseRepository,
        inbox: WebhookInbox,
        runs: ReconciliationRepository,
        ledger: LedgerService,
        uow: UnitOfWork,
        clock: Clock,
        settings: Settings,
        bus: EventBus,
    ) -> WalletService:
        return WalletService(
            catalog, gateway, settings.payment_gateway, purchases, inbox, runs, ledger, uow, clock, bus
        )

    @singleton
    @provider
    def balance_pill(self, wallet: WalletService) -> WalletPill:
        return WalletPill(wallet)


class WalletModule(_WalletServiceModule):
    @singleton
    @provider
    def purchases(self, db: Database) -> PurchaseRepository:
        return PostgresPurchaseRepository(db)

    @singleton
    @provider
    def inbox(self, db: Database) -> WebhookInbox:
        return PostgresWebhookInbox(db)

    @singleton
    @provider
    def runs(self, db: Database) -> ReconciliationRepository:
        return PostgresReconciliationRepository(db)


class MemoryWalletModule(_WalletServiceModule):
    def configure(self, binder: Binder) -> None:
        bind_port(binder, PurchaseRepository, MemoryPurchaseRepository())
        bind_port(binder, WebhookInbox, MemoryWebhookInbox())
        bind_port(binder, ReconciliationRepository, MemoryReconciliationRepository())


async def check_packs(injector: Injector) -> None:
    """Fail at start-up, not at the first purchase, when PACKS cannot be read; say it loudly when a
    public (https) site hands out points through the sandbox vendor."""
    injector.get(PackCatalog)
    settings = injector.get(Settings)
    if settings.payment_gateway == "sandbox" and settings.secure_cookies:
        log.warning("PAYMENT_GATEWAY=sandbox on %s: anyone can 'pay' on the sandbox page", settings.public_url)


# CronSpec takes a fixed string when the feature list is built, before Settings exist; read the same
# variable Settings reads (RECONCILE_CRON), with Settings' default.
RECONCILE_CRON = os.environ.get("RECONCILE_CRON") or Settings().reconcile_cron

FEATURE = Feature(
    name="wallet",
    module=WalletModule,
    memory_module=MemoryWalletModule,
    route_handlers=[WalletController, WebhookController, ReconciliationController],
    cron_jobs=[CronSpec(reconcile_payments, RECONCILE_CRON, timeout=600)],
    on_startup=[check_packs],
    csrf_exempt=["/webhooks/payments"],
    me_panels=["wallet/_me_panel.html"],
    header_partials=["wallet/_balance_pill_loader.html"],
    live_parts=[WalletPill],  # the balance pill rides the live pages' one stream
    nav=[
        NavLink("Wallet", "/wallet", "user", order=40),
        NavLink("Reconciliation", "/staff/reconciliation", "staff", order=95),
    ],
    commands=[
        Command(
            "reconcile",
            "compare the payment vendor's payments with the ledger; heal missing credits",
            wallet_cli.run,
            wallet_cli.configure,
        ),
    ],
    tables=tables_in(wallet_tables),
)
