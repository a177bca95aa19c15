"""PostgreSQL going away under load: clean 503 pages while it is gone, recovery without restarting
the app, and the ledger's invariants intact afterwards.

The app here runs against its own embedded PostgreSQL (pgserver, in a temporary directory) so the
test can stop and restart a whole server, and terminate its backends, without touching the shared
server the rest of the suite uses.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from uuid import uuid4

import httpx
import pytest
from injector import Injector

from core.db import Database, connect, create_database, migrate, with_database
from core.di import build_injector
from core.embedded_pg import EmbeddedPostgres
from core.settings import Settings, load_settings
from features.bootstrap import features_for
from features.ledger.model import AccountRef, Leg
from features.ledger.service import LedgerService
from tests.conftest import app_client
from tests.support.web import post_form, sign_up

VENDOR = AccountRef.vendor_clearing()
FRIENDLY = "briefly unavailable"
PAGES = ["/", "/login", "/wallet"]
REQUEST_TIMEOUT = 10.0


@dataclass
class Outage:
    """One app instance on its own PostgreSQL server, which the test can stop and start again."""

    pgdata: Path
    server: EmbeddedPostgres
    url: str
    injector: Injector
    settings: Settings
    anonymous: httpx.AsyncClient = field(init=False)
    viewer: httpx.AsyncClient = field(init=False)

    async def stop_server(self) -> None:
        await asyncio.to_thread(self.server.stop)

    async def start_server(self) -> None:
        self.server = EmbeddedPostgres(self.pgdata)
        server_url = await asyncio.to_thread(self.server.start)
        assert with_database(server_url, "hypha_outage") == self.url, "the restarted server moved its socket"

    async def terminate_backends(self) -> int:
        conn = await connect(self.url)
        try:
            killed: list[bool] = [
                r[0]
                for r in await conn.fetch(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ]
        finally:
            await conn.close()
        return sum(killed)


@pytest.fixture(scope="module")
async def outage() -> AsyncIterator[Outage]:
    root = Path(tempfile.mkdtemp(prefix="hypha-outage-"))
    pgdata = root / "pgdata"
    server = EmbeddedPostgres(pgdata)
    try:
        server_url = await asyncio.to_thread(server.start)
        await create_database(server_url, "hypha_outage")
        url = with_database(server_url, "hypha_outage")
        await migrate(url)
        settings = load_settings(
            {},
            database_url=url,
            data_dir=str(root / "data"),
            secret_key=secrets.token_hex(32),
            db_pool_min=1,
            db_pool_max=4,
        )
        injector = build_injector(settings, features_for(settings))
        db = injector.get(Database)
        await db.start()
        state = Outage(pgdata, server, url, injector, settings)
        try:
            async with app_client(injector, settings) as anonymous, app_client(injector, settings) as viewer:
                state.anonymous, state.viewer = anonymous, viewer
                await sign_up(viewer, f"viewer-{uuid4().hex[:8]}@example.com")
                yield state
        finally:
            await db.stop(timeout=2)
    finally:
        await asyncio.to_thread(state.server.stop if "state" in locals() else server.stop)
        shutil.rmtree(root, ignore_errors=True)


async def get(client: httpx.AsyncClient, path: str) -> httpx.Response:
    """A page request that must answer (not hang) within REQUEST_TIMEOUT seconds."""
    return await asyncio.wait_for(client.get(path, headers={"accept": "text/html"}), REQUEST_TIMEOUT)


async def wait_until_served(client: httpx.AsyncClient, path: str, within: float = 10.0) -> float:
    started = asyncio.get_running_loop().time()
    while True:
        response = await get(client, path)
        waited = asyncio.get_running_loop().time() - started
        if response.status_code == 200:
            return waited
        assert response.status_code == 503, (path, response.status_code, response.text[:300])
        assert waited < within, f"{path} still {response.status_code} after {waited:.1f}s"
        await asyncio.sleep(0.1)


class Load:
    """Browsers and ledger transfers hitting the app in the background; records every outcome."""

    def __init__(self, outage: Outage) -> None:
        self.outage = outage
        self.statuses: list[tuple[str, int]] = []
        self.transfers = 0
        self.transfer_errors: list[str] = []
        self.running = True
        self.tasks: list[asyncio.Task[None]] = []

    async def browse(self, client: httpx.AsyncClient, path: str) -> None:
        while self.running:
            response = await get(client, path)
            self.statuses.append((path, response.status_code))
            await asyncio.sleep(0.01)

    async def spend(self) -> None:
        ledger = self.outage.injector.get(LedgerService)
        wallet = AccountRef.wallet(uuid4())
        while self.running:
            try:
                await ledger.transfer(uuid4().hex, "purchase", [Leg(VENDOR, wallet, 10)])
                self.transfers += 1
            except Exception as error:  # an outage may surface as any driver error
                self.transfer_errors.append(type(error).__name__)
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.01)

    def start(self) -> None:
        runs: list[Callable[[], Awaitable[None]]] = [
            lambda: self.browse(self.outage.anonymous, "/"),
            lambda: self.browse(self.outage.viewer, "/wallet"),
            self.spend,
        ]
        self.tasks = [asyncio.create_task(run()) for run in runs]

    async def stop(self) -> None:
        self.running = False
        await asyncio.wait_for(asyncio.gather(*self.tasks), REQUEST_TIMEOUT * 2)

    def cancel(self) -> None:
        for task in self.tasks:
            task.cancel()

    def server_errors(self) -> list[tuple[str, int]]:
        return [(path, status) for path, status in self.statuses if status not in (200, 503)]


async def assert_serves_everything(outage: Outage) -> None:
    # Anonymous visitors are sent from /wallet to log in, viewers from /login to their page.
    for path in PAGES:
        assert (await get(outage.anonymous, path)).status_code == (303 if path == "/wallet" else 200), path
        assert (await get(outage.viewer, path)).status_code == (303 if path == "/login" else 200), path
    assert (await get(outage.anonymous, "/readyz")).status_code == 200


async def assert_ledger_still_works(outage: Outage) -> None:
    ledger = outage.injector.get(LedgerService)
    wallet = AccountRef.wallet(uuid4())
    await ledger.transfer(uuid4().hex, "purchase", [Leg(VENDOR, wallet, 250)])
    assert await ledger.balance(wallet) == 250
    assert await ledger.verify() == []


async def test_a_stopped_database_gives_friendly_503_pages_and_the_same_app_recovers_when_it_returns(
    outage: Outage,
) -> None:
    await assert_serves_everything(outage)
    load = Load(outage)
    load.start()
    await asyncio.sleep(0.3)

    try:
        await outage.stop_server()
        try:
            # The anonymous log-in form and log-in redirect need no database; the rest does.
            pages = [(outage.anonymous, "/")] + [(outage.viewer, path) for path in PAGES]
            for client, path in pages:
                response = await get(client, path)
                if client is outage.viewer and path == "/login" and response.status_code == 303:
                    # A signed-in viewer's session may still be in the brief in-process cache
                    # (SESSION_CACHE_SECONDS): the log-in page then sends them home without the database.
                    continue
                assert response.status_code == 503, (path, response.status_code, response.text[:300])
                assert FRIENDLY in response.text
                assert response.headers["retry-after"] == "5"
            assert (await get(outage.anonymous, "/login")).status_code == 200
            logging_in = await asyncio.wait_for(
                post_form(outage.anonymous, "/login", {"email": "a@example.com", "password": "whatever pass"}),
                REQUEST_TIMEOUT,
            )
            assert logging_in.status_code == 503
            assert (await get(outage.anonymous, "/healthz")).status_code == 200
            assert (await get(outage.anonymous, "/readyz")).status_code == 503
        finally:
            await outage.start_server()

        waited = await wait_until_served(outage.viewer, "/wallet")
        assert waited < 5.0
        await asyncio.sleep(0.3)
        await load.stop()
    finally:
        load.cancel()

    assert load.server_errors() == []
    assert any(status == 503 for _, status in load.statuses), "the load never saw the outage"
    assert load.transfers > 0
    await assert_serves_everything(outage)
    await assert_ledger_still_works(outage)


async def test_terminated_connections_cost_at_most_a_503_and_the_pool_reconnects(outage: Outage) -> None:
    await assert_serves_everything(outage)
    load = Load(outage)
    load.start()
    await asyncio.sleep(0.3)

    try:
        for _ in range(5):
            assert await outage.terminate_backends() >= 1
            await asyncio.sleep(0.1)

        await wait_until_served(outage.viewer, "/wallet", within=5.0)
        await asyncio.sleep(0.3)
        await load.stop()
    finally:
        load.cancel()

    assert load.server_errors() == []
    assert load.transfers > 0
    await assert_serves_everything(outage)
    await assert_ledger_still_works(outage)
