"""Wiring for playback: the heartbeat store to its adapter, the service, and the routes."""

from __future__ import annotations

import secrets

from injector import Binder, InstanceProvider, Module, provider, singleton

from core.clock import Clock
from core.db import Database
from core.feature import Feature
from core.ratelimit import RateLimiter
from core.settings import Settings
from features.pipeline.service import TranscodeService
from features.playback.adapters import MemoryHeartbeatRepository, PostgresHeartbeatRepository
from features.playback.controller import PlaybackController
from features.playback.model import DeviceIds
from features.playback.ports import HeartbeatRepository
from features.playback.service import PlaybackPolicy, PlaybackService
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
    ) -> PlaybackService:
        policy = PlaybackPolicy(
            heartbeats_per_window=settings.heartbeats_per_minute,
            heartbeat_window_seconds=60,
            view_window_seconds=settings.view_window_seconds,
        )
        devices = DeviceIds(settings.secret_key or secrets.token_hex(32))
        return PlaybackService(unlocks, media, heartbeats, limiter, clock, policy, devices)


class PlaybackModule(_PlaybackServiceModule):
    @singleton
    @provider
    def heartbeats(self, db: Database) -> HeartbeatRepository:
        return PostgresHeartbeatRepository(db)


class MemoryPlaybackModule(_PlaybackServiceModule):
    def configure(self, binder: Binder) -> None:
        binder.bind(HeartbeatRepository, to=InstanceProvider(MemoryHeartbeatRepository()))  # type: ignore[type-abstract]


FEATURE = Feature(
    name="playback",
    module=PlaybackModule,
    memory_module=MemoryPlaybackModule,
    route_handlers=[PlaybackController],
)
