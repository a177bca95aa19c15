"""Wiring for offers: the repository to its adapter, the service, its dashboard tile and its routes."""

from __future__ import annotations

from injector import Binder, Module, provider, singleton

from core.clock import Clock
from core.db import Database, tables_in
from core.di import bind_port
from core.events import EventBus
from core.feature import Feature, NavLink
from core.ratelimit import RateLimiter
from core.settings import Settings
from core.uow import UnitOfWork
from features.accounts.service import AccountService
from features.ledger.service import LedgerService
from features.memberships.service import MembershipService
from features.offers import tables as offers_tables
from features.offers.adapters import MemoryOffersRepository, PostgresOffersRepository
from features.offers.controller import (
    BundlePageController,
    OffersStudioController,
    TierCodeController,
    VideoOffersController,
)
from features.offers.ports import OffersRepository
from features.offers.service import OffersLive, OffersPolicy, OffersService
from features.studio.service import StudioService
from features.unlocks.service import PricingService, UnlockService


class _OffersServiceModule(Module):
    @singleton
    @provider
    def offers_service(
        self,
        repository: OffersRepository,
        unlocks: UnlockService,
        pricing: PricingService,
        studio: StudioService,
        accounts: AccountService,
        ledger: LedgerService,
        bus: EventBus,
        uow: UnitOfWork,
        clock: Clock,
        settings: Settings,
        limiter: RateLimiter,
        memberships: MembershipService,
    ) -> OffersService:
        policy = OffersPolicy(
            fee_percent=settings.platform_fee_percent, code_tries_per_minute=settings.promo_code_tries_per_minute
        )
        return OffersService(
            *(repository, unlocks, pricing, studio, accounts, ledger, bus, uow, clock, policy),
            limiter=limiter,
            memberships=memberships,
        )

    @singleton
    @provider
    def offers_live(self, offers: OffersService) -> OffersLive:
        return OffersLive(offers)


class OffersModule(_OffersServiceModule):
    @singleton
    @provider
    def repository(self, db: Database) -> OffersRepository:
        return PostgresOffersRepository(db)


class MemoryOffersModule(_OffersServiceModule):
    def configure(self, binder: Binder) -> None:
        bind_port(binder, OffersRepository, MemoryOffersRepository())


FEATURE = Feature(
    name="offers",
    module=OffersModule,
    memory_module=MemoryOffersModule,
    route_handlers=[VideoOffersController, BundlePageController, OffersStudioController, TierCodeController],
    nav=[NavLink("Offers", "/studio/offers", "creator", order=60)],
    live_parts=[OffersLive],  # the dashboard's offers tile rides the live pages' one stream
    tables=tables_in(offers_tables),
)
