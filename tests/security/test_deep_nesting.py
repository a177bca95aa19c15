"""JSON nested deeper than the decoder's recursion limit is bad input, never a server error.

A stranger sends `[[[[…` (a few kilobytes) as a JSON body or in the flash cookie: the JSON decoder gives
up with a RecursionError, which used to reach the catch-all handler as a 500 ("Something went wrong on
our side") — on every page for the cookie. Every unsafe route of the route table gets such a body; the
heartbeat (the JSON API) answers a 422 that says why and stores nothing; a page shows no flash.
"""

from __future__ import annotations

from urllib.parse import quote

from injector import Injector
from litestar.routes import HTTPRoute

from core.db import Database
from core.settings import Settings
from core.web import FLASH_COOKIE, SESSION_COOKIE
from features.bootstrap import create_app
from tests.conftest import app_client
from tests.security.conftest import Stage
from tests.security.test_csrf_everywhere import fill
from tests.support.videos import session_token
from tests.support.web import csrf_token

DEEP = b"[" * 50_000
SKIP = {"/logout", "/me/delete", "/webhooks/payments", "/webhooks/payouts"}  # end the session / signed bodies


async def test_a_deeply_nested_json_body_is_a_4xx_on_every_unsafe_route(
    pg: Injector, settings: Settings, stage: Stage
) -> None:
    app = create_app(settings, pg)
    unsafe = sorted(
        (method, route.path)
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for method in route.methods & {"POST", "PUT", "PATCH", "DELETE"}
        if route.path not in SKIP
    )
    assert len(unsafe) >= 40
    async with app_client(pg, settings) as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, stage.viewer))
        token = await csrf_token(client, "/login")
        headers = {"x-csrftoken": token, "content-type": "application/json"}
        failures = []
        for method, path in unsafe:
            target = fill(path)
            response = await client.request(method, target, content=DEEP, headers=headers)
            if response.status_code >= 500:
                failures.append(f"{method} {target} -> {response.status_code}: {response.text[:120]}")
    assert failures == [], "\n".join(failures)


async def test_a_deeply_nested_heartbeat_is_a_422_saying_why_and_stores_nothing(
    pg: Injector, settings: Settings, stage: Stage
) -> None:
    async with app_client(pg, settings) as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, stage.viewer))
        token = await csrf_token(client, "/login")
        response = await client.post(
            f"/v/{stage.public_id}/heartbeat",
            content=b'{"position": ' + DEEP,
            headers={"x-csrftoken": token, "content-type": "application/json"},
        )
    assert response.status_code == 422
    assert response.json()["detail"] == "The request body is nested too deeply."
    assert await pg.get(Database).fetchval("SELECT count(*) FROM playback_heartbeats") == 0


async def test_a_deeply_nested_flash_cookie_shows_the_page_without_a_flash(pg: Injector, settings: Settings) -> None:
    async with app_client(pg, settings) as client:
        for planted in (quote("[" * 5_000), "[" * 5_000, quote('["error", ' * 2_000)):
            client.cookies.set(FLASH_COOKIE, planted)
            page = await client.get("/", headers={"accept": "text/html"})
            assert page.status_code == 200, page.text[:200]
            assert 'class="flash flash-' not in page.text
        client.cookies.set(FLASH_COOKIE, quote('["info", "Saved."]'))
        shown = await client.get("/", headers={"accept": "text/html"})
    assert "Saved." in shown.text  # a well-formed flash still shows
