"""Shared fixtures: a fresh PostgreSQL database per test run, injectors with memory or real adapters,
and a live server with a real Chromium for end-to-end tests.

DATABASE_URL set → tests create their own database on that server and drop it at the end;
unset → an embedded PostgreSQL (pgserver) is started in a temporary directory.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from injector import Injector

from core.db import Database, bind_tables, create_database, drop_database, migrate, with_database
from core.di import build_injector
from core.embedded_pg import EmbeddedPostgres
from core.settings import Settings, load_settings
from features.bootstrap import features_for
from features.ledger.service import LedgerService

KEEP_TABLES = {"schema_migrations", "app_secrets"}


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    url = os.environ.get("DATABASE_URL", "")
    if url:
        yield url
        return
    with tempfile.TemporaryDirectory(prefix="hypha-test-pg-") as tmp:
        embedded = EmbeddedPostgres(Path(tmp) / "pgdata")
        try:
            yield embedded.start()
        finally:
            embedded.stop()


@pytest.fixture(scope="session")
async def database_url(server_url: str) -> AsyncIterator[str]:
    name = f"hypha_test_{secrets.token_hex(4)}"
    await create_database(server_url, name)
    url = with_database(server_url, name)
    try:
        await migrate(url)
        yield url
    finally:
        await drop_database(server_url, name)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hypha-data")


GENEROUS_LIMITS = {
    "signups_per_ip_per_hour": 100_000,
    "videos_per_creator_per_hour": 100_000,
    "unlocks_per_viewer_per_minute": 100_000,
    "reports_per_user_per_day": 100_000,
}


@pytest.fixture(scope="session")
def settings(database_url: str, data_dir: Path) -> Settings:
    return load_settings(
        {},
        database_url=database_url,
        data_dir=str(data_dir),
        secret_key=secrets.token_hex(32),
        db_pool_min=1,
        db_pool_max=10,
        # Tests change users with SQL and expect the next request to see it at once;
        # tests/integration/test_session_cache.py runs its own app with the cache on.
        session_cache_seconds=0,
        # Generous abuse limits: tests that hammer a route (fuzzing, races) are not about them;
        # tests/integration/test_abuse_limits.py runs its own app with the limits low.
        **GENEROUS_LIMITS,
    )


@pytest.fixture(scope="session")
async def real_injector(settings: Settings) -> AsyncIterator[Injector]:
    injector = build_injector(settings, features_for(settings))
    db = injector.get(Database)
    await db.start()
    try:
        yield injector
    finally:
        await db.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Browser tests run last: their live server and saq worker (with its cron jobs) live until the
    end of the session and must not run beside tests that count rows or mail."""
    for item in items:
        if "/e2e/" in str(item.path):
            item.add_marker(pytest.mark.e2e)
    items.sort(key=lambda item: "/e2e/" in str(item.path))


@pytest.fixture
async def pg(real_injector: Injector, request: pytest.FixtureRequest) -> AsyncIterator[Injector]:
    """The real-adapter injector on an emptied database (every table truncated before the test).

    After the test the ledger's invariants are checked (`hypha ledger verify`'s checks): no test may
    leave money unbalanced, unless it is marked `ledger_tampered` because it corrupts rows on purpose.
    """
    db = real_injector.get(Database)
    # Piccolo tables are bound to the engine of the Database started last; a test that started (and
    # stopped) its own app's Database leaves them on a stopped engine, whose queries then open a
    # connection of their own outside the test's transaction (and wait on its row locks forever).
    bind_tables(db.engine, db.tables)
    tables = [
        r["tablename"]
        for r in await db.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        if r["tablename"] not in KEEP_TABLES
    ]
    if tables:
        truncate = "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
        # A browser test's live worker (its cron jobs) may hold a table the TRUNCATE has not locked yet;
        # PostgreSQL then ends one side as a deadlock. The TRUNCATE did nothing: do it again.
        for attempt in range(5):
            try:
                await db.execute(truncate)
                break
            except asyncpg.DeadlockDetectedError:
                if attempt == 4:
                    raise
                await asyncio.sleep(0.1 * (attempt + 1))
    yield real_injector
    if request.node.get_closest_marker("ledger_tampered") is None:
        broken = await real_injector.get(LedgerService).verify()
        assert not broken, "the test left the ledger broken:\n" + "\n".join(broken)


@pytest.fixture
def memory_settings(tmp_path: Path) -> Settings:
    return load_settings({}, data_dir=str(tmp_path), secret_key=secrets.token_hex(32), session_cache_seconds=0)


@pytest.fixture
def memory(memory_settings: Settings) -> Injector:
    """An injector wired entirely to in-memory adapters."""
    return build_injector(memory_settings, features_for(memory_settings), memory=True)


@pytest.fixture
async def client(pg: Injector, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the whole app with real adapters (PostgreSQL), cookies kept like a browser.

    The app runs in the test's own event loop (httpx's ASGI transport), like uvicorn would run it.
    """
    async with app_client(pg, settings) as test_client:
        yield test_client


@asynccontextmanager
async def app_client(
    injector: Injector, settings: Settings, base_url: str = "http://127.0.0.1:8000"
) -> AsyncIterator[httpx.AsyncClient]:
    from features.bootstrap import create_app

    app = create_app(settings, injector)
    # Litestar's lifespan runs in an anyio task group, which cannot span pytest fixtures; the pool is
    # already started by `real_injector`, so only the features' startup hooks are left to run.
    for feature in features_for(settings):
        for hook in feature.on_startup:
            await hook(injector)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as test_client:
        yield test_client
