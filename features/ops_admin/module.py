"""Wiring for the staff data admin (piccolo-admin under /ops/admin)."""

from __future__ import annotations

from injector import Binder, Module, provider, singleton

from core.db import Database, tables_in
from core.di import bind_port
from core.feature import Feature, NavLink
from core.settings import Settings
from features.accounts.service import AccountService
from features.ops_admin import tables as ops_admin_tables
from features.ops_admin.adapters import PiccoloDataAdmin, UnavailableDataAdmin
from features.ops_admin.controller import MOUNT, data_admin
from features.ops_admin.ports import DataAdmin


class OpsAdminModule(Module):
    @singleton
    @provider
    def data_admin(self, db: Database, settings: Settings, accounts: AccountService) -> DataAdmin:
        return PiccoloDataAdmin(db, settings, accounts, MOUNT)


class MemoryOpsAdminModule(Module):
    def configure(self, binder: Binder) -> None:
        bind_port(binder, DataAdmin, UnavailableDataAdmin())


FEATURE = Feature(
    name="ops_admin",
    module=OpsAdminModule,
    memory_module=MemoryOpsAdminModule,
    route_handlers=[data_admin],
    nav=[NavLink("Data admin", MOUNT + "/", "staff", order=96)],
    tables=tables_in(ops_admin_tables),
)
