"""Wiring for portability: the roots' store, the service (BASE_URL, IPFS_GATEWAY_URL) and the routes."""

from __future__ import annotations

from injector import Binder, Module, provider, singleton

from core.clock import Clock
from core.db import Database, tables_in
from core.di import bind_port
from core.eventlog import EventLog
from core.feature import Command, CronSpec, Feature, NavLink
from core.settings import Settings
from features.pipeline.service import TranscodeService
from features.playback.service import PlaybackService
from features.portability import cli as portability_cli
from features.portability import tables as portability_tables
from features.portability.adapters import MemoryRootRepository, PostgresRootRepository
from features.portability.controller import ExportController, ViewerIpfsController
from features.portability.jobs import record_roots
from features.portability.ports import RootRepository
from features.portability.service import ROOTS_CONSUMER, PortabilityPolicy, PortabilityService
from features.studio.service import StudioService
from features.unlocks.service import PricingService


class _PortabilityServiceModule(Module):
    @singleton
    @provider
    def portability_service(
        self,
        roots: RootRepository,
        studio: StudioService,
        pricing: PricingService,
        media: TranscodeService,
        playback: PlaybackService,
        clock: Clock,
        settings: Settings,
        events: EventLog,
    ) -> PortabilityService:
        policy = PortabilityPolicy(settings.public_url)
        return PortabilityService(roots, studio, pricing, media, playback, clock, policy, events)


class PortabilityModule(_PortabilityServiceModule):
    @singleton
    @provider
    def roots(self, db: Database) -> RootRepository:
        return PostgresRootRepository(db)


class MemoryPortabilityModule(_PortabilityServiceModule):
    def configure(self, binder: Binder) -> None:
        bind_port(binder, RootRepository, MemoryRootRepository())


FEATURE = Feature(
    name="portability",
    module=PortabilityModule,
    memory_module=MemoryPortabilityModule,
    route_handlers=[ExportController, ViewerIpfsController],
    nav=[NavLink("Export", "/studio/export", audience="creator", order=45)],
    tables=tables_in(portability_tables),
    cron_jobs=[CronSpec(record_roots, "* * * * *", timeout=240)],
    event_consumers=[ROOTS_CONSUMER],
    commands=[
        Command(
            "portability",
            "a creator's library as CAR + JSON: `hypha portability export CREATOR_ID --out DIR`",
            portability_cli.run,
            portability_cli.configure,
        )
    ],
)
