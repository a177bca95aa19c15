"""Wiring for playback: the heartbeat store to its adapter, the service, and the routes."""

from __future__ import annotations

from injector import Binder, InstanceProvider, Module, provider, singleton

from core.clock import Clock
from core.db import Database
from core.feature import Feature
from core.ratelimit import RateLimiter
from features.pipeline.service import TranscodeService
from features.playback.adapters import MemoryHeartbeatRepository, PostgresHeartbeatRepository
from features.playback.controller import PlaybackController
from features.playback.ports import HeartbeatRepository
from features.playback.service import PlaybackService
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
    ) -> PlaybackService:
        return PlaybackService(unlocks, media, heartbeats, limiter, clock)


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
