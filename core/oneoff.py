"""A one-off operator command (`hypha staff`, `hypha portability export` …) against the database:
`DATABASE_URL` when it is set, else the local embedded PostgreSQL that `hypha up` created."""

from __future__ import annotations

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
    error or when there is neither."""
    import msgspec

    try:
        settings = load_settings()
    except SettingsError as error:
        raise refuse(f"configuration error: {error}") from error
    if settings.database_url:
        yield settings
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
        yield msgspec.structs.replace(settings, database_url=url)
    finally:
        embedded.stop()
