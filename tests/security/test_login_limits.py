"""Log-in limits hold under parallel requests, and a stranger cannot lock an owner out for good.

Each attempt is reserved atomically in the shared `rate_limits` table before the slow password hash, so
however many guesses arrive at once, at most the limit are evaluated. The per-e-mail window is fixed
from its first attempt: attempts refused while it lasts do not extend it, so the owner gets back in
once it has passed (and password reset, which is not behind this limit, stays open meanwhile).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from injector import Injector

from core.clock import Clock, FrozenClock
from core.db import Database
from core.di import get_port
from core.postgres import PostgresRateLimiter
from core.settings import Settings
from features.accounts.model import InvalidCredentials, LoginThrottled
from features.accounts.service import AccountService
from tests.security.test_sessions_and_headers import PASSWORD, attempt, browser
from tests.support.web import sign_up


async def parallel_guesses(
    client: httpx.AsyncClient, emails: list[str], password: str = "a wrong guess"
) -> Counter[int]:
    responses = await asyncio.gather(*(attempt(client, email, password) for email in emails))
    return Counter(response.status_code for response in responses)


async def test_25_parallel_wrong_guesses_at_one_email_evaluate_at_most_the_limit(
    pg: Injector, settings: Settings
) -> None:
    async with browser(pg, settings, "10.0.2.1") as owner:
        await sign_up(owner, "owner@example.com")
    async with browser(pg, settings, "198.51.100.7") as attacker:
        statuses = await parallel_guesses(attacker, ["owner@example.com"] * 25)
    # 422 = the password was checked (and wrong); 429 = refused before any hashing.
    assert statuses == {422: settings.login_attempts_per_email, 429: 25 - settings.login_attempts_per_email}
    async with browser(pg, settings, "10.0.2.2") as owner_again:
        assert (await attempt(owner_again, "owner@example.com", PASSWORD)).status_code == 429


async def test_parallel_guesses_from_one_address_at_many_emails_evaluate_at_most_the_address_limit(
    pg: Injector, settings: Settings
) -> None:
    async with browser(pg, settings, "203.0.113.50") as attacker:
        statuses = await parallel_guesses(attacker, [f"guess{n}@example.com" for n in range(30)])
    assert statuses == {422: settings.login_attempts_per_ip, 429: 30 - settings.login_attempts_per_ip}


async def test_the_shared_limiter_reserves_each_hit_atomically(pg: Injector) -> None:
    limiter = PostgresRateLimiter(pg.get(Database), FrozenClock(datetime.now(UTC)))
    results = await asyncio.gather(*(limiter.hit("login:email:parallel@example.com", 5, 900) for _ in range(40)))
    assert sorted(result.count for result in results) == list(range(1, 41))
    assert sum(result.allowed for result in results) == 5


async def test_the_shared_limiter_window_expires_and_refused_hits_do_not_extend_it(pg: Injector) -> None:
    clock = FrozenClock(datetime.now(UTC))
    limiter = PostgresRateLimiter(pg.get(Database), clock)
    key = "login:email:locked@example.com"
    for _ in range(5):
        assert (await limiter.hit(key, 5, 900)).allowed
    for _ in range(10):  # a stranger keeps guessing through the window
        clock.advance(timedelta(seconds=80))
        refused = await limiter.hit(key, 5, 900)
        assert not refused.allowed
        assert refused.retry_after <= 900 - 80 * (_ + 1) + 1
    clock.advance(timedelta(seconds=101))  # 901 s after the first attempt
    assert (await limiter.hit(key, 5, 900)).allowed


async def test_a_stranger_guessing_through_the_window_does_not_keep_the_owner_out(memory: Injector) -> None:
    accounts = memory.get(AccountService)
    clock = get_port(memory, Clock)
    assert isinstance(clock, FrozenClock)
    await accounts.sign_up("owner@example.com", "the real password")
    window = accounts.policy.window_seconds
    for n in range(accounts.policy.attempts_per_email):
        with pytest.raises(InvalidCredentials):
            await accounts.log_in("owner@example.com", f"guess {n}", f"198.51.100.{n}")
    for n in range(20):
        clock.advance(timedelta(seconds=window // 25))
        with pytest.raises(LoginThrottled):
            await accounts.log_in("owner@example.com", f"more {n}", f"203.0.113.{n}")
    clock.advance(timedelta(seconds=window - 20 * (window // 25)))
    user, token = await accounts.log_in("owner@example.com", "the real password", "10.0.0.1")
    assert token
    assert user.email == "owner@example.com"
