"""Wiring for the ledger: the repository port to its PostgreSQL or in-memory adapter."""

from __future__ import annotations

from injector import Binder, InstanceProvider, Module, provider, singleton

from core.clock import Clock
from core.db import Database, tables_in
from core.di import bind_port
from core.feature import Command, Feature
from features.ledger import cli as ledger_cli
from features.ledger import tables as ledger_tables
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


FEATURE = Feature(
    name="ledger",
    module=LedgerModule,
    memory_module=MemoryLedgerModule,
    tables=tables_in(ledger_tables),
    commands=[
        Command("ledger", "check the ledger: `hypha ledger verify`", ledger_cli.run, ledger_cli.configure),
    ],
)
