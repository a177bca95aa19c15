"""Wiring for payouts: records, the payout vendor chosen by PAYOUT_GATEWAY, jobs and routes."""

from __future__ import annotations

from injector import Binder, Injector, InstanceProvider, Module, provider, singleton

from core.clock import Clock
from core.db import Database, tables_in
from core.di import bind_port
from core.events import EventBus
from core.feature import CronSpec, Feature, NavLink
from core.jobs import JobQueue
from core.settings import Settings, SettingsError
from core.uow import UnitOfWork
from features.accounts.service import AccountService
from features.ledger.service import LedgerService
from features.payouts import tables as payouts_tables
from features.payouts.adapters.memory_gateway import MemoryPayoutGateway
from features.payouts.adapters.records import (
    MemoryEarningsWindowStore,
    MemoryPayeeRepository,
    MemoryPayoutRepository,
    MemorySandboxPayoutStore,
    PostgresEarningsWindowStore,
    PostgresPayeeRepository,
    PostgresPayoutRepository,
    PostgresSandboxPayoutStore,
)
from features.payouts.adapters.sandbox_gateway import SandboxPayoutGateway
from features.payouts.controller import (
    PayoutsController,
    PayoutWebhookController,
    SandboxPayoutsController,
    payouts_csv,
)
from features.payouts.jobs import monthly_payouts, settle_sandbox_payouts, sweep_payouts
from features.payouts.model import PayoutPolicy
from features.payouts.ports import (
    EarningsWindowStore,
    PayeeRepository,
    PayoutGateway,
    PayoutRepository,
    SandboxPayoutStore,
)
from features.payouts.sandbox import SandboxPayoutVendor
from features.payouts.service import PayoutService

GATEWAYS = ("sandbox", "stripe")


def payout_policy(settings: Settings) -> PayoutPolicy:
    """The payout rules from Settings; a bad value stops start-up with a message naming the variable."""
    if settings.payout_gateway not in GATEWAYS:
        raise SettingsError("PAYOUT_GATEWAY must be 'sandbox' or 'stripe'")
    if settings.payout_gateway == "stripe" and not settings.stripe_api_key:
        raise SettingsError("PAYOUT_GATEWAY=stripe needs STRIPE_API_KEY (and STRIPE_WEBHOOK_SECRET for webhooks)")
    try:
        return PayoutPolicy(
            hold_days=settings.payout_hold_days,
            minimum_points=settings.payout_minimum_points,
            points_per_unit=settings.points_per_currency_unit,
            currency=settings.currency.upper(),
            needs_connected_account=settings.payout_gateway == "stripe",
        )
    except ValueError as error:
        raise SettingsError(
            "PAYOUT_HOLD_DAYS must be >= 0, PAYOUT_MINIMUM_POINTS and POINTS_PER_CURRENCY_UNIT >= 1"
        ) from error


class _PayoutServiceModule(Module):
    @singleton
    @provider
    def policy(self, settings: Settings) -> PayoutPolicy:
        return payout_policy(settings)

    @singleton
    @provider
    def payout_service(
        self,
        payouts: PayoutRepository,
        payees: PayeeRepository,
        window: EarningsWindowStore,
        gateway: PayoutGateway,
        ledger: LedgerService,
        bus: EventBus,
        uow: UnitOfWork,
        clock: Clock,
        policy: PayoutPolicy,
        settings: Settings,
        accounts: AccountService,
    ) -> PayoutService:
        return PayoutService(
            payouts,
            payees,
            window,
            gateway,
            ledger,
            bus,
            uow,
            clock,
            policy,
            settings.payout_gateway,
            accounts=accounts,
        )


class PayoutsModule(_PayoutServiceModule):
    @singleton
    @provider
    def payouts(self, db: Database) -> PayoutRepository:
        return PostgresPayoutRepository(db)

    @singleton
    @provider
    def payees(self, db: Database) -> PayeeRepository:
        return PostgresPayeeRepository(db)

    @singleton
    @provider
    def window(self, db: Database) -> EarningsWindowStore:
        return PostgresEarningsWindowStore(db)

    @singleton
    @provider
    def gateway(self, settings: Settings, injector: Injector, payees: PayeeRepository) -> PayoutGateway:
        if settings.payout_gateway == "stripe":
            # stripe's SDK takes ≈ 0.5 s to import: only when it is the configured gateway
            from features.payouts.adapters.stripe_connect import StripeConnectGateway, make_client

            client = make_client(settings.stripe_api_key, settings.stripe_api_base)
            return StripeConnectGateway(client, payees, settings.stripe_webhook_secret)
        return SandboxPayoutGateway(injector.get(SandboxPayoutVendor))


class MemoryPayoutsModule(_PayoutServiceModule):
    """In memory; the gateway is MemoryPayoutGateway, which tests drive (settle, reject, webhooks)."""

    def configure(self, binder: Binder) -> None:
        gateway = MemoryPayoutGateway()
        binder.bind(MemoryPayoutGateway, to=InstanceProvider(gateway))
        bind_port(binder, PayoutGateway, gateway)
        bind_port(binder, PayoutRepository, MemoryPayoutRepository())
        bind_port(binder, PayeeRepository, MemoryPayeeRepository())
        window = MemoryEarningsWindowStore()
        binder.bind(MemoryEarningsWindowStore, to=InstanceProvider(window))
        bind_port(binder, EarningsWindowStore, window)


class _SandboxVendorModule(Module):
    @singleton
    @provider
    def sandbox_vendor(
        self, store: SandboxPayoutStore, uow: UnitOfWork, clock: Clock, jobs: JobQueue
    ) -> SandboxPayoutVendor:
        return SandboxPayoutVendor(store, uow, clock, jobs)


class SandboxPayoutsModule(_SandboxVendorModule):
    @singleton
    @provider
    def sandbox_store(self, db: Database) -> SandboxPayoutStore:
        return PostgresSandboxPayoutStore(db)


class MemorySandboxPayoutsModule(_SandboxVendorModule):
    def configure(self, binder: Binder) -> None:
        bind_port(binder, SandboxPayoutStore, MemorySandboxPayoutStore())


def sandbox_payouts_selected(settings: Settings) -> bool:
    return settings.payout_gateway == "sandbox"


async def check_payout_settings(injector: Injector) -> None:
    """Fail at start-up, not at the first payout, when the payout settings cannot be used."""
    injector.get(PayoutPolicy)


FEATURE = Feature(
    name="payouts",
    module=PayoutsModule,
    memory_module=MemoryPayoutsModule,
    route_handlers=[PayoutsController, payouts_csv, PayoutWebhookController],
    cron_jobs=[
        CronSpec(sweep_payouts, "* * * * *", timeout=120),
        CronSpec(monthly_payouts, "0 3 1 * *", timeout=1800),
    ],
    on_startup=[check_payout_settings],
    csrf_exempt=["/webhooks/payouts"],
    nav=[NavLink("Payouts", "/studio/payouts", "creator", order=25)],
    tables=tables_in(payouts_tables),
)

# The built-in payout vendor (features/payouts/sandbox.py) and its staff console: part of the app only
# when PAYOUT_GATEWAY=sandbox.
SANDBOX_FEATURE = Feature(
    name="payouts_sandbox",
    module=SandboxPayoutsModule,
    memory_module=MemorySandboxPayoutsModule,
    route_handlers=[SandboxPayoutsController],
    jobs=[settle_sandbox_payouts],
    nav=[NavLink("Sandbox payouts", "/staff/payouts", "staff", order=91)],
    enabled=sandbox_payouts_selected,
)
