"""`hypha ledger verify`: check the ledger's invariants and exit non-zero on any violation.

Prints "ledger OK: N accounts, M transfers", or each violation and then exits 1. It reads the
database from DATABASE_URL like `hypha web`; without it, it checks the embedded PostgreSQL that
`hypha up` keeps under DATA_DIR (default ./.hypha), starting it for the check if it is not running.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import asyncpg

from core.clock import SystemClock
from core.db import Database
from core.feature import Composition
from core.settings import Settings, SettingsError, load_settings
from features.ledger.adapters import PostgresLedgerRepository
from features.ledger.service import LedgerService


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("verify", help="check the ledger's invariants; exit non-zero on any violation")


async def verify(url: str, composition: Composition) -> tuple[list[str], str]:
    """The violations found, and a summary of what was checked ("N accounts, M transfers")."""
    db = Database(url, min_size=1, max_size=2, tables=composition.tables())
    await db.start()
    try:
        ledger = LedgerService(PostgresLedgerRepository(db), SystemClock())
        problems = await ledger.verify()
        totals = await ledger.totals()
    finally:
        await db.stop()
    return problems, f"{totals.accounts} accounts, {totals.transfers} transfers"


class _Refused(SystemExit):
    """Stop with a one-line message and status 2 (a usage or set-up problem, not a broken ledger)."""

    def __init__(self, message: str) -> None:
        print(f"hypha: {message}", file=sys.stderr)
        super().__init__(2)


def run(args: argparse.Namespace, composition: Composition) -> None:
    try:
        settings: Settings = load_settings()
    except SettingsError as error:
        raise _Refused(f"configuration error: {error}") from error
    if args.action != "verify":
        raise _Refused(f"unknown ledger action {args.action!r}")
    embedded = None
    url = settings.database_url
    if not url:
        pgdata = settings.data_path / "pgdata"
        if not (pgdata / "PG_VERSION").exists():
            raise _Refused(
                "DATABASE_URL is not set and there is no local database under "
                f"{settings.data_path} (run `hypha up` first, or set DATABASE_URL)."
            )
        from core.embedded_pg import EmbeddedPostgres

        embedded = EmbeddedPostgres(pgdata)
        url = embedded.start()
    try:
        problems, summary = asyncio.run(verify(url, composition))
    except asyncpg.UndefinedTableError as error:
        raise _Refused(f"the database is not migrated yet (run `hypha migrate`): {error}") from error
    finally:
        if embedded is not None:
            embedded.stop()
    if problems:
        for problem in problems:
            print(f"ledger violation: {problem}")
        print(f"ledger BROKEN: {len(problems)} violation(s) in {summary}")
        raise SystemExit(1)
    print(f"ledger OK: {summary}")
