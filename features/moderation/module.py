"""Wiring for moderation: reports and the audit log to their adapters, the service, pages and nav."""

from __future__ import annotations

from datetime import timedelta

from injector import Binder, Module, provider, singleton

from core.clock import Clock
from core.db import Database, tables_in
from core.di import bind_port
from core.events import EventBus
from core.feature import Command, Feature, NavLink
from core.ratelimit import RateLimiter
from core.settings import Settings
from core.uow import UnitOfWork
from features.accounts.service import AccountService
from features.moderation import cli as staff_cli
from features.moderation import tables as moderation_tables
from features.moderation.adapters import (
    MemoryAuditLog,
    MemoryReportRepository,
    PostgresAuditLog,
    PostgresReportRepository,
)
from features.moderation.controller import ReportController, StaffModerationController
from features.moderation.ports import AuditLog, ReportRepository
from features.moderation.service import ModerationPolicy, ModerationService
from features.offers.service import OffersService
from features.studio.service import StudioService
from features.unlocks.service import UnlockService


class _ModerationServiceModule(Module):
    @singleton
    @provider
    def moderation_service(
        self,
        reports: ReportRepository,
        audit: AuditLog,
        accounts: AccountService,
        studio: StudioService,
        unlocks: UnlockService,
        bus: EventBus,
        limiter: RateLimiter,
        uow: UnitOfWork,
        clock: Clock,
        settings: Settings,
        offers: OffersService,
    ) -> ModerationService:
        policy = ModerationPolicy(
            reports_per_day=settings.reports_per_user_per_day,
            refund_window=timedelta(days=settings.takedown_refund_days),
        )
        return ModerationService(reports, audit, accounts, studio, unlocks, bus, limiter, uow, clock, policy, offers)


class ModerationModule(_ModerationServiceModule):
    @singleton
    @provider
    def reports(self, db: Database) -> ReportRepository:
        return PostgresReportRepository(db)

    @singleton
    @provider
    def audit(self, db: Database) -> AuditLog:
        return PostgresAuditLog(db)


class MemoryModerationModule(_ModerationServiceModule):
    def configure(self, binder: Binder) -> None:
        bind_port(binder, ReportRepository, MemoryReportRepository())
        bind_port(binder, AuditLog, MemoryAuditLog())


FEATURE = Feature(
    name="moderation",
    module=ModerationModule,
    memory_module=MemoryModerationModule,
    route_handlers=[ReportController, StaffModerationController],
    nav=[
        NavLink("Reports", "/staff/reports", "staff", order=92),
        NavLink("Audit log", "/staff/audit", "staff", order=93),
    ],
    tables=tables_in(moderation_tables),
    commands=[
        Command(
            "staff",
            "grant or take away the staff role: `hypha staff add|remove EMAIL`",
            staff_cli.run,
            staff_cli.configure,
        ),
    ],
)
