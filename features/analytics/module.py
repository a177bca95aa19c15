"""Wiring for analytics: the store to its adapter, the service (reading core's event log and cursors),
the routes and the every-minute fold."""

from __future__ import annotations

from injector import Binder, Module, provider, singleton

from core.clock import Clock
from core.db import Database, tables_in
from core.di import bind_port
from core.eventlog import CursorStore, EventLog
from core.feature import CronSpec, Feature, NavLink
from core.uow import UnitOfWork
from features.analytics import tables as analytics_tables
from features.analytics.adapters import MemoryAnalyticsStore, PostgresAnalyticsStore
from features.analytics.controller import AnalyticsController
from features.analytics.jobs import fold_analytics
from features.analytics.model import REVENUE_CONSUMER, TIP
from features.analytics.ports import AnalyticsStore
from features.analytics.service import AnalyticsService
from features.playback.service import PlaybackService
from features.studio.service import StudioService


class _AnalyticsServiceModule(Module):
    @singleton
    @provider
    def analytics_service(
        self,
        store: AnalyticsStore,
        events: EventLog,
        cursors: CursorStore,
        playback: PlaybackService,
        studio: StudioService,
        uow: UnitOfWork,
        clock: Clock,
    ) -> AnalyticsService:
        return AnalyticsService(store, events, cursors, playback, studio, uow, clock)


class AnalyticsModule(_AnalyticsServiceModule):
    @singleton
    @provider
    def store(self, db: Database) -> AnalyticsStore:
        return PostgresAnalyticsStore(db)


class MemoryAnalyticsModule(_AnalyticsServiceModule):
    def configure(self, binder: Binder) -> None:
        bind_port(binder, AnalyticsStore, MemoryAnalyticsStore())


FEATURE = Feature(
    name="analytics",
    module=AnalyticsModule,
    memory_module=MemoryAnalyticsModule,
    route_handlers=[AnalyticsController],
    cron_jobs=[CronSpec(fold_analytics, "* * * * *", timeout=240)],
    nav=[NavLink("Analytics", "/studio/analytics", "creator", order=25)],
    event_consumers=[REVENUE_CONSUMER],
    event_history=[TIP],  # the dashboard's latest tips are read back from the log
    tables=tables_in(analytics_tables),
)
