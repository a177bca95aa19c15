"""Wiring for analytics: the store and the event-log reader to their adapters, the service, the routes
and the every-minute fold."""

from __future__ import annotations

from injector import Binder, Module, provider, singleton

from core.clock import Clock
from core.db import Database, tables_in
from core.di import bind_port
from core.events import EventBus, MemoryEventBus
from core.feature import CronSpec, Feature, NavLink
from core.uow import UnitOfWork
from features.analytics import tables as analytics_tables
from features.analytics.adapters import (
    MemoryAnalyticsStore,
    MemoryEventJournal,
    PostgresAnalyticsStore,
    PostgresEventJournal,
)
from features.analytics.controller import AnalyticsController
from features.analytics.jobs import fold_analytics
from features.analytics.ports import AnalyticsStore, EventJournal
from features.analytics.service import AnalyticsService
from features.playback.service import PlaybackService
from features.studio.service import StudioService


class _AnalyticsServiceModule(Module):
    @singleton
    @provider
    def analytics_service(
        self,
        store: AnalyticsStore,
        journal: EventJournal,
        playback: PlaybackService,
        studio: StudioService,
        uow: UnitOfWork,
        clock: Clock,
    ) -> AnalyticsService:
        return AnalyticsService(store, journal, playback, studio, uow, clock)


class AnalyticsModule(_AnalyticsServiceModule):
    @singleton
    @provider
    def store(self, db: Database) -> AnalyticsStore:
        return PostgresAnalyticsStore(db)

    @singleton
    @provider
    def journal(self, db: Database) -> EventJournal:
        return PostgresEventJournal(db)


class MemoryAnalyticsModule(_AnalyticsServiceModule):
    def configure(self, binder: Binder) -> None:
        bind_port(binder, AnalyticsStore, MemoryAnalyticsStore())

    @singleton
    @provider
    def journal(self, bus: EventBus) -> EventJournal:
        assert isinstance(bus, MemoryEventBus), "the memory journal reads a MemoryEventBus"
        return MemoryEventJournal(bus)


FEATURE = Feature(
    name="analytics",
    module=AnalyticsModule,
    memory_module=MemoryAnalyticsModule,
    route_handlers=[AnalyticsController],
    cron_jobs=[CronSpec(fold_analytics, "* * * * *", timeout=240)],
    nav=[NavLink("Analytics", "/studio/analytics", "creator", order=25)],
    tables=tables_in(analytics_tables),
)
