"""`hypha staff add EMAIL` / `hypha staff remove EMAIL`: grant or take away the staff role.

Reads the database from DATABASE_URL (or the embedded PostgreSQL `hypha up` keeps under DATA_DIR).
Each change is written to the moderation audit log, by "command line". Removing the role ends the
person's sessions. Exit status 0 on success, 1 for an unknown e-mail, 2 for a set-up problem.
"""

from __future__ import annotations

import argparse
import asyncio

import asyncpg

from core.feature import Composition
from core.oneoff import database_settings, refuse
from core.settings import Settings


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


def run(args: argparse.Namespace, composition: Composition) -> None:
    from features.accounts.model import UnknownAccount

    try:
        with database_settings() as settings:
            line = asyncio.run(change(composition, settings, args.email, args.action == "add"))
    except UnknownAccount as error:
        raise refuse(f"{error.message} ({args.email!r})", 1) from error
    except asyncpg.UndefinedTableError as error:
        raise refuse(f"the database is not migrated yet (run `hypha migrate`): {error}") from error
    print(line)
