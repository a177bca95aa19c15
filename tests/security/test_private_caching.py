"""Nothing shown to a signed-in person is kept by a shared cache or the browser's history cache.

A page rendered for a session holds that person's data (their name, their balance, their drafts, their
mail with its one-time links, a staff desk): every answer to a signed-in request says `no-store`, unless
its handler chose a `private` caching of its own (HLS segments and covers, which only the browser keeps).
Walked over every GET route of the route table as a staff member who is also a creator, plus the mounted
staff consoles, an error page and the log-in answer that carries the session cookie.
"""

from __future__ import annotations

import json
import re

import httpx
from injector import Injector
from litestar.routes import HTTPRoute

from core.db import Database
from core.settings import Settings
from core.web import SESSION_COOKIE
from features.bootstrap import create_app
from tests.conftest import app_client
from tests.support.videos import PASSWORD, add_synthetic_video, person, price_and_publish, session_token
from tests.support.web import csrf_token, post_form


def kept_by_nobody_else(response: httpx.Response) -> bool:
    directives = {d.strip().lower() for d in response.headers.get("cache-control", "").split(",")}
    return "no-store" in directives or "private" in directives


async def test_every_answer_to_a_signed_in_person_is_no_store(pg: Injector, settings: Settings) -> None:
    owner = await person(pg, "Private Pat", creator=True)
    await pg.get(Database).execute("UPDATE users SET is_staff = true WHERE id = $1", owner.id)
    made = await add_synthetic_video(pg, owner.id, title="Pat's film")
    await price_and_publish(pg, owner.id, made.video)
    app = create_app(settings, pg)
    pages = sorted(
        route.path
        for route in app.routes
        if isinstance(route, HTTPRoute)
        and "GET" in route.methods
        and "{" not in route.path
        and not route.path.endswith("/events")  # endless SSE streams (no-store: tests/integration)
        and route.path not in ("/healthz", "/readyz")  # probes: no session is looked up
    )
    pid, vid = made.video.public_id, made.video.id
    pages += [
        "/ops/queue/",
        "/ops/admin/",
        "/v/no-such-video",  # a handler's 404 (the router's own 404 knows nobody and shows nothing private)
        f"/v/{pid}",
        f"/c/{owner.id}",
        f"/studio/videos/{vid}/upload",
        f"/studio/videos/{vid}/tile",
        f"/staff/quotas/{owner.id}",
        f"/staff/reports/video/{vid}",
    ]
    async with app_client(pg, settings) as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, owner))
        await csrf_token(client, "/login")
        stored = [
            f"GET {path} -> {response.status_code} cache-control={response.headers.get('cache-control')!r}"
            for path in pages
            if not kept_by_nobody_else(response := await client.get(path))
        ]
    assert stored == [], "\n".join(stored)


async def test_the_answer_that_logs_someone_in_is_no_store(pg: Injector, settings: Settings) -> None:
    who = await person(pg, "Login Lou")
    email = await pg.get(Database).fetchval("SELECT email FROM users WHERE id = $1", who.id)
    async with app_client(pg, settings) as client:
        await csrf_token(client, "/login")
        response = await post_form(client, "/login", {"email": email, "password": PASSWORD})
    assert response.status_code == 303
    assert SESSION_COOKIE in response.cookies
    assert "no-store" in response.headers.get("cache-control", "")


async def test_htmx_keeps_no_page_snapshots_and_a_history_restore_asks_the_server(
    pg: Injector, settings: Settings
) -> None:
    """htmx saves the page it leaves (hx-push-url: the wallet statement, analytics, the feed) in the tab's
    sessionStorage and shows it again on Back — after a log-out too. With no snapshots, Back asks the
    server (HX-History-Restore-Request), which answers the whole page for whoever is logged in now."""
    who = await person(pg, "Shared Computer")
    async with app_client(pg, settings) as client:
        home = await client.get("/")
        found = re.search(r"<meta name=\"htmx-config\" content='([^']*)'>", home.text)
        assert found is not None
        assert json.loads(found.group(1))["historyCacheSize"] == 0
        client.cookies.set(SESSION_COOKIE, await session_token(pg, who))
        restore = await client.get("/wallet", headers={"hx-request": "true", "hx-history-restore-request": "true"})
    assert restore.status_code == 200
    assert restore.text.lstrip().startswith("<!doctype html>")
    assert "no-store" in restore.headers["cache-control"]
