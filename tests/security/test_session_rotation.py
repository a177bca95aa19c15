"""The session token changes whenever what it stands for changes: at log-in (tests/integration), and when
the person changes their password, becomes a creator or is made staff.

A token copied before the change (a stolen cookie, a shared computer) must not carry over: "change your
password" is what a person does when they fear someone else is in, and that someone holds the very token
of the browser they are using; a token taken while the account was a viewer must not open the studio.
The browser that made the change stays logged in, on a new token.
"""

from __future__ import annotations

import httpx
from injector import Injector

from core.settings import Settings
from core.web import SESSION_COOKIE
from features.accounts.service import AccountService
from tests.conftest import app_client
from tests.support.web import log_in, post_form, sign_up

PASSWORD = "correct horse battery"


async def thief_with(pg: Injector, settings: Settings, token: str, path: str) -> int:
    async with app_client(pg, settings) as thief:
        thief.cookies.set(SESSION_COOKIE, token)
        return (await thief.get(path, follow_redirects=False)).status_code


async def test_changing_the_password_gives_this_browser_a_new_token_and_ends_the_copied_one(
    client: httpx.AsyncClient, pg: Injector, settings: Settings
) -> None:
    await sign_up(client, "worried@example.com")
    copied = client.cookies.get(SESSION_COOKIE)
    assert copied
    assert await thief_with(pg, settings, copied, "/me") == 200

    changed = await post_form(client, "/me/password", {"current_password": PASSWORD, "new_password": "a fresh secret!"})

    assert changed.status_code == 303
    fresh = client.cookies.get(SESSION_COOKIE)
    assert fresh
    assert fresh != copied
    assert (await client.get("/me", follow_redirects=False)).status_code == 200  # still logged in here
    assert await thief_with(pg, settings, copied, "/me") == 303  # the copy is worthless


async def test_a_refused_password_change_keeps_the_token(client: httpx.AsyncClient) -> None:
    await sign_up(client, "typo@example.com")
    before = client.cookies.get(SESSION_COOKIE)
    refused = await post_form(client, "/me/password", {"current_password": "not it at all", "new_password": "x" * 20})
    assert refused.status_code == 422
    assert client.cookies.get(SESSION_COOKIE) == before
    assert (await client.get("/me", follow_redirects=False)).status_code == 200


async def test_becoming_a_creator_gives_this_browser_a_new_token_and_ends_the_old_one(
    client: httpx.AsyncClient, pg: Injector, settings: Settings
) -> None:
    await sign_up(client, "upgrade@example.com")
    viewer_token = client.cookies.get(SESSION_COOKIE)
    assert viewer_token

    became = await post_form(client, "/me/creator", {})

    assert became.status_code == 303
    creator_token = client.cookies.get(SESSION_COOKIE)
    assert creator_token
    assert creator_token != viewer_token
    assert (await client.get("/studio", follow_redirects=False)).status_code == 200
    assert await thief_with(pg, settings, viewer_token, "/studio") == 303


async def test_being_made_staff_ends_the_sessions_opened_as_a_plain_account(
    client: httpx.AsyncClient, pg: Injector, settings: Settings
) -> None:
    """`hypha staff add` cannot hand the browser a new token: it ends the person's sessions, so the staff
    role only ever rides on a token issued after it was granted (a copy taken before opens nothing)."""
    await sign_up(client, "promoted@example.com")
    before = client.cookies.get(SESSION_COOKIE)
    assert before

    await pg.get(AccountService).set_staff("promoted@example.com", True)

    assert await thief_with(pg, settings, before, "/staff/reports") == 303
    await log_in(client, "promoted@example.com")
    assert (await client.get("/staff/reports", follow_redirects=False)).status_code == 200
