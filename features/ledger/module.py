"""Wiring for the ledger: the repository port to its PostgreSQL or in-memory adapter."""

from __future__ import annotations

from injector import Binder, InstanceProvider, Module, provider, singleton

from core.clock import Clock
from core.db import Database
from core.di import bind_port
from core.feature import Feature
from features.ledger.adapters import MemoryLedgerRepository, PostgresLedgerRepository
from features.ledger.ports import LedgerRepository
from features.ledger.service import LedgerService


class _LedgerServiceModule(Module):
    @singleton
    @provider
    def ledger_service(self, repository: LedgerRepository, clock: Clock) -> LedgerService:
        return LedgerService(repository, clock)


class LedgerModule(_LedgerServiceModule):
    @singleton
    @provider
    def repository(self, db: Database) -> LedgerRepository:
        return PostgresLedgerRepository(db)


class MemoryLedgerModule(_LedgerServiceModule):
    def configure(self, binder: Binder) -> None:
        repository = MemoryLedgerRepository()
        binder.bind(MemoryLedgerRepository, to=InstanceProvider(repository))
        bind_port(binder, LedgerRepository, repository)


FEATURE = Feature(name="ledger", module=LedgerModule, memory_module=MemoryLedgerModule)
