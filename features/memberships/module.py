"""Wiring for memberships: repositories to adapters, the service, unlocks' MembershipAccess port, and
what the composition root needs."""

from __future__ import annotations

from datetime import timedelta

from injector import Binder, Module, provider, singleton

from core.clock import Clock
from core.db import Database, tables_in
from core.di import bind_port
from core.events import EventBus
from core.feature import CronSpec, Feature, NavLink
from core.settings import Settings
from core.uow import UnitOfWork
from features.accounts.service import AccountService
from features.ledger.service import LedgerService
from features.memberships import tables as memberships_tables
from features.memberships.adapters import (
    MemoryMembershipRepository,
    MemoryTierRepository,
    PostgresMembershipRepository,
    PostgresTierRepository,
)
from features.memberships.controller import MembershipOfferController, TierStudioController
from features.memberships.jobs import renew_memberships
from features.memberships.live import MembersTile
from features.memberships.ports import MembershipRepository, TierRepository
from features.memberships.service import MembershipPolicy, MembershipService
from features.studio.service import StudioService
from features.unlocks.ports import MembershipAccess


def policy_from(settings: Settings) -> MembershipPolicy:
    return MembershipPolicy(
        fee_percent=settings.platform_fee_percent,
        grace=timedelta(days=settings.membership_grace_days),
        reminder=timedelta(days=settings.membership_reminder_days),
    )


class _MembershipServicesModule(Module):
    @singleton
    @provider
    def membership_service(
        self,
        tiers: TierRepository,
        memberships: MembershipRepository,
        studio: StudioService,
        accounts: AccountService,
        ledger: LedgerService,
        bus: EventBus,
        uow: UnitOfWork,
        clock: Clock,
        settings: Settings,
    ) -> MembershipService:
        return MembershipService(tiers, memberships, studio, accounts, ledger, bus, uow, clock, policy_from(settings))

    @singleton
    @provider
    def membership_access(self, service: MembershipService) -> MembershipAccess:
        """Unlocks asks this whether a membership lets a viewer watch (replacing its NoMemberships)."""
        return service

    @singleton
    @provider
    def members_tile(self, service: MembershipService) -> MembersTile:
        return MembersTile(service)


class MembershipsModule(_MembershipServicesModule):
    @singleton
    @provider
    def tiers(self, db: Database) -> TierRepository:
        return PostgresTierRepository(db)

    @singleton
    @provider
    def memberships(self, db: Database) -> MembershipRepository:
        return PostgresMembershipRepository(db)


class MemoryMembershipsModule(_MembershipServicesModule):
    def configure(self, binder: Binder) -> None:
        tiers = MemoryTierRepository()
        bind_port(binder, TierRepository, tiers)
        bind_port(binder, MembershipRepository, MemoryMembershipRepository(tiers))


FEATURE = Feature(
    name="memberships",
    module=MembershipsModule,
    memory_module=MemoryMembershipsModule,
    route_handlers=[MembershipOfferController, TierStudioController],
    cron_jobs=[CronSpec(renew_memberships, "*/10 * * * *", timeout=300)],
    nav=[NavLink("Memberships", "/studio/memberships", "creator", order=45)],
    tables=tables_in(memberships_tables),
    live_parts=[MembersTile],
    me_panels=["memberships/_me_panel.html"],
)
