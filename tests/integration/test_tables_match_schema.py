"""Every table the migrations create has a Piccolo table class, and every class says what the migrated
schema says: columns, types, lengths, nullability, the primary key and the defaults the database
declares. The migrations are the truth; a table class that drifts would make Piccolo queries select,
insert or validate something the database does not hold (and the staff data admin show it)."""

from __future__ import annotations

from typing import Any

import pytest
from injector import Injector
from piccolo.columns import Array, Column, ForeignKey
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from core.db import Database, core_tables
from features.bootstrap import table_classes

# The migration runner's own bookkeeping (core.db.migrate creates it, no migration does).
RUNNER_TABLES = {"schema_migrations"}

# Migrated tables whose Piccolo class another branch is still adding: each is named here, with its feature,
# until its class lands (`test_pending_tables_are_still_pending` fails as soon as one has a class, so the
# set cannot outlive its reason). Empty: every migrated table has its class.
PENDING: set[str] = set()

# Piccolo column class → PostgreSQL's udt_name for it.
UDT = {
    "UUID": "uuid",
    "Varchar": "varchar",
    "Text": "text",
    "Secret": "varchar",
    "Boolean": "bool",
    "Timestamptz": "timestamptz",
    "Timestamp": "timestamp",
    "Date": "date",
    "Interval": "interval",
    "SmallInt": "int2",
    "Integer": "int4",
    "Serial": "int4",
    "BigInt": "int8",
    "BigSerial": "int8",
    "Numeric": "numeric",
    "Real": "float4",
    "DoublePrecision": "float8",
    "JSON": "json",
    "JSONB": "jsonb",
    "Bytea": "bytea",
}


def expected_udt(column: Column) -> str:
    if isinstance(column, ForeignKey):
        return expected_udt(column._foreign_key_meta.resolved_target_column)
    if isinstance(column, Array):
        return "_" + expected_udt(column.base_column)  # PostgreSQL names an array type after its element
    return UDT[type(column).__name__]


def declared_default_matches(column: Column, sql_default: str) -> bool:
    """Whether Piccolo's default for a column is the one the database declares."""
    default: Any = column.default
    if sql_default.startswith("nextval("):  # serial ids
        return type(column).__name__ in {"Serial", "BigSerial"}
    if sql_default in {"now()", "CURRENT_TIMESTAMP", "clock_timestamp()"}:
        return isinstance(default, TimestamptzNow)
    if sql_default == "gen_random_uuid()":
        return type(column).__name__ == "UUID"
    if sql_default in {"true", "false"}:
        return default is (sql_default == "true")
    literal = sql_default.split("::", maxsplit=1)[0].strip("'")
    if isinstance(default, bool):
        return False
    if isinstance(default, int):
        return literal.lstrip("-").isdigit() and int(literal) == default
    if isinstance(default, str):
        return literal == default
    return False


def tables() -> list[type[Table]]:
    return [*core_tables(), *table_classes()]


async def migrated_tables(db: Database) -> set[str]:
    rows = await db.fetch("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
    return {r["table_name"] for r in rows} - RUNNER_TABLES


@pytest.mark.parametrize("table", tables(), ids=lambda table: table._meta.tablename)
async def test_the_table_class_matches_the_migrated_table(real_injector: Injector, table: type[Table]) -> None:
    db = real_injector.get(Database)
    rows = await db.fetch(
        "SELECT column_name, udt_name, is_nullable, column_default, character_maximum_length, is_identity"
        " FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1",
        table._meta.tablename,
    )
    key = await db.fetch(
        "SELECT a.attname FROM pg_index i"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)"
        " WHERE i.indrelid = $1::regclass AND i.indisprimary",
        table._meta.tablename,
    )
    schema = {r["column_name"]: r for r in rows}
    columns = {column._meta.db_column_name: column for column in table._meta.columns}
    assert schema, f"{table._meta.tablename} is not in the migrated schema"
    assert set(columns) == set(schema), "columns differ"
    # Piccolo has no composite keys: a class on a table keyed by several columns names one of them.
    assert table._meta.primary_key._meta.db_column_name in {r["attname"] for r in key}, "primary keys differ"

    problems = []
    for name, column in columns.items():
        row = schema[name]
        if expected_udt(column) != row["udt_name"]:
            problems.append(f"{name}: type {expected_udt(column)} in Piccolo, {row['udt_name']} in the schema")
        if column._meta.null != (row["is_nullable"] == "YES") and not column._meta.primary_key:
            problems.append(f"{name}: null={column._meta.null} in Piccolo, nullable={row['is_nullable']} in the schema")
        length = getattr(column, "length", None)
        if type(column).__name__ == "Varchar" and length != row["character_maximum_length"]:
            problems.append(f"{name}: length {length} in Piccolo, {row['character_maximum_length']} in the schema")
        if row["column_default"] is not None and not declared_default_matches(column, row["column_default"]):
            problems.append(f"{name}: default {column.default!r} in Piccolo, {row['column_default']} in the schema")
        if row["is_identity"] == "YES" and type(column).__name__ not in {"Serial", "BigSerial"}:
            problems.append(f"{name}: an identity column in the schema, {type(column).__name__} in Piccolo")
        # A nullable column the database leaves NULL when an INSERT omits it: Piccolo must insert NULL too.
        nullable_without_default = row["is_nullable"] == "YES" and row["column_default"] is None
        if nullable_without_default and column.default is not None and not column._meta.primary_key:
            problems.append(f"{name}: Piccolo inserts {column.default!r} where the schema leaves NULL")
    assert not problems, "\n".join(problems)


async def test_every_migrated_table_has_a_table_class(real_injector: Injector) -> None:
    declared = [table._meta.tablename for table in tables()]
    assert len(declared) == len(set(declared)), "two classes declare one table"
    missing = await migrated_tables(real_injector.get(Database)) - set(declared) - PENDING
    assert not missing, f"migrated tables without a Piccolo class: {sorted(missing)}"


async def test_pending_tables_are_still_pending(real_injector: Injector) -> None:
    """PENDING lists only migrated tables that still lack a class: the lead empties it at merge."""
    declared = {table._meta.tablename for table in tables()}
    assert not PENDING & declared, f"these now have a class: remove them from PENDING: {sorted(PENDING & declared)}"
    migrated = await migrated_tables(real_injector.get(Database))
    assert not PENDING - migrated, f"PENDING names tables no migration creates: {sorted(PENDING - migrated)}"


def test_core_and_feature_table_modules_are_found() -> None:
    names = {table._meta.tablename for table in tables()}
    assert {"event_log", "users", "sessions", "ledger_accounts", "ledger_transfers", "ledger_entries"} <= names
