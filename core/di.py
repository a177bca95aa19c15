"""Wiring ports to adapters with `injector`: core's own ports here, each feature's in its module."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from injector import Binder, Injector, InstanceProvider, Module

from core.clock import Clock, FrozenClock, SystemClock
from core.db import Database
from core.eventlog import CursorStore, EventLog, MemoryCursorStore, MemoryEventLog
from core.events import EventBus, MemoryEventBus
from core.feature import Feature
from core.jobs import JobQueue, MemoryJobQueue
from core.pipeline import CheckpointStore, MemoryCheckpointStore
from core.ratelimit import MemoryRateLimiter, RateLimiter
from core.settings import Settings
from core.storage import BlobStorage, LocalBlobStorage, MemoryBlobStorage
from core.uow import MemoryUnitOfWork, UnitOfWork


class CoreModule(Module):
    """Real adapters: PostgreSQL, the filesystem, saq."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def configure(self, binder: Binder) -> None:
        from core.postgres import (
            PostgresCheckpointStore,
            PostgresCursorStore,
            PostgresEventBus,
            PostgresEventLog,
            PostgresRateLimiter,
        )
        from core.worker import SaqJobQueue

        settings = self.settings
        db = Database(settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max)
        clock = SystemClock()
        binder.bind(Settings, to=InstanceProvider(settings))
        binder.bind(Database, to=InstanceProvider(db))
        binder.bind(UnitOfWork, to=InstanceProvider(db))  # type: ignore[type-abstract]
        binder.bind(Clock, to=InstanceProvider(clock))  # type: ignore[type-abstract]
        binder.bind(EventBus, to=InstanceProvider(PostgresEventBus(db)))  # type: ignore[type-abstract]
        cursors = PostgresCursorStore(db)
        binder.bind(CursorStore, to=InstanceProvider(cursors))  # type: ignore[type-abstract]
        binder.bind(EventLog, to=InstanceProvider(PostgresEventLog(db, cursors)))  # type: ignore[type-abstract]
        binder.bind(BlobStorage, to=InstanceProvider(_blob_storage(settings)))  # type: ignore[type-abstract]
        binder.bind(RateLimiter, to=InstanceProvider(PostgresRateLimiter(db, clock)))  # type: ignore[type-abstract]
        binder.bind(CheckpointStore, to=InstanceProvider(PostgresCheckpointStore(db)))  # type: ignore[type-abstract]
        binder.bind(JobQueue, to=InstanceProvider(SaqJobQueue(settings.effective_queue_url)))  # type: ignore[type-abstract]


def _blob_storage(settings: Settings) -> BlobStorage:
    if not settings.s3_bucket:
        return LocalBlobStorage(settings.data_path / "blobs")
    from core.s3 import S3BlobStorage

    return S3BlobStorage(
        settings.s3_bucket,
        endpoint_url=settings.s3_endpoint_url,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        region=settings.s3_region,
    )


class MemoryCoreModule(Module):
    """In-memory adapters for unit tests: no database, no files, no queue."""

    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or FrozenClock(datetime.now(UTC))

    def configure(self, binder: Binder) -> None:
        binder.bind(Settings, to=InstanceProvider(self.settings))
        uow, bus, cursors = MemoryUnitOfWork(), MemoryEventBus(), MemoryCursorStore()
        binder.bind(UnitOfWork, to=InstanceProvider(uow))  # type: ignore[type-abstract]
        binder.bind(Clock, to=InstanceProvider(self.clock))  # type: ignore[type-abstract]
        binder.bind(EventBus, to=InstanceProvider(bus))  # type: ignore[type-abstract]
        binder.bind(MemoryCursorStore, to=InstanceProvider(cursors))
        binder.bind(CursorStore, to=InstanceProvider(cursors))  # type: ignore[type-abstract]
        binder.bind(EventLog, to=InstanceProvider(MemoryEventLog(bus, cursors, uow)))  # type: ignore[type-abstract]
        binder.bind(BlobStorage, to=InstanceProvider(MemoryBlobStorage()))  # type: ignore[type-abstract]
        binder.bind(RateLimiter, to=InstanceProvider(MemoryRateLimiter(self.clock)))  # type: ignore[type-abstract]
        binder.bind(CheckpointStore, to=InstanceProvider(MemoryCheckpointStore()))  # type: ignore[type-abstract]
        binder.bind(JobQueue, to=InstanceProvider(MemoryJobQueue()))  # type: ignore[type-abstract]


def build_injector(
    settings: Settings,
    features: Sequence[Feature],
    *overrides: Module,
    memory: bool = False,
) -> Injector:
    """The one injector of a process. `memory=True` wires every port to its in-memory adapter;
    `overrides` come last and win (tests swap single adapters this way)."""
    from core.live import Declarations

    modules: list[Module] = [MemoryCoreModule(settings) if memory else CoreModule(settings)]
    modules.append(Declarations(features))  # live parts and event-log consumers, as features declare them
    modules.extend(_feature_modules(features, memory))
    modules.extend(overrides)
    return Injector(modules)


def _feature_modules(features: Iterable[Feature], memory: bool) -> list[Module]:
    chosen: list[Module] = []
    for feature in features:
        module_type = feature.memory_module if memory and feature.memory_module else feature.module
        chosen.append(module_type())
    return chosen
