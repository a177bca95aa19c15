"""Wiring for the sandbox payment vendor (the default PAYMENT_GATEWAY)."""

from __future__ import annotations

from injector import Binder, InstanceProvider, Module, provider, singleton

from core.clock import Clock
from core.db import Database, tables_in
from core.di import bind_port
from core.feature import CronSpec, Feature, NavLink
from core.settings import Settings
from core.uow import UnitOfWork
from features.sandbox_pay import tables as sandbox_pay_tables
from features.sandbox_pay.adapters import MemorySandboxStore, PostgresSandboxStore
from features.sandbox_pay.controller import SandboxCheckoutController, SandboxConsoleController
from features.sandbox_pay.jobs import deliver_sandbox_webhooks
from features.sandbox_pay.ports import SandboxStore
from features.sandbox_pay.service import SandboxVendor


class _VendorModule(Module):
    @singleton
    @provider
    def vendor(self, store: SandboxStore, uow: UnitOfWork, clock: Clock, settings: Settings) -> SandboxVendor:
        return SandboxVendor(store, uow, clock, settings.sandbox_webhook_secret)


class SandboxPayModule(_VendorModule):
    @singleton
    @provider
    def store(self, db: Database) -> SandboxStore:
        return PostgresSandboxStore(db)


class MemorySandboxPayModule(_VendorModule):
    def configure(self, binder: Binder) -> None:
        store = MemorySandboxStore()
        binder.bind(MemorySandboxStore, to=InstanceProvider(store))
        bind_port(binder, SandboxStore, store)


def sandbox_payments_selected(settings: Settings) -> bool:
    return settings.payment_gateway == "sandbox"


FEATURE = Feature(
    name="sandbox_pay",
    module=SandboxPayModule,
    memory_module=MemorySandboxPayModule,
    route_handlers=[SandboxCheckoutController, SandboxConsoleController],
    cron_jobs=[CronSpec(deliver_sandbox_webhooks, "* * * * *", timeout=120)],
    nav=[NavLink("Sandbox Pay", "/sandbox-pay/admin", "staff", order=90)],
    enabled=sandbox_payments_selected,
    tables=tables_in(sandbox_pay_tables),
)
