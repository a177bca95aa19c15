"""`hypha staff add EMAIL` / `hypha staff remove EMAIL`: grant or take away the staff role.

Reads the database from DATABASE_URL (or the embedded PostgreSQL `hypha up` keeps under DATA_DIR).
Each change is written to the moderation audit log, by "command line". Removing the role ends the
person's sessions. Exit status 0 on success, 1 for an unknown e-mail, 2 for a set-up problem.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import asyncpg

from core.feature import Composition
from core.settings import Settings, SettingsError, load_settings


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (("add", "make the account with this e-mail staff"), ("remove", "take the staff role away")):
        action = actions.add_parser(name, help=text)
        action.add_argument("email", help="the account's e-mail address")


async def change(composition: Composition, settings: Settings, email: str, is_staff: bool) -> str:
    """Grant or take away the role; the line to print. Raises UnknownAccount."""
    from core.db import Database
    from core.di import build_injector
    from features.moderation.service import ModerationService

    injector = build_injector(settings, composition.features_for(settings))
    db = injector.get(Database)
    await db.start()
    try:
        user = await injector.get(ModerationService).set_staff(email, is_staff)
    finally:
        await db.stop()
    role = "is now staff" if is_staff else "is no longer staff (signed out everywhere)"
    return f"{user.email} {role}"


def _refuse(message: str, status: int = 2) -> SystemExit:
    print(f"hypha: {message}", file=sys.stderr)
    return SystemExit(status)


def run(args: argparse.Namespace, composition: Composition) -> None:
    from features.accounts.model import UnknownAccount

    try:
        settings = load_settings()
    except SettingsError as error:
        raise _refuse(f"configuration error: {error}") from error
    embedded = None
    url = settings.database_url
    if not url:
        pgdata = settings.data_path / "pgdata"
        if not (pgdata / "PG_VERSION").exists():
            raise _refuse(
                "DATABASE_URL is not set and there is no local database under "
                f"{settings.data_path} (run `hypha up` first, or set DATABASE_URL)."
            )
        from core.embedded_pg import EmbeddedPostgres

        embedded = EmbeddedPostgres(pgdata)
        url = embedded.start()
    try:
        import msgspec

        line = asyncio.run(
            change(composition, msgspec.structs.replace(settings, database_url=url), args.email, args.action == "add")
        )
    except UnknownAccount as error:
        raise _refuse(f"{error.message} ({args.email!r})", 1) from error
    except asyncpg.UndefinedTableError as error:
        raise _refuse(f"the database is not migrated yet (run `hypha migrate`): {error}") from error
    finally:
        if embedded is not None:
            embedded.stop()
    print(line)
