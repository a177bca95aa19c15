"""A client cannot choose the address the per-address limits count: `X-Forwarded-For` is believed only
from the proxies FORWARDED_ALLOW_IPS names, and an IPv6 client is counted by its /64 network.

Found by probing `hypha up` (http://127.0.0.1:8000, no proxy in front): uvicorn believed
`X-Forwarded-For` from 127.0.0.1 by default, so a client on the machine got a fresh address with every
request — 25 failed log-ins, each with another forged address, were never throttled (20 per address
is the limit). These tests serve the app with the very uvicorn configuration `hypha web` uses
(core.server.web_config), over real sockets, since the in-process test client has no proxy layer.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import msgspec
from injector import Injector

from core.server import Server, web_config
from core.settings import Settings
from features.bootstrap import create_app, features_for
from tests.security.test_sessions_and_headers import attempt, browser
from tests.support.live import free_port


@asynccontextmanager
async def served(settings: Settings, injector: Injector) -> AsyncIterator[str]:
    """The app behind `hypha web`'s own uvicorn configuration, on a free port of 127.0.0.1."""
    port = free_port()
    for feature in features_for(settings):
        for hook in feature.on_startup:
            await hook(injector)
    config = web_config(create_app(settings, injector), settings, "127.0.0.1", port)
    config.log_level = "warning"
    config.lifespan = "off"  # the pool is the test's (started by the fixture)
    server = Server(config)
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started, "the live server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def failed_logins(base_url: str, forged: list[str | None]) -> list[int]:
    """One failed log-in (an unknown e-mail each time) per entry, carrying it as X-Forwarded-For."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        await client.get("/login")
        statuses = []
        for n, address in enumerate(forged):
            headers = {"x-csrftoken": client.cookies["csrftoken"]}
            if address:
                headers["x-forwarded-for"] = address
            response = await client.post(
                "/login", data={"email": f"nobody{n}@example.com", "password": "a wrong guess"}, headers=headers
            )
            statuses.append(response.status_code)
    return statuses


async def test_a_forged_x_forwarded_for_does_not_give_a_direct_client_a_fresh_address(
    pg: Injector, settings: Settings
) -> None:
    limit = settings.login_attempts_per_ip
    async with served(settings, pg) as base_url:
        statuses = await failed_logins(base_url, [f"198.51.100.{n + 1}" for n in range(limit + 3)])
    assert statuses == [422] * limit + [429] * 3  # all counted against 127.0.0.1, the real peer


async def test_a_named_proxy_is_believed(pg: Injector, settings: Settings) -> None:
    behind_proxy = msgspec.structs.replace(settings, forwarded_allow_ips="127.0.0.1")
    limit = settings.login_attempts_per_ip
    async with served(behind_proxy, pg) as base_url:
        one_client = await failed_logins(base_url, ["203.0.113.5"] * (limit + 1))
        another_client = await failed_logins(base_url, ["203.0.113.6"])
    assert one_client == [422] * limit + [429]
    assert another_client == [422]  # the proxy's clients are counted apart, by the address it passed on


async def test_an_ipv6_client_cannot_pick_a_fresh_address_from_its_own_network(
    pg: Injector, settings: Settings
) -> None:
    # One subscriber is handed a whole /64 (2^64 addresses): per-address limits count the /64.
    limit = settings.login_attempts_per_ip
    statuses = []
    for n in range(limit + 2):
        async with browser(pg, settings, f"2001:db8:5:7::{n + 1:x}") as client:
            statuses.append((await attempt(client, f"nobody{n}@example.com")).status_code)
    assert statuses == [422] * limit + [429] * 2
    async with browser(pg, settings, "2001:db8:5:8::1") as neighbour:  # the next /64 is someone else
        assert (await attempt(neighbour, "nobody@example.com")).status_code == 422
