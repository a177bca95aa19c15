"""Accounts through HTTP on real PostgreSQL: forms, sessions, CSRF, rate limits, cookies."""

from __future__ import annotations

import httpx
from injector import Injector

from core.db import Database
from tests.conftest import app_client
from tests.support.web import csrf_token, log_in, post_form, sign_up


async def count_users(pg: Injector) -> int:
    return int(await pg.get(Database).fetchval("SELECT count(*) FROM users"))


async def test_landing_page_welcomes_anonymous_visitors(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert "Sign up" in response.text
    assert "Create a free account" in response.text


async def test_me_requires_login_and_redirects_to_the_login_page(client: httpx.AsyncClient) -> None:
    response = await client.get("/me", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/me"


async def test_sign_up_logs_the_user_in_and_me_shows_their_email(client: httpx.AsyncClient) -> None:
    response = await sign_up(client, "ada@example.com")
    assert response.headers["location"] == "/me"
    me = await client.get("/me")
    assert me.status_code == 200
    assert "ada@example.com" in me.text
    assert "Become a creator" in me.text


async def test_bad_sign_up_rerenders_the_form_with_inline_errors_and_stores_nothing(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    response = await post_form(client, "/signup", {"email": "nope", "password": "short"}, htmx=True)
    assert response.status_code == 422
    assert 'id="signup-form"' in response.text
    assert "<html" not in response.text  # a fragment for htmx
    assert "Enter a valid e-mail address" in response.text
    assert "Use at least 8 characters" in response.text
    assert 'value="nope"' in response.text
    assert await count_users(pg) == 0


async def test_an_email_already_taken_is_a_422_with_a_message(client: httpx.AsyncClient, pg: Injector) -> None:
    await sign_up(client, "grace@example.com")
    await post_form(client, "/logout", {})
    response = await post_form(client, "/signup", {"email": "GRACE@example.com", "password": "another one!"})
    assert response.status_code == 422
    assert "already exists" in response.text
    assert await count_users(pg) == 1


async def test_wrong_password_is_a_422_and_right_password_logs_in(client: httpx.AsyncClient) -> None:
    await sign_up(client, "linus@example.com")
    await post_form(client, "/logout", {})
    bad = await post_form(client, "/login", {"email": "linus@example.com", "password": "wrong password"}, htmx=True)
    assert bad.status_code == 422
    assert "do not match" in bad.text
    good = await post_form(
        client, "/login", {"email": "linus@example.com", "password": "correct horse battery"}, htmx=True
    )
    assert good.status_code == 200
    assert good.headers["hx-redirect"] == "/me"


async def test_login_rotates_the_session_id_and_logout_destroys_it(client: httpx.AsyncClient) -> None:
    await sign_up(client, "rot@example.com")
    signup_session = client.cookies.get("hypha_session")
    await log_in(client, "rot@example.com")
    login_session = client.cookies.get("hypha_session")
    assert signup_session
    assert login_session
    assert signup_session != login_session

    client.cookies.set("hypha_session", signup_session, domain="127.0.0.1")
    old = await client.get("/me", follow_redirects=False)
    assert old.status_code == 303  # the pre-login session id is dead

    client.cookies.set("hypha_session", login_session, domain="127.0.0.1")
    assert (await client.get("/me", follow_redirects=False)).status_code == 200
    await post_form(client, "/logout", {})
    client.cookies.set("hypha_session", login_session, domain="127.0.0.1")
    replay = await client.get("/me", follow_redirects=False)
    assert replay.status_code == 303


async def test_session_cookie_is_httponly_and_samesite_lax(client: httpx.AsyncClient) -> None:
    response = await sign_up(client, "cookie@example.com")
    header = next(h for h in response.headers.get_list("set-cookie") if h.startswith("hypha_session="))
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header or "samesite=lax" in header.lower()
    assert "Secure" not in header  # plain HTTP here; Secure is set behind HTTPS


async def test_session_cookie_is_secure_when_served_over_https(pg: Injector, settings: object) -> None:
    async with app_client(pg, settings, "https://hypha.example") as https_client:  # type: ignore[arg-type]
        await csrf_token(https_client, "/signup")
        response = await post_form(https_client, "/signup", {"email": "tls@example.com", "password": "secure enough"})
        header = next(h for h in response.headers.get_list("set-cookie") if h.startswith("hypha_session="))
        assert "Secure" in header
        assert "strict-transport-security" in response.headers


async def test_unsafe_requests_without_a_csrf_token_are_refused(client: httpx.AsyncClient, pg: Injector) -> None:
    await client.get("/signup")
    response = await client.post("/signup", data={"email": "csrf@example.com", "password": "long enough pw"})
    assert response.status_code == 403
    assert await count_users(pg) == 0


async def test_login_attempts_are_rate_limited_with_a_clear_message(client: httpx.AsyncClient) -> None:
    await sign_up(client, "victim@example.com")
    await post_form(client, "/logout", {})
    for _ in range(5):
        r = await post_form(client, "/login", {"email": "victim@example.com", "password": "bad guess!"})
        assert r.status_code == 422
    blocked = await post_form(client, "/login", {"email": "victim@example.com", "password": "correct horse battery"})
    assert blocked.status_code == 429
    assert "Too many log-in attempts" in blocked.text


async def test_becoming_a_creator_changes_the_account_page(client: httpx.AsyncClient) -> None:
    await sign_up(client, "maker@example.com")
    response = await post_form(client, "/me/creator", {})
    assert response.status_code in (200, 303)
    me = await client.get("/me")
    assert "Creator" in me.text
    assert "Become a creator" not in me.text


async def test_pages_carry_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp
    assert response.headers["x-content-type-options"] == "nosniff"
