"""Every Piccolo table class says what the migrated schema says: columns, types, lengths, nullability and
the defaults the database declares. The migrations are the truth; a table class that drifts would
make Piccolo queries select, insert or validate something the database does not hold."""

from __future__ import annotations

from typing import Any

import pytest
from injector import Injector
from piccolo.columns import Column, ForeignKey
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from core.db import Database
from features.bootstrap import table_classes

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
    return UDT[type(column).__name__]


def declared_default_matches(column: Column, sql_default: str) -> bool:
    """Whether Piccolo's default for a column is the one the database declares."""
    default: Any = column.default
    if sql_default.startswith("nextval("):  # serial ids
        return type(column).__name__ in {"Serial", "BigSerial"}
    if sql_default in {"now()", "CURRENT_TIMESTAMP"}:
        return isinstance(default, TimestamptzNow)
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
    return table_classes()


@pytest.mark.parametrize("table", tables(), ids=lambda table: table._meta.tablename)
async def test_the_table_class_matches_the_migrated_table(real_injector: Injector, table: type[Table]) -> None:
    db = real_injector.get(Database)
    rows = await db.fetch(
        "SELECT column_name, udt_name, is_nullable, column_default, character_maximum_length"
        " FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1",
        table._meta.tablename,
    )
    schema = {r["column_name"]: r for r in rows}
    columns = {column._meta.db_column_name: column for column in table._meta.columns}
    assert schema, f"{table._meta.tablename} is not in the migrated schema"
    assert set(columns) == set(schema), "columns differ"

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
    assert not problems, "\n".join(problems)


def test_every_feature_table_module_is_found() -> None:
    names = {table._meta.tablename for table in tables()}
    assert {"users", "sessions", "ledger_accounts", "ledger_transfers", "ledger_entries"} <= names
