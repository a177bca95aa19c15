"""Operational surfaces are not public: /metrics is for the scraper holding METRICS_TOKEN (and off without
it), the OpenAPI document and its viewers are for staff."""

from __future__ import annotations

import httpx
import msgspec
import pytest
from injector import Injector
from litestar.routes import HTTPRoute

from core.settings import Settings, SettingsError, load_settings
from core.web import SESSION_COOKIE
from features.bootstrap import create_app
from tests.conftest import app_client
from tests.support.videos import person, session_token, staff_person

TOKEN = "s3cret-scraper-token-9f8e7d6c"
API_SCHEMA = "/api/schema"


def with_token(settings: Settings, token: str = TOKEN) -> Settings:
    return msgspec.structs.replace(settings, metrics_token=token)


async def as_staff(client: httpx.AsyncClient, pg: Injector) -> None:
    client.cookies.set(SESSION_COOKIE, await session_token(pg, await staff_person(pg)))


async def test_without_a_metrics_token_the_metrics_are_off_for_everyone(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    await client.get("/login")
    for headers in ({}, {"authorization": "Bearer "}, {"authorization": f"Bearer {TOKEN}"}):
        response = await client.get("/metrics", headers=headers)
        assert response.status_code == 404
        assert "hypha_requests_total" not in response.text
    await as_staff(client, pg)
    assert (await client.get("/metrics")).status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Bearer wrong-token-0000000000", f"Basic {TOKEN}", f"Bearer {TOKEN}x", TOKEN],
)
async def test_the_metrics_refuse_a_scraper_without_the_right_bearer_token(
    pg: Injector, settings: Settings, authorization: str | None
) -> None:
    headers = {"accept": "text/plain"} | ({"authorization": authorization} if authorization is not None else {})
    async with app_client(pg, with_token(settings)) as client:
        await client.get("/login")
        response = await client.get("/metrics", headers=headers, follow_redirects=False)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "hypha_requests_total" not in response.text


async def test_a_logged_in_staff_member_without_the_token_does_not_see_the_metrics(
    pg: Injector, settings: Settings
) -> None:
    async with app_client(pg, with_token(settings)) as client:
        await as_staff(client, pg)
        response = await client.get("/metrics", follow_redirects=False)
    assert response.status_code == 401
    assert "hypha_requests_total" not in response.text


async def test_the_scraper_with_the_token_reads_the_metrics(pg: Injector, settings: Settings) -> None:
    async with app_client(pg, with_token(settings)) as client:
        await client.get("/login")
        response = await client.get("/metrics", headers={"authorization": f"bearer {TOKEN}"})
    assert response.status_code == 200
    assert "hypha_requests_total" in response.text


@pytest.mark.parametrize(
    "value", ["short", "has a space in it 123", "tab\tinside-the-token-0000", "ünïcode-token-00000000"]
)
def test_a_weak_or_malformed_metrics_token_stops_start_up_naming_the_setting(value: str) -> None:
    with pytest.raises(SettingsError, match="METRICS_TOKEN"):
        load_settings({"METRICS_TOKEN": value})


def schema_paths(settings: Settings, pg: Injector) -> list[str]:
    """Every route serving the OpenAPI document or a viewer of it, from the route table."""
    app = create_app(settings, pg)
    paths = sorted(
        route.path.replace("{path:str}", "openapi.yaml")
        for route in app.routes
        if isinstance(route, HTTPRoute) and route.path.startswith(API_SCHEMA)
    )
    assert f"{API_SCHEMA}/openapi.json" in paths
    return [*paths, f"{API_SCHEMA}/swagger", f"{API_SCHEMA}/redoc", f"{API_SCHEMA}/openapi.yml"]


async def test_the_api_schema_and_its_viewers_are_refused_to_visitors_viewers_and_creators(
    client: httpx.AsyncClient, pg: Injector, settings: Settings
) -> None:
    paths = schema_paths(settings, pg)
    for path in paths:
        for accept in ("application/json", "text/html"):
            response = await client.get(path, headers={"accept": accept}, follow_redirects=False)
            assert response.status_code in (401, 303), (path, response.status_code)
            if response.status_code == 303:
                assert response.headers["location"].startswith("/login")
            assert '"paths"' not in response.text
            assert "/ops/" not in response.text
    for who in (await person(pg, "Vic Viewer"), await person(pg, "Cora Creator", creator=True)):
        client.cookies.set(SESSION_COOKIE, await session_token(pg, who))
        for path in paths:
            response = await client.get(path, headers={"accept": "application/json"})
            assert response.status_code == 403, (who.display_name, path, response.status_code)
            assert '"paths"' not in response.text


async def test_staff_read_the_api_schema(client: httpx.AsyncClient, pg: Injector) -> None:
    await as_staff(client, pg)
    response = await client.get(f"{API_SCHEMA}/openapi.json")
    assert response.status_code == 200
    assert "/login" in response.json()["paths"]
