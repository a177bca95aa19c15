"""Wiring for unlocks: repositories to adapters, the services, and what the composition root needs."""

from __future__ import annotations

from datetime import timedelta

from injector import Binder, Module, provider, singleton

from core.clock import Clock
from core.db import Database, tables_in
from core.di import bind_port
from core.events import EventBus
from core.feature import Feature
from core.ratelimit import RateLimiter
from core.settings import Settings, SettingsError
from core.uow import UnitOfWork
from features.accounts.service import AccountService
from features.ledger.service import LedgerService
from features.studio.service import StudioService
from features.unlocks import tables as unlocks_tables
from features.unlocks.adapters import (
    MemoryPricingRepository,
    MemoryTipRepository,
    MemoryUnlockRepository,
    NoMemberships,
    PostgresPricingRepository,
    PostgresTipRepository,
    PostgresUnlockRepository,
)
from features.unlocks.controller import PricingController, VideoPageController
from features.unlocks.model import RentalClock, RentalRules, parse_tip_amounts
from features.unlocks.ports import MembershipAccess, PricingRepository, TipRepository, UnlockRepository
from features.unlocks.service import PricingService, TipService, UnlockPolicy, UnlockService


def policy_from(settings: Settings) -> UnlockPolicy:
    """The fee and tip amounts; a bad TIP_AMOUNTS stops start-up with a message naming the variable."""
    try:
        amounts = parse_tip_amounts(settings.tip_amounts)
    except ValueError as error:
        raise SettingsError(f"TIP_AMOUNTS: {error}") from error
    return UnlockPolicy(
        fee_percent=settings.platform_fee_percent,
        tip_amounts=amounts,
        purchases_per_minute=settings.unlocks_per_viewer_per_minute,
        rentals=RentalRules(RentalClock(settings.rental_clock), timedelta(days=settings.rental_start_window_days)),
    )


class _UnlockServicesModule(Module):
    @singleton
    @provider
    def pricing_service(self, pricing: PricingRepository, studio: StudioService, clock: Clock) -> PricingService:
        return PricingService(pricing, studio, clock)

    @singleton
    @provider
    def unlock_service(
        self,
        unlocks: UnlockRepository,
        tips: TipRepository,
        pricing: PricingService,
        studio: StudioService,
        accounts: AccountService,
        ledger: LedgerService,
        bus: EventBus,
        uow: UnitOfWork,
        clock: Clock,
        settings: Settings,
        limiter: RateLimiter,
        membership: MembershipAccess,
    ) -> UnlockService:
        return UnlockService(
            *(unlocks, tips, pricing, studio, accounts, ledger, bus, uow, clock, policy_from(settings)),
            limiter=limiter,
            membership=membership,
        )

    @singleton
    @provider
    def membership_access(self) -> MembershipAccess:
        """Nobody is a member unless a later module (features/memberships) binds its own."""
        return NoMemberships()

    @singleton
    @provider
    def tip_service(
        self,
        tips: TipRepository,
        unlocks: UnlockService,
        ledger: LedgerService,
        bus: EventBus,
        uow: UnitOfWork,
        clock: Clock,
        settings: Settings,
    ) -> TipService:
        return TipService(tips, unlocks, ledger, bus, uow, clock, policy_from(settings))


class UnlocksModule(_UnlockServicesModule):
    @singleton
    @provider
    def pricing(self, db: Database) -> PricingRepository:
        return PostgresPricingRepository(db)

    @singleton
    @provider
    def unlocks(self, db: Database, bus: EventBus, limiter: RateLimiter) -> UnlockRepository:
        return PostgresUnlockRepository(db, bus, limiter)

    @singleton
    @provider
    def tips(self, db: Database) -> TipRepository:
        return PostgresTipRepository(db)


class MemoryUnlocksModule(_UnlockServicesModule):
    def configure(self, binder: Binder) -> None:
        pricing = MemoryPricingRepository()
        bind_port(binder, PricingRepository, pricing)
        bind_port(binder, UnlockRepository, MemoryUnlockRepository(pricing))
        bind_port(binder, TipRepository, MemoryTipRepository())


FEATURE = Feature(
    name="unlocks",
    module=UnlocksModule,
    memory_module=MemoryUnlocksModule,
    route_handlers=[VideoPageController, PricingController],
    tables=tables_in(unlocks_tables),
)
