"""Wiring for gifts: the repository to its adapters, the service, and what the composition root needs."""

from __future__ import annotations

from datetime import timedelta

from injector import Binder, Injector, Module, provider, singleton

from core.clock import Clock
from core.db import Database, tables_in
from core.di import bind_port
from core.events import EventBus
from core.feature import CronSpec, Feature
from core.ratelimit import RateLimiter
from core.settings import Settings
from core.uow import UnitOfWork
from features.accounts.service import AccountService
from features.gifts import tables as gifts_tables
from features.gifts.adapters import MemoryGiftRepository, PostgresGiftRepository
from features.gifts.controller import GiftsController
from features.gifts.jobs import settle_gifts
from features.gifts.model import GiftPolicy
from features.gifts.ports import GiftRepository
from features.gifts.service import GiftClaimer, GiftService
from features.ledger.service import LedgerService
from features.notifications.ports import EmailService


def policy_from(settings: Settings) -> GiftPolicy:
    return GiftPolicy(
        min_points=settings.gift_min_points,
        max_points=settings.gift_max_points,
        return_after=timedelta(days=settings.gift_return_days),
        per_sender_per_day=settings.gifts_per_sender_per_day,
    )


class _GiftServiceModule(Module):
    @singleton
    @provider
    def gift_service(
        self,
        gifts: GiftRepository,
        accounts: AccountService,
        ledger: LedgerService,
        email: EmailService,
        bus: EventBus,
        uow: UnitOfWork,
        clock: Clock,
        settings: Settings,
        limiter: RateLimiter,
    ) -> GiftService:
        service = GiftService(
            *(gifts, accounts, ledger, email, bus, uow, clock, policy_from(settings), settings.public_url),
            limiter=limiter,
        )
        # A log-in or a confirmed address claims the gifts waiting for it (accounts' SignInListener).
        accounts.listen(GiftClaimer(service))
        return service


class GiftsModule(_GiftServiceModule):
    @singleton
    @provider
    def gifts(self, db: Database) -> GiftRepository:
        return PostgresGiftRepository(db)


class MemoryGiftsModule(_GiftServiceModule):
    def configure(self, binder: Binder) -> None:
        bind_port(binder, GiftRepository, MemoryGiftRepository())


async def listen_for_sign_ins(injector: Injector) -> None:
    """Build the service at start-up, so accounts knows whom to tell before the first log-in."""
    injector.get(GiftService)


FEATURE = Feature(
    name="gifts",
    module=GiftsModule,
    memory_module=MemoryGiftsModule,
    route_handlers=[GiftsController],
    cron_jobs=[CronSpec(settle_gifts, "*/10 * * * *", timeout=120)],
    on_startup=[listen_for_sign_ins],
    wallet_panels=["gifts/_wallet_panel.html"],
    tables=tables_in(gifts_tables),
)
