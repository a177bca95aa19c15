"""Wiring for the dashboard: the presence store to its adapter, the service, its part of the live
studio page, the routes and the every-10-seconds viewer count."""

from __future__ import annotations

from injector import Binder, Module, multiprovider, provider, singleton

from core.clock import Clock
from core.db import Database, tables_in
from core.di import bind_port
from core.events import EventBus
from core.feature import CronSpec, Feature
from core.uow import UnitOfWork
from features.analytics.service import AnalyticsService
from features.dashboard import tables as dashboard_tables
from features.dashboard.adapters import MemoryPresenceStore, PostgresPresenceStore
from features.dashboard.controller import DashboardController
from features.dashboard.jobs import refresh_viewers
from features.dashboard.ports import PresenceStore
from features.dashboard.service import DashboardService
from features.ledger.service import LedgerService
from features.payouts.service import PayoutService
from features.playback.service import PlaybackService
from features.studio.ports import LivePart
from features.studio.service import StudioService


class _DashboardServiceModule(Module):
    @singleton
    @provider
    def dashboard_service(
        self,
        analytics: AnalyticsService,
        ledger: LedgerService,
        playback: PlaybackService,
        studio: StudioService,
        presence: PresenceStore,
        bus: EventBus,
        uow: UnitOfWork,
        clock: Clock,
        payouts: PayoutService,
    ) -> DashboardService:
        return DashboardService(analytics, ledger, playback, studio, presence, bus, uow, clock, payouts)

    @multiprovider
    def live_parts(self, dashboard: DashboardService) -> list[LivePart]:
        """The dashboard's tiles ride the studio page's SSE stream."""
        return [dashboard]


class DashboardModule(_DashboardServiceModule):
    @singleton
    @provider
    def presence(self, db: Database) -> PresenceStore:
        return PostgresPresenceStore(db)


class MemoryDashboardModule(_DashboardServiceModule):
    def configure(self, binder: Binder) -> None:
        bind_port(binder, PresenceStore, MemoryPresenceStore())


FEATURE = Feature(
    name="dashboard",
    module=DashboardModule,
    memory_module=MemoryDashboardModule,
    route_handlers=[DashboardController],
    cron_jobs=[CronSpec(refresh_viewers, "* * * * * */10", timeout=60)],
    tables=tables_in(dashboard_tables),
)
