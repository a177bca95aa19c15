"""Wiring for playback: the heartbeat store and key-fetch log to their adapters, the services, the routes."""

from __future__ import annotations

import secrets

from injector import Binder, Module, provider, singleton

from core.clock import Clock
from core.db import Database, tables_in
from core.di import bind_port
from core.feature import Feature, NavLink
from core.ratelimit import RateLimiter
from core.settings import Settings
from features.accounts.service import AccountService
from features.pipeline.service import TranscodeService
from features.playback import tables as playback_tables
from features.playback.adapters import (
    MemoryHeartbeatRepository,
    MemoryKeyFetchLog,
    PostgresHeartbeatRepository,
    PostgresKeyFetchLog,
)
from features.playback.controller import KeyFetchesController, PlaybackController
from features.playback.model import DeviceIds
from features.playback.ports import HeartbeatRepository, KeyFetchLog
from features.playback.service import KeyAuditService, PlaybackPolicy, PlaybackService
from features.studio.service import StudioService
from features.unlocks.service import UnlockService


class _PlaybackServiceModule(Module):
    @singleton
    @provider
    def playback_service(
        self,
        unlocks: UnlockService,
        media: TranscodeService,
        heartbeats: HeartbeatRepository,
        limiter: RateLimiter,
        clock: Clock,
        settings: Settings,
        key_fetches: KeyFetchLog,
    ) -> PlaybackService:
        policy = PlaybackPolicy(
            heartbeats_per_window=settings.heartbeats_per_minute,
            heartbeat_window_seconds=60,
            view_window_seconds=settings.view_window_seconds,
        )
        devices = DeviceIds(settings.secret_key or secrets.token_hex(32))
        return PlaybackService(unlocks, media, heartbeats, limiter, clock, policy, devices, key_fetches)

    @singleton
    @provider
    def key_audit(
        self,
        key_fetches: KeyFetchLog,
        accounts: AccountService,
        studio: StudioService,
        clock: Clock,
        settings: Settings,
    ) -> KeyAuditService:
        return KeyAuditService(key_fetches, accounts, studio, clock, settings.key_fetches_alert_per_day)


class PlaybackModule(_PlaybackServiceModule):
    @singleton
    @provider
    def heartbeats(self, db: Database) -> HeartbeatRepository:
        return PostgresHeartbeatRepository(db)

    @singleton
    @provider
    def key_fetches(self, db: Database) -> KeyFetchLog:
        return PostgresKeyFetchLog(db)


class MemoryPlaybackModule(_PlaybackServiceModule):
    def configure(self, binder: Binder) -> None:
        bind_port(binder, HeartbeatRepository, MemoryHeartbeatRepository())
        bind_port(binder, KeyFetchLog, MemoryKeyFetchLog())


FEATURE = Feature(
    name="playback",
    module=PlaybackModule,
    memory_module=MemoryPlaybackModule,
    route_handlers=[PlaybackController, KeyFetchesController],
    nav=[NavLink("Key fetches", "/staff/key-fetches", "staff", order=93)],
    tables=tables_in(playback_tables),
)
