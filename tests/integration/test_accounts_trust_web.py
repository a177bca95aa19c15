"""Accounts a stranger can trust, through HTTP on real PostgreSQL: verification gates money and the
creator role, e-mail and password changes, forgot/reset password, the sessions page, test mode."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from uuid import uuid4

import httpx
import msgspec
import pytest
from injector import Injector

from core.db import Database
from core.di import get_port
from core.ratelimit import RateLimiter
from core.settings import Settings
from features.accounts.service import AccountService
from tests.conftest import app_client
from tests.support.live import free_port
from tests.support.web import csrf_token, log_in, post_form, sign_up, verification_token

PASSWORD = "correct horse battery"
RESET_LINK = re.compile(r"/reset-password\?token=([A-Za-z0-9_-]+)")
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0"


async def count(pg: Injector, sql: str, *args: object) -> int:
    return int(await pg.get(Database).fetchval(sql, *args))


async def mails_to(pg: Injector, address: str) -> list[str]:
    rows = await pg.get(Database).fetch(
        "SELECT text_body FROM outbox_mail WHERE to_normalized = $1 ORDER BY id", address.lower()
    )
    return [row["text_body"] for row in rows]


async def reset_token(pg: Injector, address: str) -> str:
    found = [RESET_LINK.search(text) for text in await mails_to(pg, address)]
    tokens = [match.group(1) for match in found if match]
    assert tokens, f"no reset link mailed to {address}"
    return tokens[-1]


async def user_row(pg: Injector, email: str) -> dict[str, object]:
    row = await pg.get(Database).fetchrow("SELECT * FROM users WHERE email_normalized = $1", email.lower())
    assert row is not None
    return dict(row)


# -- verification ------------------------------------------------------------------------------------


async def test_sign_up_mails_a_verification_link_to_the_outbox_and_the_account_page_says_why(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    response = await sign_up(client, "new@example.com", verified=False)
    assert response.status_code == 303
    me = await client.get("/me")
    assert 'data-testid="verify-notice"' in me.text
    assert "Send the link again" in me.text
    assert "Confirm your e-mail address first." in me.text
    [mail] = await mails_to(pg, "new@example.com")
    assert "/verify-email?token=" in mail
    stored = await pg.get(Database).fetchval("SELECT token_hash FROM account_tokens")
    assert stored not in mail  # the link's token is not what the database keeps


async def test_an_unverified_account_cannot_buy_unlock_tip_or_become_a_creator(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    await sign_up(client, "eager@example.com", verified=False)
    wallet = await client.get("/wallet")
    assert "Confirm your e-mail address to buy points" in wallet.text
    refused = {
        "/wallet/checkout": {"pack": "p100", "key": uuid4().hex},
        "/me/creator": {},
        "/v/abcdefghijkl/unlock": {"offer": "rent_day", "key": uuid4().hex},
        "/v/abcdefghijkl/tip": {"amount": "10", "key": uuid4().hex},
    }
    for path, form in refused.items():
        for htmx in (False, True):
            response = await post_form(client, path, form, htmx=htmx)
            assert response.status_code == 403, (path, response.status_code)
            assert "confirm your e-mail address" in response.text.lower(), path
    assert await count(pg, "SELECT count(*) FROM wallet_purchases") == 0
    assert not (await user_row(pg, "eager@example.com"))["is_creator"]


async def test_after_the_link_is_used_the_account_may_buy_and_become_a_creator(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    await sign_up(client, "patient@example.com", verified=False)
    token = await verification_token(client)
    page = await client.get(f"/verify-email?token={token}")
    assert page.status_code == 200
    assert "Confirm my e-mail address" in page.text
    assert (await user_row(pg, "patient@example.com"))["email_verified_at"] is None  # a GET changes nothing
    confirmed = await post_form(client, "/verify-email", {"token": token})
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == "/me"
    assert (await user_row(pg, "patient@example.com"))["email_verified_at"] is not None
    assert 'data-testid="verify-notice"' not in (await client.get("/me")).text
    buy = await post_form(
        client, "/wallet/checkout", {"pack": "p100", "key": uuid4().hex, "price": "100", "currency": "USD"}
    )
    assert buy.status_code == 303
    assert "/sandbox-pay/checkout/" in buy.headers["location"]
    assert (await post_form(client, "/me/creator", {})).status_code == 303


async def test_the_link_of_someone_who_signed_up_on_a_video_leads_back_to_it_and_never_off_site(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    """A stranger signs up from a shared link to watch that video: confirming the address leads back to
    it (it led to /me, and the video was lost); signed out, to log-in and then to it."""
    response = await post_form(
        client, "/signup", {"email": "from-a-link@example.com", "password": PASSWORD, "next": "/v/AbCdEf123456"}
    )
    assert response.headers["location"] == "/v/AbCdEf123456"
    mail = (await mails_to(pg, "from-a-link@example.com"))[-1]
    assert re.search(r"/verify-email\?token=[A-Za-z0-9_-]+&next=/v/AbCdEf123456", mail)
    token = await verification_token(client)
    page = await client.get(f"/verify-email?token={token}&next=/v/AbCdEf123456")
    assert 'name="next" value="/v/AbCdEf123456"' in page.text
    confirmed = await post_form(client, "/verify-email", {"token": token, "next": "/v/AbCdEf123456"})
    assert confirmed.headers["location"] == "/v/AbCdEf123456"

    # The link opened signed out (another browser), or with its `next` tampered with: never off-site.
    for n, (next_, location) in enumerate(
        [("/v/AbCdEf123456", "/login?next=/v/AbCdEf123456"), ("//evil.example/x", "/login")]
    ):
        await post_form(client, "/logout", {})
        await sign_up(client, f"elsewhere{n}@example.com", verified=False)
        token = await verification_token(client)
        await post_form(client, "/logout", {})
        confirmed = await post_form(client, "/verify-email", {"token": token, "next": next_})
        assert confirmed.headers["location"] == location


@pytest.mark.parametrize("how", ["reused", "forged", "expired", "empty", "huge"])
async def test_a_bad_verification_link_gets_a_clear_page_and_changes_nothing(
    client: httpx.AsyncClient, pg: Injector, how: str
) -> None:
    await sign_up(client, "careful@example.com", verified=False)
    token = await verification_token(client)
    db = pg.get(Database)
    if how == "reused":
        await post_form(client, "/verify-email", {"token": token})
        await db.execute("UPDATE users SET email_verified_at = NULL")
    elif how == "forged":
        token = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    elif how == "expired":
        await db.execute("UPDATE account_tokens SET expires_at = now() - interval '1 second'")
    elif how == "empty":
        token = ""
    else:
        token = "a" * 10_000
    page = await client.get("/verify-email", params={"token": token})
    assert page.status_code == 400
    assert "This link is not valid" in page.text
    assert "Send the link again" in page.text
    used = await post_form(client, "/verify-email", {"token": token})
    assert used.status_code == 400
    assert "This link is not valid" in used.text
    assert (await user_row(pg, "careful@example.com"))["email_verified_at"] is None


async def test_send_the_link_again_mails_a_new_link_and_is_rate_limited(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    await sign_up(client, "forgetful@example.com", verified=False)  # the first link
    again = await post_form(client, "/me/verify/resend", {"next": "/wallet"})
    assert again.status_code == 303
    assert again.headers["location"] == "/wallet"
    assert "We mailed a new link" in (await client.get("/wallet")).text
    await post_form(client, "/me/verify/resend", {"next": "/wallet"})
    refused = await post_form(client, "/me/verify/resend", {"next": "https://evil.example/"})
    assert refused.headers["location"] == "/me"  # never off-site
    assert "We sent several links already" in (await client.get("/me")).text
    assert len(await mails_to(pg, "forgetful@example.com")) == 3


# -- changing the e-mail address ------------------------------------------------------------------------


async def test_changing_the_email_on_the_account_page_reverifies_and_tells_the_old_address(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    await sign_up(client, "old@example.com")
    wrong = await post_form(
        client, "/me/email", {"new_email": "new@example.com", "email_password": "not my password"}, htmx=True
    )
    assert wrong.status_code == 422
    assert "That is not your current password." in wrong.text
    assert 'id="email-form"' in wrong.text
    assert "<html" not in wrong.text
    bad = await post_form(client, "/me/email", {"new_email": "not-an-address", "email_password": PASSWORD})
    assert bad.status_code == 422
    assert "Enter a valid e-mail address" in bad.text
    assert (await user_row(pg, "old@example.com"))["email_verified_at"] is not None  # nothing changed

    moved = await post_form(client, "/me/email", {"new_email": "new@example.com", "email_password": PASSWORD})
    assert moved.status_code == 303
    row = await user_row(pg, "new@example.com")
    assert row["email_verified_at"] is None
    told = await mails_to(pg, "old@example.com")
    assert any("was changed to new@example.com" in text for text in told)
    assert any("/verify-email?token=" in text for text in await mails_to(pg, "new@example.com"))
    me = await client.get("/me")
    assert 'data-testid="verify-notice"' in me.text


async def test_an_email_taken_by_another_account_is_refused_inline(client: httpx.AsyncClient, pg: Injector) -> None:
    await pg.get(AccountService).sign_up("taken@example.com", "someone else's secret")
    await sign_up(client, "mine@example.com")
    response = await post_form(client, "/me/email", {"new_email": "TAKEN@example.com", "email_password": PASSWORD})
    assert response.status_code == 422
    assert "Another account uses this address." in response.text
    assert (await user_row(pg, "mine@example.com"))["email_verified_at"] is not None


# -- changing the password ---------------------------------------------------------------------------


async def test_changing_the_password_logs_out_the_other_browser_but_not_this_one(
    client: httpx.AsyncClient, pg: Injector, settings: Settings
) -> None:
    await sign_up(client, "two-tabs@example.com")
    async with app_client(pg, settings) as other:
        await log_in(other, "two-tabs@example.com")
        assert (await other.get("/me", follow_redirects=False)).status_code == 200

        wrong = await post_form(
            client, "/me/password", {"current_password": "a wrong guess", "new_password": "a brand new secret"}
        )
        assert wrong.status_code == 422
        assert "That is not your current password." in wrong.text
        weak = await post_form(client, "/me/password", {"current_password": PASSWORD, "new_password": "password123"})
        assert weak.status_code == 422
        assert "most common passwords" in weak.text
        assert (await other.get("/me", follow_redirects=False)).status_code == 200  # nothing changed

        changed = await post_form(
            client, "/me/password", {"current_password": PASSWORD, "new_password": "a brand new secret"}
        )
        assert changed.status_code == 303
        assert "We logged out 1 other session" in (await client.get("/me")).text
        kicked = await other.get("/me", follow_redirects=False)
        assert kicked.status_code == 303
        assert kicked.headers["location"].startswith("/login")
    await post_form(client, "/logout", {})
    assert (
        await post_form(client, "/login", {"email": "two-tabs@example.com", "password": PASSWORD})
    ).status_code == 422
    await log_in(client, "two-tabs@example.com", "a brand new secret")


# -- forgot password ------------------------------------------------------------------------------


def answer_of(page: httpx.Response) -> str:
    """The visible answer, without the per-request CSRF token."""
    return re.sub(r'value="[^"]*"', 'value=""', page.text)


async def test_forgot_password_answers_the_same_whether_the_address_exists_or_not(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    await pg.get(AccountService).sign_up("exists@example.com", PASSWORD)
    await csrf_token(client, "/forgot-password")
    known = await post_form(client, "/forgot-password", {"email": "exists@example.com"})
    unknown = await post_form(client, "/forgot-password", {"email": "ghost@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert "If an account uses that address" in known.text
    assert answer_of(known) == answer_of(unknown)
    assert len(await mails_to(pg, "exists@example.com")) == 1
    assert await mails_to(pg, "ghost@example.com") == []
    bad = await post_form(client, "/forgot-password", {"email": "not an address"})
    assert bad.status_code == 422
    assert "Enter a valid e-mail address" in bad.text


@pytest.mark.slow
async def test_forgot_password_takes_as_long_for_an_unknown_address(pg: Injector, settings: Settings) -> None:
    """Measured against `hypha web` in its own process, as an attacker would time it: the mail goes
    out after the answer, so only the answer's own work counts (one SQL statement either way)."""
    accounts = pg.get(AccountService)
    limiter = get_port(pg, RateLimiter)
    rounds = 30
    for n in range(rounds):
        await accounts.sign_up(f"timed{n}@example.com", PASSWORD)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": settings.secret_key,
        "DATA_DIR": settings.data_dir,
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen([sys.executable, "-m", "features.bootstrap", "web"], env=env, stdout=subprocess.DEVNULL)
    # A leak shows in every measurement; noise from a busy machine (the suite's neighbours) does not:
    # up to three measurements, the answer must be as fast for both kinds of address in one of them.
    medians: list[tuple[float, float]] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as browser:
            for _ in range(300):
                assert server.poll() is None, "hypha web exited"
                try:
                    if (await browser.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            await csrf_token(browser, "/forgot-password")
            for attempt in range(3):
                known: list[float] = []
                unknown: list[float] = []
                for n in range(rounds):
                    pair = [(f"timed{n}@example.com", known), (f"nobody{attempt}-{n}@example.com", unknown)]
                    for address, into in pair if n % 2 else reversed(pair):
                        await limiter.reset("reset:ip:127.0.0.1")  # this test is one network asking many times
                        await limiter.reset(f"reset:email:{address}")
                        await asyncio.sleep(0.03)  # let the previous answer's mail go out first
                        started = time.perf_counter()
                        response = await post_form(browser, "/forgot-password", {"email": address})
                        into.append(time.perf_counter() - started)
                        assert response.status_code == 200
                known_ms, unknown_ms = statistics.median(known) * 1000, statistics.median(unknown) * 1000
                print(f"forgot-password median over {rounds}: known {known_ms:.2f} ms, unknown {unknown_ms:.2f} ms")
                medians.append((known_ms, unknown_ms))
                if abs(known_ms - unknown_ms) < max(1.5, 0.15 * unknown_ms):
                    break
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert len(await mails_to(pg, "timed0@example.com")) >= 1
    assert any(abs(k - u) < max(1.5, 0.15 * u) for k, u in medians), medians


async def test_a_reset_link_sets_a_new_password_ends_every_session_and_works_once(
    client: httpx.AsyncClient, pg: Injector, settings: Settings
) -> None:
    await sign_up(client, "lost@example.com")
    async with app_client(pg, settings) as stranger:
        await csrf_token(stranger, "/forgot-password")
        await post_form(stranger, "/forgot-password", {"email": "lost@example.com"})
        token = await reset_token(pg, "lost@example.com")
        form = await stranger.get(f"/reset-password?token={token}")
        assert form.status_code == 200
        assert "Choose a new password" in form.text
        weak = await post_form(stranger, "/reset-password", {"token": token, "new_password": "short"}, htmx=True)
        assert weak.status_code == 422
        assert 'id="reset-form"' in weak.text
        done = await post_form(stranger, "/reset-password", {"token": token, "new_password": "found it again"})
        assert done.status_code == 303
        assert done.headers["location"] == "/login"
        again = await post_form(stranger, "/reset-password", {"token": token, "new_password": "stolen one now"})
        assert again.status_code == 400
        assert "This link is not valid" in again.text
        assert "Ask for a new reset link" in again.text
    assert (await client.get("/me", follow_redirects=False)).status_code == 303  # logged out here too
    await log_in(client, "lost@example.com", "found it again")
    assert any("account was just changed" in text for text in await mails_to(pg, "lost@example.com"))


@pytest.mark.parametrize("how", ["forged", "expired", "empty", "verification link"])
async def test_a_bad_reset_link_is_refused_and_the_password_stays(
    client: httpx.AsyncClient, pg: Injector, how: str
) -> None:
    await sign_up(client, "steady@example.com", verified=False)
    await post_form(client, "/forgot-password", {"email": "steady@example.com"})
    token = await reset_token(pg, "steady@example.com")
    if how == "forged":
        token = token[::-1]
    elif how == "expired":
        await pg.get(Database).execute("UPDATE account_tokens SET expires_at = now() - interval '1 second'")
    elif how == "empty":
        token = ""
    else:
        token = await verification_token(client)
    before = await user_row(pg, "steady@example.com")
    assert (await client.get(f"/reset-password?token={token}")).status_code == 400
    response = await post_form(client, "/reset-password", {"token": token, "new_password": "hijacked password"})
    assert response.status_code == 400
    assert "This link is not valid" in response.text
    assert await user_row(pg, "steady@example.com") == before
    assert (await client.get("/me", follow_redirects=False)).status_code == 200  # the session lives on


async def test_reset_works_while_a_stranger_has_log_in_throttled(
    client: httpx.AsyncClient, pg: Injector, settings: Settings
) -> None:
    await pg.get(AccountService).sign_up("owner@example.com", PASSWORD)
    async with app_client(pg, settings) as stranger:
        await csrf_token(stranger)
        for n in range(6):
            await post_form(stranger, "/login", {"email": "owner@example.com", "password": f"guess number {n}"})
    await csrf_token(client)
    blocked = await post_form(client, "/login", {"email": "owner@example.com", "password": PASSWORD})
    assert blocked.status_code == 429
    assert (await post_form(client, "/forgot-password", {"email": "owner@example.com"})).status_code == 200
    token = await reset_token(pg, "owner@example.com")
    assert (
        await post_form(client, "/reset-password", {"token": token, "new_password": "mine again, thanks"})
    ).status_code == 303
    await log_in(client, "owner@example.com", "mine again, thanks")


# -- sessions ---------------------------------------------------------------------------------------------


async def test_the_sessions_page_lists_browsers_and_networks_and_logs_out_one_or_all_others(
    client: httpx.AsyncClient, pg: Injector, settings: Settings
) -> None:
    client.headers["user-agent"] = FIREFOX
    await sign_up(client, "many@example.com")
    async with app_client(pg, settings) as phone, app_client(pg, settings) as tablet:
        phone.headers["user-agent"] = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/120.0 Mobile"
        await log_in(phone, "many@example.com")
        await log_in(tablet, "many@example.com")
        page = await client.get("/me/sessions")
        assert page.status_code == 200
        assert page.text.count('data-testid="session-row"') == 3
        assert "Firefox on Windows" in page.text
        assert "Chrome on Android" in page.text
        assert "127.0.0.0/24" in page.text
        assert "this browser" in page.text
        ids = re.findall(r"/me/sessions/([0-9a-f-]{36})/end", page.text)
        android = re.search(r"Chrome on Android.*?/me/sessions/([0-9a-f-]{36})/end", page.text, re.S)
        assert android is not None
        ended = await post_form(client, f"/me/sessions/{android.group(1)}/end", {})
        assert ended.status_code == 303
        assert (await phone.get("/me", follow_redirects=False)).status_code == 303
        assert (await tablet.get("/me", follow_redirects=False)).status_code == 200
        gone = await post_form(client, f"/me/sessions/{android.group(1)}/end", {})
        assert gone.status_code == 404
        others = await post_form(client, "/me/sessions/end-others", {})
        assert others.status_code == 303
        assert "Logged out 1 other session." in (await client.get("/me/sessions")).text
        assert (await tablet.get("/me", follow_redirects=False)).status_code == 303
        assert (await client.get("/me", follow_redirects=False)).status_code == 200
        assert len(ids) == 3


async def test_a_session_of_another_account_cannot_be_ended(
    client: httpx.AsyncClient, pg: Injector, settings: Settings
) -> None:
    async with app_client(pg, settings) as victim:
        await sign_up(victim, "victim@example.com")
        victim_session = await pg.get(Database).fetchval(
            "SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = 'victim@example.com'"
        )
        await sign_up(client, "attacker@example.com")
        response = await post_form(client, f"/me/sessions/{victim_session}/end", {})
        assert response.status_code == 404
        assert (await victim.get("/me", follow_redirects=False)).status_code == 200


async def test_last_seen_is_written_at_most_once_a_minute_on_postgres(client: httpx.AsyncClient, pg: Injector) -> None:
    await sign_up(client, "seen@example.com")
    db = pg.get(Database)
    await db.execute("UPDATE sessions SET last_seen_at = now() - interval '30 seconds'")
    before = await db.fetchval("SELECT last_seen_at FROM sessions")
    await client.get("/me")
    assert await db.fetchval("SELECT last_seen_at FROM sessions") == before
    await db.execute("UPDATE sessions SET last_seen_at = now() - interval '61 seconds'")
    stale = await db.fetchval("SELECT last_seen_at FROM sessions")
    await client.get("/me")
    assert await db.fetchval("SELECT last_seen_at FROM sessions") > stale


# -- test mode ------------------------------------------------------------------------------------------------


async def test_every_page_shows_a_test_mode_banner_when_sandbox_payments_are_allowed_on_https(
    pg: Injector, settings: Settings
) -> None:
    public = msgspec.structs.replace(settings, base_url="https://hypha.example", allow_sandbox_payments=True)
    async with app_client(pg, public, "https://hypha.example") as browser:
        for path in ("/", "/login", "/signup", "/forgot-password", "/no-such-page"):
            page = await browser.get(path)
            assert 'data-testid="test-mode-banner"' in page.text, path
    async with app_client(pg, settings) as local:
        assert 'data-testid="test-mode-banner"' not in (await local.get("/")).text


# -- hostile input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/verify-email", "/reset-password", "/forgot-password", "/login", "/signup"])
async def test_a_form_field_sent_twice_is_bad_input_not_a_server_error(
    client: httpx.AsyncClient, pg: Injector, path: str
) -> None:
    """Found while testing these forms: a repeated field arrives as a list and escaped as a 500."""
    await csrf_token(client, "/forgot-password")
    body = (
        b"token=a&token=b&email=x%40example.com&email=y%40example.com"
        b"&password=p&password=q&new_password=1&new_password=2"
    )
    response = await client.post(
        path,
        content=body,
        headers={
            "x-csrftoken": client.cookies.get("csrftoken") or "",
            "content-type": "application/x-www-form-urlencoded",
        },
    )
    assert 400 <= response.status_code < 500, response.status_code
    assert await count(pg, "SELECT count(*) FROM users") == 0
    assert await count(pg, "SELECT count(*) FROM account_tokens") == 0


async def test_send_the_link_again_from_a_fragment_goes_back_to_the_page_it_was_on(client: httpx.AsyncClient) -> None:
    await sign_up(client, "fragment@example.com", verified=False)
    token = client.cookies.get("csrftoken") or ""
    response = await client.post(
        "/me/verify/resend",
        data={"next": ""},
        headers={"x-csrftoken": token, "referer": "http://127.0.0.1:8000/v/abcdefghijkl"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/v/abcdefghijkl"
    elsewhere = await client.post(
        "/me/verify/resend",
        data={"next": ""},
        headers={"x-csrftoken": token, "referer": "https://evil.example/v/abcdefghijkl"},
        follow_redirects=False,
    )
    assert elsewhere.headers["location"] == "/me"


async def test_logging_out_this_browser_from_the_sessions_page_logs_it_out(client: httpx.AsyncClient) -> None:
    await sign_up(client, "self@example.com")
    page = await client.get("/me/sessions")
    mine = re.search(r"/me/sessions/([0-9a-f-]{36})/end", page.text)
    assert mine is not None
    response = await post_form(client, f"/me/sessions/{mine.group(1)}/end", {})
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    assert (await client.get("/me", follow_redirects=False)).status_code == 303
