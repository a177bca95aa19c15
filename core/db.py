"""PostgreSQL access: a Piccolo engine on asyncpg, the `atomic()` unit of work, and migrations.

Adapters use Piccolo tables or, on hot paths, plain SQL through `Database.fetch*`; both join the
transaction opened by `atomic()` (Piccolo keeps it in a context variable), so a service can wrap
several repositories in one unit of work.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_MIGRATION_LOCK = 72_817_001


class MigrationEdited(Exception):
    """An applied migration's file no longer matches what was applied: the database and the code disagree."""


class DatabaseUnavailable(Exception):
    """Raised when PostgreSQL cannot be reached."""


def _connect_kwargs(url: str) -> dict[str, Any]:
    return {"dsn": url}


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Release a pooled connection without asyncpg's reset round trip (`pg_advisory_unlock_all(); CLOSE
    ALL; UNLISTEN *; RESET ALL`) on every release, one per request and more on a busy path. asyncpg still
    rolls back a transaction left open, locally and without a round trip otherwise. Nothing here leaves
    session state on a pooled connection: advisory locks are transaction-scoped (`pg_advisory_xact_lock`;
    the migration lock is on a connection of its own), settings are `set_config(..., true)` (local to the
    transaction), cursors live inside transactions, and LISTEN has its own connection (core.postgres).
    tests/integration/test_db_pool.py holds that to account."""


class Database:
    """One connection pool per process, shared by Piccolo tables and plain SQL."""

    def __init__(self, url: str, *, min_size: int = 2, max_size: int = 10, tables: Sequence[type[Table]] = ()) -> None:
        self.url = url
        self.min_size = min_size
        self.max_size = max_size
        # core's own Piccolo tables, and those of the features this process runs
        self.tables = (*core_tables(), *tables)
        self.engine = PostgresEngine(config=_connect_kwargs(url))

    async def start(self) -> None:
        if self.engine.pool is None:
            try:
                await self.engine.start_connection_pool(
                    min_size=self.min_size, max_size=self.max_size, command_timeout=60, reset=_keep_session
                )
            except (OSError, asyncpg.PostgresError) as error:
                raise DatabaseUnavailable(f"cannot connect to PostgreSQL: {error}") from error
        bind_tables(self.engine, self.tables)

    async def stop(self, timeout: float = 5.0) -> None:
        """Close the pool; connections still busy after `timeout` seconds are terminated."""
        pool = self.engine.pool
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), timeout)
        except TimeoutError:
            log.warning("closing the database pool timed out; terminating its connections")
            pool.terminate()
        self.engine.pool = None

    def atomic(self) -> AbstractAsyncContextManager[Any]:
        return self.engine.transaction()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """The current transaction's connection, or one from the pool for the block."""
        current = self.engine.current_transaction.get()
        if current is not None:
            yield current.connection
            return
        if self.engine.pool is None:
            raise DatabaseUnavailable("the database pool is not started")
        async with self.engine.pool.acquire() as conn:
            yield conn

    async def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async with self.connection() as conn:
            rows: list[asyncpg.Record] = await conn.fetch(sql, *args)
            return rows

    async def fetchrow(self, sql: str, *args: Any) -> asyncpg.Record | None:
        async with self.connection() as conn:
            row: asyncpg.Record | None = await conn.fetchrow(sql, *args)
            return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        async with self.connection() as conn:
            return await conn.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> str:
        async with self.connection() as conn:
            status: str = await conn.execute(sql, *args)
            return status


def tables_in(module: ModuleType) -> tuple[type[Table], ...]:
    """The Piccolo tables a module defines (a feature's `tables` module), in the order it defines them:
    a table added to the module is picked up without a list to keep."""
    return tuple(
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and issubclass(value, Table)
        and value is not Table
        and value.__module__ == module.__name__
    )


def core_tables() -> tuple[type[Table], ...]:
    """core's own tables (core/tables.py): the event log, checkpoints, rate limits and secrets."""
    from core import tables

    return tables_in(tables)


def bind_tables(engine: PostgresEngine, tables: Sequence[type[Table]]) -> None:
    for table in tables:
        table._meta.db = engine


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    return sorted(p for p in directory.glob("*.sql") if re.fullmatch(r"[0-9]{4}", p.name[:4]))


def migration_checksum(path: Path) -> str:
    """SHA-256 of a migration's text, line endings normalised (a checkout's CRLF is not an edit)."""
    text = path.read_bytes().replace(b"\r\n", b"\n")
    return hashlib.sha256(text).hexdigest()


async def migrate(url: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending migrations in file-name order, all in one transaction; return their names.

    An advisory lock makes concurrent `migrate` calls (several processes starting) safe. Each applied
    file's checksum is recorded; a file edited after it was applied raises `MigrationEdited` before
    anything runs (a change to the schema is a new migration, never an edit of an applied one).
    Rows applied before checksums were kept adopt the file's current checksum.
    """
    conn = await connect(url)
    applied_now: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        await conn.execute("ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text")
        done = {r["name"]: r["checksum"] for r in await conn.fetch("SELECT name, checksum FROM schema_migrations")}
        files = migration_files(directory)
        edited = [p.name for p in files if done.get(p.name) not in (None, migration_checksum(p))]
        if edited:
            raise MigrationEdited(
                f"applied migration(s) {', '.join(edited)} changed since they were applied; "
                "restore the file(s) and put the change in a new migration"
            )
        # Every pending file in one transaction (one commit, not one per file: a new database is
        # migrated in one go): they apply together or, if one fails, none does.
        async with conn.transaction():
            for path in files:
                if path.name in done:
                    if done[path.name] is None:
                        adopt = "UPDATE schema_migrations SET checksum = $2 WHERE name = $1"
                        await conn.execute(adopt, path.name, migration_checksum(path))
                    continue
                await conn.execute(path.read_text())
                await conn.execute(
                    "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)",
                    path.name,
                    migration_checksum(path),
                )
                applied_now.append(path.name)
        for name in applied_now:
            log.info("applied migration %s", name)
    finally:
        await conn.close()  # ends the session, which releases its advisory lock
    return applied_now


async def connect(url: str, timeout: float = 10.0) -> asyncpg.Connection:
    try:
        conn: asyncpg.Connection = await asyncio.wait_for(asyncpg.connect(url), timeout)
    except (OSError, TimeoutError, asyncpg.PostgresError) as error:
        raise DatabaseUnavailable(f"cannot connect to PostgreSQL at {redact(url)}: {error}") from error
    return conn


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at another database."""
    parts = urlsplit(url)
    return parts._replace(path=f"/{name}").geturl()


async def create_database(url: str, name: str) -> None:
    conn = await connect(url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(url: str, name: str) -> None:
    conn = await connect(url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def rows_to_dicts(rows: Sequence[asyncpg.Record]) -> list[dict[str, Any]]:
    return [dict(r) for r in rows]
