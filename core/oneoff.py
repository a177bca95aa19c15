"""A one-off operator command (`hypha staff`, `hypha portability export` …) against the database:
`DATABASE_URL` when it is set, else the local embedded PostgreSQL that `hypha up` created."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from core.settings import Settings, SettingsError, load_settings


def refuse(message: str, status: int = 2) -> SystemExit:
    """Print `hypha: <message>` to stderr; the exit to raise."""
    print(f"hypha: {message}", file=sys.stderr)
    return SystemExit(status)


@contextmanager
def database_settings() -> Iterator[Settings]:
    """The settings with a database URL for the block: the configured one, or the local embedded
    PostgreSQL, started for the block and stopped after it. Raises SystemExit (2) on a configuration
    error, when there is neither, or when the database is not migrated. With SECRET_KEY unset, the
    secret is the one kept in the database (core.cli.shared_secret), as for the web server and worker."""
    import msgspec

    try:
        settings = load_settings()
    except SettingsError as error:
        raise refuse(f"configuration error: {error}") from error
    if settings.database_url:
        yield _with_secret(settings)
        return
    pgdata = settings.data_path / "pgdata"
    if not (pgdata / "PG_VERSION").exists():
        raise refuse(
            "DATABASE_URL is not set and there is no local database under "
            f"{settings.data_path} (run `hypha up` first, or set DATABASE_URL)."
        )
    from core.embedded_pg import EmbeddedPostgres

    embedded = EmbeddedPostgres(pgdata)
    url = embedded.start()
    try:
        yield _with_secret(msgspec.structs.replace(settings, database_url=url))
    finally:
        embedded.stop()


def _with_secret(settings: Settings) -> Settings:
    import msgspec

    from core.cli import shared_secret

    if settings.secret_key:
        return settings
    try:
        secret = asyncio.run(shared_secret(settings.database_url))
    except Exception as error:  # the table is missing: migrations have not run
        raise refuse(f"the database is not migrated yet (run `hypha migrate`): {error}") from error
    return msgspec.structs.replace(settings, secret_key=secret)
