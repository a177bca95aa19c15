"""HEAD wherever GET: link checkers, uptime monitors, `curl -I` and link previews ask a page's head
first. The answer is the GET's status and headers without a body — and a live stream answers its head
and ends instead of streaming to nobody."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from injector import Injector

from core.settings import Settings
from tests.integration.test_dashboard_live import logged_in
from tests.support.live import live_app
from tests.support.videos import add_synthetic_video, person, price_and_publish

# Headers that differ between two requests for the same page.
PER_REQUEST = {"date", "set-cookie", "content-length", "etag", "x-request-id"}


def comparable(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k not in PER_REQUEST}


async def test_every_page_answers_head_as_its_get_without_a_body(pg: Injector, client: httpx.AsyncClient) -> None:
    creator = await person(pg, "Mira", creator=True)
    video = await price_and_publish(pg, creator.id, (await add_synthetic_video(pg, creator.id)).video)
    for path in ["/", "/login", "/signup", "/search?q=a", f"/v/{video.public_id}", "/healthz", "/no/such/page"]:
        got, head = await client.get(path), await client.head(path)
        assert head.status_code == got.status_code, path
        assert head.content == b"", path
        assert comparable(head) == comparable(got), path
    assert (await client.head("/no/such/page")).status_code == 404
    assert (await client.head("/wallet")).status_code == (await client.get("/wallet")).status_code  # log in first


async def test_a_route_without_get_still_refuses_head(client: httpx.AsyncClient) -> None:
    assert (await client.post("/logout")).status_code != 405  # the route exists (for POST)
    assert (await client.head("/logout")).status_code == 405


@pytest.fixture(scope="module")
async def server(real_injector: Injector, settings: Settings) -> AsyncIterator[str]:
    async with live_app(settings, real_injector) as url:
        yield url


async def test_over_a_real_connection_head_gives_the_gets_length_and_no_body(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as http:
        got = await http.get("/login")
        head = await http.head("/login")
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == got.headers["content-length"] == str(len(got.content))
        assert (await http.get("/healthz")).text == "ok"  # the keep-alive connection is still good


async def test_the_head_of_a_live_stream_ends_at_once(pg: Injector, server: str) -> None:
    creator = await person(pg, "Mira", creator=True)
    async with await logged_in(pg, server, creator) as http:
        head = await asyncio.wait_for(http.head("/studio/events"), 10)
        assert head.status_code == 200
        assert head.headers["content-type"].startswith("text/event-stream")
        assert head.content == b""
        assert (await http.get("/healthz")).text == "ok"
