"""Wiring ports to adapters with `injector`: core's own ports here, each feature's in its module."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar, cast

from injector import Binder, Injector, InstanceProvider, Module, Provider, provider, singleton

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

if TYPE_CHECKING:
    from piccolo.table import Table
    from typing_extensions import TypeForm

T = TypeVar("T")


# Ports are Protocols or abstract classes, and mypy refuses those where `type[T]` is expected
# ("Only concrete class can be given", type-abstract). `TypeForm[T]` takes any type expression and
# still ties the adapter (or the result) to the port, so every binding and look-up is checked.
def bind_port(binder: Binder, port: TypeForm[T], to: T | Provider[T]) -> None:
    """Bind `port` to an adapter instance, or to a provider of one."""
    provider = to if isinstance(to, Provider) else InstanceProvider(to)
    binder.bind(cast("type[T]", port), to=provider)


def get_port(injector: Injector, port: TypeForm[T]) -> T:
    """The adapter bound to `port`, typed as the port."""
    return injector.get(cast("type[T]", port))


class CoreModule(Module):
    """Real adapters: PostgreSQL, the filesystem, saq."""

    def __init__(self, settings: Settings, tables: Sequence[type[Table]] = ()) -> None:
        self.settings = settings
        self.tables = tables

    def configure(self, binder: Binder) -> None:
        from core.postgres import (
            PostgresCheckpointStore,
            PostgresEventBus,
            PostgresRateLimiter,
        )
        from core.worker import SaqJobQueue

        settings = self.settings
        db = Database(
            settings.database_url, min_size=settings.db_pool_min, max_size=settings.db_pool_max, tables=self.tables
        )
        clock = SystemClock()
        binder.bind(Settings, to=InstanceProvider(settings))
        binder.bind(Database, to=InstanceProvider(db))
        bind_port(binder, UnitOfWork, db)
        bind_port(binder, Clock, clock)
        bind_port(binder, EventBus, PostgresEventBus(db))
        bind_port(binder, BlobStorage, _blob_storage(settings))
        bind_port(binder, RateLimiter, PostgresRateLimiter(db, clock))
        bind_port(binder, CheckpointStore, PostgresCheckpointStore(db))
        bind_port(binder, JobQueue, SaqJobQueue(settings.effective_queue_url))

    # The event log and its cursors follow whichever Database the injector holds (a test binds its own).
    @singleton
    @provider
    def cursor_store(self, log: EventLog) -> CursorStore:
        from core.postgres import PostgresEventLog

        assert isinstance(log, PostgresEventLog)
        return log.cursors

    @singleton
    @provider
    def event_log(self, db: Database) -> EventLog:
        from core.postgres import PostgresCursorStore, PostgresEventLog

        return PostgresEventLog(db, PostgresCursorStore(db))


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
        bind_port(binder, UnitOfWork, uow)
        bind_port(binder, Clock, self.clock)
        bind_port(binder, EventBus, bus)
        binder.bind(MemoryCursorStore, to=InstanceProvider(cursors))
        bind_port(binder, CursorStore, cursors)
        bind_port(binder, EventLog, MemoryEventLog(bus, cursors, uow))
        bind_port(binder, BlobStorage, MemoryBlobStorage())
        bind_port(binder, RateLimiter, MemoryRateLimiter(self.clock))
        bind_port(binder, CheckpointStore, MemoryCheckpointStore())
        bind_port(binder, JobQueue, MemoryJobQueue())


def build_injector(
    settings: Settings,
    features: Sequence[Feature],
    *overrides: Module,
    memory: bool = False,
) -> Injector:
    """The one injector of a process. `memory=True` wires every port to its in-memory adapter;
    `overrides` come last and win (tests swap single adapters this way)."""
    from core.live import Declarations

    tables = [table for feature in features for table in feature.tables]
    modules: list[Module] = [MemoryCoreModule(settings) if memory else CoreModule(settings, tables)]
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
