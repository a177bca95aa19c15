"""Sessions, log-in throttling, cookie flags and security headers, beyond what
tests/integration/test_accounts_web.py already shows (rotation at sign-up→log-in, a log-out replay in
the same browser, the per-e-mail limit from one address, the headers of the home page)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import msgspec
from injector import Injector
from litestar.routes import HTTPRoute

from core.db import Database
from core.settings import Settings
from core.web import SESSION_COOKIE
from features.bootstrap import create_app, features_for
from tests.support.web import csrf_token, log_in, post_form, sign_up

PASSWORD = "correct horse battery"


@asynccontextmanager
async def browser(
    pg: Injector, settings: Settings, ip: str = "127.0.0.1", base_url: str = "http://127.0.0.1:8000"
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser at address `ip` (the app sees it as the TCP peer)."""
    app = create_app(settings, pg)
    for feature in features_for(settings):
        for hook in feature.on_startup:
            await hook(pg)
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        await csrf_token(client, "/login")
        yield client


def https(settings: Settings) -> Settings:
    # A public test site: sandbox payments on https must be allowed explicitly (see Settings).
    return msgspec.structs.replace(settings, base_url="https://hypha.example", allow_sandbox_payments=True)


def cookie(response: httpx.Response, name: str) -> str:
    found = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{name}=")]
    assert found, f"no {name} cookie in {response.headers.get_list('set-cookie')}"
    return found[-1]


async def attempt(client: httpx.AsyncClient, email: str, password: str = "a wrong guess") -> httpx.Response:
    return await post_form(client, "/login", {"email": email, "password": password})


# -- log-in throttling ----------------------------------------------------------------------------------


async def test_one_address_guessing_many_emails_is_throttled_per_ip(pg: Injector, settings: Settings) -> None:
    async with browser(pg, settings, "10.0.0.7") as owner:
        await sign_up(owner, "real@example.com")
    async with browser(pg, settings, "203.0.113.9") as attacker:
        for n in range(settings.login_attempts_per_ip):
            assert (await attempt(attacker, f"guess{n}@example.com")).status_code == 422
        blocked = await attempt(attacker, "real@example.com", PASSWORD)
        # a forged X-Forwarded-For does not give the attacker a fresh address
        forged = await attacker.post(
            "/login",
            data={"email": "real@example.com", "password": PASSWORD},
            headers={"x-csrftoken": attacker.cookies["csrftoken"], "x-forwarded-for": "198.51.100.1"},
        )
    assert blocked.status_code == 429
    assert "Too many log-in attempts" in blocked.text
    assert int(blocked.headers["retry-after"]) > 0
    assert forged.status_code == 429
    assert SESSION_COOKIE not in blocked.cookies
    async with browser(pg, settings, "10.0.0.8") as elsewhere:  # the limit is per address
        assert (await attempt(elsewhere, "real@example.com", PASSWORD)).status_code in (200, 303)


async def test_one_email_guessed_from_many_addresses_is_throttled_per_email(pg: Injector, settings: Settings) -> None:
    async with browser(pg, settings, "10.0.1.1") as owner:
        await sign_up(owner, "target@example.com")
    for n in range(settings.login_attempts_per_email):
        async with browser(pg, settings, f"198.51.100.{n + 10}") as bot:
            assert (await attempt(bot, "TARGET@example.com")).status_code == 422  # case does not dodge it
    async with browser(pg, settings, "198.51.100.200") as bot:
        blocked = await attempt(bot, "target@example.com", PASSWORD)
    assert blocked.status_code == 429
    assert "Too many log-in attempts" in blocked.text
    async with browser(pg, settings, "10.0.1.2") as other_account:  # other e-mails are unaffected
        await sign_up(other_account, "bystander@example.com")
        await post_form(other_account, "/logout", {})
        assert (await attempt(other_account, "bystander@example.com", PASSWORD)).status_code in (200, 303)


# -- sessions -------------------------------------------------------------------------------------------


async def test_a_session_id_planted_before_log_in_is_never_adopted(pg: Injector, settings: Settings) -> None:
    async with browser(pg, settings) as victim:
        await sign_up(victim, "fixation@example.com")
        await post_form(victim, "/logout", {})
        planted = "attacker-chosen-session-id-0123456789abcdef"
        victim.cookies.set(SESSION_COOKIE, planted, domain="127.0.0.1")
        response = await log_in(victim, "fixation@example.com")
        issued = victim.cookies.get(SESSION_COOKIE)
    assert issued
    assert issued != planted
    assert planted not in response.text
    async with browser(pg, settings) as attacker:
        attacker.cookies.set(SESSION_COOKIE, planted, domain="127.0.0.1")
        assert (await attacker.get("/me", follow_redirects=False)).status_code == 303


async def test_log_out_destroys_the_session_for_every_browser_that_holds_it(pg: Injector, settings: Settings) -> None:
    async with browser(pg, settings) as victim:
        await sign_up(victim, "stolen@example.com")
        token = victim.cookies.get(SESSION_COOKIE)
        assert token
        sessions_before = await pg.get(Database).fetchval("SELECT count(*) FROM sessions")
        out = await post_form(victim, "/logout", {})
        assert "Max-Age=0" in cookie(out, SESSION_COOKIE) or "expires=" in cookie(out, SESSION_COOKIE).lower()
    assert await pg.get(Database).fetchval("SELECT count(*) FROM sessions") == sessions_before - 1
    async with browser(pg, settings) as thief:
        thief.cookies.set(SESSION_COOKIE, token, domain="127.0.0.1")
        replay = await thief.get("/me", follow_redirects=False)
    assert replay.status_code == 303
    assert replay.headers["location"].startswith("/login")


async def test_logging_in_again_kills_the_previous_session_of_that_browser(pg: Injector, settings: Settings) -> None:
    async with browser(pg, settings) as client:
        await sign_up(client, "twice@example.com")
        first = client.cookies.get(SESSION_COOKIE)
        await log_in(client, "twice@example.com")
        second = client.cookies.get(SESSION_COOKIE)
    assert first
    assert second
    assert first != second
    async with browser(pg, settings) as replay:
        replay.cookies.set(SESSION_COOKIE, first, domain="127.0.0.1")
        assert (await replay.get("/me", follow_redirects=False)).status_code == 303


# -- cookie flags ---------------------------------------------------------------------------------------


async def test_cookies_are_httponly_lax_and_not_secure_over_plain_http(pg: Injector, settings: Settings) -> None:
    async with browser(pg, settings) as client:
        client.cookies.clear()
        page = await client.get("/signup")
        signed = await post_form(client, "/signup", {"email": "flags@example.com", "password": PASSWORD})
    csrf = cookie(page, "csrftoken")
    session = cookie(signed, SESSION_COOKIE)
    assert "samesite=lax" in csrf.lower()
    assert "secure" not in csrf.lower()
    assert "HttpOnly" in session
    assert "samesite=lax" in session.lower()
    assert "Secure" not in session
    assert "strict-transport-security" not in signed.headers


async def test_behind_https_every_cookie_is_secure_and_hsts_is_sent(pg: Injector, settings: Settings) -> None:
    async with browser(pg, https(settings), base_url="https://hypha.example") as client:
        client.cookies.clear()
        page = await client.get("/signup")
        signed = await post_form(client, "/signup", {"email": "tls-all@example.com", "password": PASSWORD})
        missing = await client.get("/no-such-page")
        static = await client.get("/static/favicon.svg")
    assert "secure" in cookie(page, "csrftoken").lower()
    assert "Secure" in cookie(signed, SESSION_COOKIE)
    assert "HttpOnly" in cookie(signed, SESSION_COOKIE)
    for response in (page, signed, missing, static):
        assert response.headers["strict-transport-security"].startswith("max-age=")
        assert int(response.headers["strict-transport-security"].split("=")[1].split(";")[0]) >= 15552000


# -- security headers -----------------------------------------------------------------------------------


def assert_secure_headers(response: httpx.Response, where: str) -> None:
    csp = response.headers.get("content-security-policy", "")
    directives = {d.strip().split(" ")[0]: d.strip() for d in csp.split(";") if d.strip()}
    script = directives.get("script-src", directives.get("default-src", ""))
    assert script, f"{where}: no script-src or default-src in {csp!r}"
    assert "'unsafe-inline'" not in script, f"{where}: {script}"
    assert "'unsafe-eval'" not in script, f"{where}: {script}"
    assert directives.get("frame-ancestors") == "frame-ancestors 'none'", f"{where}: {csp!r}"
    assert response.headers.get("x-content-type-options") == "nosniff", where
    assert "strict-transport-security" not in response.headers, f"{where}: HSTS over plain HTTP"


async def test_every_plain_page_errors_and_static_files_carry_the_security_headers(
    pg: Injector, settings: Settings
) -> None:
    app = create_app(settings, pg)
    pages = sorted(
        route.path
        for route in app.routes
        if isinstance(route, HTTPRoute)
        and "GET" in route.methods
        and "{" not in route.path
        and not route.path.endswith("/events")  # endless SSE streams
    )
    assert len(pages) >= 20
    async with browser(pg, settings) as client:
        await sign_up(client, "headers@example.com")
        await post_form(client, "/me/creator", {})
        responses = {path: await client.get(path) for path in pages}
        responses["404"] = await client.get("/definitely/not/here")
        responses["405"] = await client.put("/login")
        responses["403 csrf"] = await client.post("/logout", data={})
        responses["403 staff"] = await client.get("/staff/payouts")
        responses["422 form"] = await post_form(client, "/studio/videos", {"title": ""})
        responses["static css"] = await client.get("/static/css/hypha.css")
        responses["static missing"] = await client.get("/static/nope.js")
    async with browser(pg, settings) as anon:
        responses["401 redirect"] = await anon.get("/me")
    statuses = {where: response.status_code for where, response in responses.items()}
    assert all(status < 500 for status in statuses.values()), statuses
    assert statuses["static css"] == 200
    assert statuses["404"] == 404
    problems = []
    for where, response in responses.items():
        try:
            assert_secure_headers(response, where)
        except AssertionError as error:
            problems.append(f"{where} ({response.status_code}): {error}")
    assert problems == [], "\n".join(problems)
