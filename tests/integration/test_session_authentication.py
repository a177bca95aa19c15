"""Who is asking, from the session cookie: looked up once per routed request, never for a static file
or a probe, and a stale session is still recognised and its cookie dropped."""

from __future__ import annotations

from datetime import datetime

import pytest
from injector import Binder, Injector, InstanceProvider, Module

from core.clock import SystemClock
from core.db import Database
from core.di import bind_port, build_injector
from core.events import EventBus
from core.postgres import PostgresEventBus, PostgresRateLimiter
from core.ratelimit import RateLimiter
from core.settings import Settings
from core.uow import UnitOfWork
from core.web import SESSION_COOKIE
from features.accounts.adapters import PostgresSessionRepository
from features.accounts.model import User
from features.accounts.ports import SessionRepository
from features.accounts.service import AccountService
from features.bootstrap import features_for
from tests.conftest import app_client
from tests.support.videos import person, session_token


class CountingSessions(PostgresSessionRepository):
    """The real session store, counting the look-ups the web edge makes."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.lookups = 0

    async def user_for(self, token_hash: str, now: datetime) -> User | None:
        self.lookups += 1
        return await super().user_for(token_hash, now)


class Counted(Module):
    """The test's shared database (its pool is started) and the counting session store."""

    def __init__(self, db: Database, sessions: CountingSessions) -> None:
        self.db = db
        self.sessions = sessions

    def configure(self, binder: Binder) -> None:
        clock = SystemClock()
        binder.bind(Database, to=InstanceProvider(self.db))
        bind_port(binder, UnitOfWork, self.db)
        bind_port(binder, EventBus, PostgresEventBus(self.db))
        bind_port(binder, RateLimiter, PostgresRateLimiter(self.db, clock))
        bind_port(binder, SessionRepository, self.sessions)


@pytest.fixture
def counted(pg: Injector, settings: Settings) -> tuple[Injector, CountingSessions]:
    db = pg.get(Database)
    sessions = CountingSessions(db)
    return build_injector(settings, features_for(settings), Counted(db, sessions)), sessions


STATIC = ["/static/css/hypha.css", "/static/favicon.svg", "/healthz", "/readyz"]


async def test_a_static_file_or_a_probe_costs_no_session_lookup(
    counted: tuple[Injector, CountingSessions], settings: Settings
) -> None:
    injector, sessions = counted
    who = await person(injector, "Static Reader")
    async with app_client(injector, settings) as client:
        client.cookies.set(SESSION_COOKIE, await session_token(injector, who))
        for path in STATIC:
            response = await client.get(path)
            assert response.status_code == 200, path
        assert sessions.lookups == 0
        page = await client.get("/me")
        assert page.status_code == 200
        assert "Static Reader" in page.text
        assert sessions.lookups == 1


async def test_a_visitor_without_a_cookie_costs_no_lookup_and_is_anonymous(
    counted: tuple[Injector, CountingSessions], settings: Settings
) -> None:
    injector, sessions = counted
    async with app_client(injector, settings) as client:
        assert (await client.get("/")).status_code == 200
        assert (await client.get("/me", follow_redirects=False)).headers["location"] == "/login?next=/me"
    assert sessions.lookups == 0


async def test_a_stale_session_cookie_is_dropped_on_a_page_but_a_static_file_leaves_it_alone(
    pg: Injector, settings: Settings
) -> None:
    who = await person(pg, "Logged Out Elsewhere")
    token = await session_token(pg, who)
    await pg.get(AccountService).log_out(token)
    async with app_client(pg, settings) as client:
        client.cookies.set(SESSION_COOKIE, token)
        asset = await client.get("/static/css/hypha.css")
        assert SESSION_COOKIE not in asset.headers.get("set-cookie", "")
        page = await client.get("/")
        assert page.status_code == 200
        assert f"{SESSION_COOKIE}=; Path=/" in page.headers["set-cookie"]
        assert "Max-Age=0" in page.headers["set-cookie"]
