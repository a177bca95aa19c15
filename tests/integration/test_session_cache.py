"""A web process reuses a session's looked-up user for a moment (SESSION_CACHE_SECONDS), and loses it in
every process within one event delivery when the session or the user changes (issue 16, item 2).

Two "web processes" here: two injectors on the same database, each with its own pool, event bus
(LISTEN connection) and AccountService, as `hypha web` runs them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import msgspec
import pytest
from injector import Injector

from core.db import Database
from core.di import build_injector, get_port
from core.events import EventBus
from core.postgres import PostgresEventBus
from core.settings import Settings
from features.accounts.model import User
from features.accounts.service import PRINCIPALS_TOPIC, AccountService
from features.bootstrap import features_for

PASSWORD = "a long enough password 1"


@dataclass
class Process:
    injector: Injector

    @property
    def accounts(self) -> AccountService:
        return self.injector.get(AccountService)

    @property
    def bus(self) -> EventBus:
        return get_port(self.injector, EventBus)


@pytest.fixture
async def web(pg: Injector, settings: Settings) -> AsyncIterator[tuple[Process, Process]]:
    cached = msgspec.structs.replace(settings, session_cache_seconds=60.0, db_pool_min=1, db_pool_max=3)
    processes = [Process(build_injector(cached, features_for(cached))) for _ in range(2)]
    for process in processes:
        await process.injector.get(Database).start()
        await process.accounts.watch_principal_changes()
    try:
        yield processes[0], processes[1]
    finally:
        for process in processes:
            bus = process.bus
            assert isinstance(bus, PostgresEventBus)
            await bus.close()
            await process.injector.get(Database).stop()


async def signed_in(process: Process, email: str) -> tuple[User, str]:
    user = await process.accounts.sign_up(email, PASSWORD, "Someone")
    return user, await process.accounts.open_session(user)


async def after_one_delivery(process: Process, change: Awaitable[object]) -> None:
    """Run `change` in another process and wait until `process` has been handed its revocation."""
    async with process.bus.subscribe([PRINCIPALS_TOPIC]) as seen:
        await change
        assert await seen.next(timeout=10) is not None


async def test_a_looked_up_session_is_reused_within_the_cache_time(pg: Injector, web: tuple[Process, Process]) -> None:
    a, _ = web
    user, token = await signed_in(a, "reused@example.com")
    assert (await a.accounts.principal_for_session(token)) == user.principal()

    # Behind the service's back (no event): the process still answers from what it looked up.
    await pg.get(Database).execute("UPDATE users SET display_name = 'Changed by SQL' WHERE id = $1", user.id)

    principal = await a.accounts.principal_for_session(token)
    assert principal is not None
    assert principal.display_name == "Someone"


Revocation = Callable[[AccountService, User, str], Awaitable[object]]

REVOCATIONS: dict[str, Revocation] = {
    "log-out": lambda accounts, user, token: accounts.log_out(token),
    "password change": lambda accounts, user, token: accounts.change_password(
        user.id, PASSWORD, "another long password 2", None
    ),
    "suspension": lambda accounts, user, token: accounts.suspend(user.id, "spam"),
    "deletion": lambda accounts, user, token: accounts.erase_account(user.id),
    "log out everywhere": lambda accounts, user, token: accounts.end_all_sessions(user.id),
}


@pytest.mark.parametrize("revocation", list(REVOCATIONS))
async def test_a_revoked_session_stops_working_in_every_process_within_one_event_delivery(
    web: tuple[Process, Process], revocation: str
) -> None:
    a, b = web
    user, token = await signed_in(a, f"{revocation.replace(' ', '-')}@example.com")
    assert await a.accounts.principal_for_session(token) is not None  # cached in process a
    assert await b.accounts.principal_for_session(token) is not None  # and in process b

    await after_one_delivery(a, REVOCATIONS[revocation](b.accounts, user, token))

    assert await a.accounts.principal_for_session(token) is None
    assert await b.accounts.principal_for_session(token) is None


async def test_a_change_to_the_user_reaches_every_process_within_one_event_delivery(
    web: tuple[Process, Process],
) -> None:
    a, b = web
    user, token = await signed_in(a, "grows@example.com")
    before = await a.accounts.principal_for_session(token)
    assert before is not None
    assert not before.is_creator
    assert not before.email_verified

    await after_one_delivery(a, b.accounts.mark_email_verified(user.id))
    await after_one_delivery(a, b.accounts.become_creator(user.id))

    after = await a.accounts.principal_for_session(token)
    assert after is not None
    assert after.is_creator
    assert after.email_verified


async def test_a_lookup_that_raced_a_revocation_is_not_kept(web: tuple[Process, Process]) -> None:
    a, _ = web
    user, token = await signed_in(a, "raced@example.com")
    generation = a.accounts.principals.generation
    await a.accounts.log_out(token)
    # What a lookup that started before the log-out read: it must not be stored.
    a.accounts.principals.put("raced", user.principal(), a.accounts.clock.now(), generation)

    assert a.accounts.principals.get("raced", a.accounts.clock.now()) is None
