"""The migration runner: each file applied once, in order; an applied file that was edited is refused."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.db import MigrationEdited, connect, create_database, drop_database, migrate, with_database


@pytest.fixture
async def empty_database(server_url: str) -> AsyncIterator[str]:
    name = f"hypha_migrations_{secrets.token_hex(4)}"
    await create_database(server_url, name)
    try:
        yield with_database(server_url, name)
    finally:
        await drop_database(server_url, name)


def write(directory: Path, name: str, sql: str) -> Path:
    path = directory / name
    path.write_text(sql)
    return path


async def table_names(url: str) -> set[str]:
    conn = await connect(url)
    try:
        rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    finally:
        await conn.close()
    return {r["tablename"] for r in rows}


async def test_new_files_are_applied_once_in_name_order(empty_database: str, tmp_path: Path) -> None:
    write(tmp_path, "0002_b.sql", "ALTER TABLE a ADD COLUMN note text;")
    write(tmp_path, "0001_a.sql", "CREATE TABLE a (id int);")

    assert await migrate(empty_database, tmp_path) == ["0001_a.sql", "0002_b.sql"]
    assert await migrate(empty_database, tmp_path) == []

    write(tmp_path, "0003_c.sql", "CREATE TABLE c (id int);")
    assert await migrate(empty_database, tmp_path) == ["0003_c.sql"]
    assert {"a", "c"} <= await table_names(empty_database)


async def test_an_applied_migration_that_was_edited_is_refused_and_nothing_runs(
    empty_database: str, tmp_path: Path
) -> None:
    first = write(tmp_path, "0001_a.sql", "CREATE TABLE a (id int);")
    await migrate(empty_database, tmp_path)
    first.write_text("CREATE TABLE a (id bigint);")
    write(tmp_path, "0002_b.sql", "CREATE TABLE b (id int);")

    with pytest.raises(MigrationEdited, match=r"0001_a\.sql"):
        await migrate(empty_database, tmp_path)

    assert "b" not in await table_names(empty_database)


async def test_line_endings_are_not_an_edit(empty_database: str, tmp_path: Path) -> None:
    first = write(tmp_path, "0001_a.sql", "CREATE TABLE a (id int);\n-- note\n")
    await migrate(empty_database, tmp_path)
    first.write_bytes(b"CREATE TABLE a (id int);\r\n-- note\r\n")

    assert await migrate(empty_database, tmp_path) == []


async def test_a_database_migrated_before_checksums_adopts_the_files_as_they_are(
    empty_database: str, tmp_path: Path
) -> None:
    conn = await connect(empty_database)
    try:
        await conn.execute("CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at timestamptz)")
        await conn.execute("CREATE TABLE a (id int)")
        await conn.execute("INSERT INTO schema_migrations (name) VALUES ('0000_old.sql')")
    finally:
        await conn.close()
    write(tmp_path, "0000_old.sql", "CREATE TABLE a (id int);")

    applied = await migrate(empty_database, tmp_path)

    assert "0000_old.sql" not in applied
    (tmp_path / "0000_old.sql").write_text("CREATE TABLE a (id text);")
    with pytest.raises(MigrationEdited):
        await migrate(empty_database, tmp_path)
