"""CSRF is enforced on every unsafe route, enumerated from the application's own route table (the
mounted ASGI apps under /ops included: they take any method on any path below their mount).

Only routes a feature declares CSRF-exempt (vendor webhooks, which are signature-checked instead)
are allowed to skip it, and each of those must refuse an unsigned request.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest
from injector import Injector
from litestar import Litestar
from litestar.routes import ASGIRoute, HTTPRoute

from core.settings import Settings
from features.bootstrap import HYPHA, create_app
from tests.support.web import sign_up

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
PARAM = re.compile(r"\{([^}:]+)(?::([^}]+))?\}")


def fill(path: str) -> str:
    def value(match: re.Match[str]) -> str:
        kind = (match.group(2) or "str").strip()
        if kind == "uuid":
            return str(uuid.uuid4())
        if kind == "int":
            return "1"
        if kind == "path":
            return "/x"
        return "abcdefghijkl"

    return PARAM.sub(value, path)


def unsafe_routes(app: Litestar) -> list[tuple[str, str]]:
    routes = [
        (method, route.path)
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for method in sorted(set(route.methods) & UNSAFE)
    ]
    mounts = [route.path.rstrip("/") + "/x/" for route in app.routes if isinstance(route, ASGIRoute)]
    return routes + [(method, path) for path in mounts for method in sorted(UNSAFE)]


def exempt_paths() -> list[str]:
    return [path for feature in HYPHA.features for path in feature.csrf_exempt]


def test_the_route_table_has_unsafe_routes_to_check(settings: Settings, real_injector: Injector) -> None:
    routes = unsafe_routes(create_app(settings, real_injector))
    assert ("POST", "/login") in routes
    assert {("POST", "/me/export"), ("POST", "/me/delete")} <= set(routes)
    assert len(routes) >= 5


async def test_every_unsafe_route_refuses_a_request_without_a_csrf_token(
    client: httpx.AsyncClient, settings: Settings, pg: Injector
) -> None:
    await sign_up(client, "csrf-probe@example.com")  # logged in: guards must not hide a missing check
    app = create_app(settings, pg)
    exempt = exempt_paths()
    unprotected: list[str] = []
    for method, path in unsafe_routes(app):
        if path in exempt:  # exempt paths are exact (test_edge_surfaces.py checks nothing else is)
            continue
        response = await client.request(method, fill(path), data={"x": "1"})
        if response.status_code != 403 or "CSRF" not in response.text:
            unprotected.append(f"{method} {path} -> {response.status_code}")
    assert unprotected == []


async def test_a_wrong_csrf_token_is_refused_too(client: httpx.AsyncClient) -> None:
    await client.get("/login")
    response = await client.post(
        "/login", data={"email": "a@example.com", "password": "whatever pw"}, headers={"x-csrftoken": "forged"}
    )
    assert response.status_code == 403


@pytest.mark.parametrize("prefix", exempt_paths() or ["<none>"])
async def test_csrf_exempt_routes_refuse_unsigned_requests(client: httpx.AsyncClient, prefix: str) -> None:
    if prefix == "<none>":
        pytest.skip("no CSRF-exempt routes")
    response = await client.post(fill(prefix.rstrip("*")), content=b'{"id": "evt_1"}')
    assert response.status_code in (400, 401, 403, 404, 405)
    assert response.status_code != 200
