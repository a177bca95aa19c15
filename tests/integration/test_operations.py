"""Operations endpoints and request tracing."""

from __future__ import annotations

import json
import logging

import httpx
import msgspec
import pytest
from injector import Injector

from core.db import Database
from core.observability import JsonFormatter, request_id_var
from core.settings import Settings
from tests.conftest import app_client
from tests.support.web import sign_up


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).text == "ok"
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.text == "ready"


async def test_metrics_are_exposed_in_prometheus_format_to_the_scraper(pg: Injector, settings: Settings) -> None:
    token = "scraper-token-0123456789"
    async with app_client(pg, msgspec.structs.replace(settings, metrics_token=token)) as client:
        await client.get("/login")
        metrics = await client.get("/metrics", headers={"authorization": f"Bearer {token}"})
    assert metrics.status_code == 200
    assert "hypha_requests_total" in metrics.text


async def test_every_response_carries_a_request_id_and_a_given_one_is_kept(client: httpx.AsyncClient) -> None:
    generated = await client.get("/")
    assert len(generated.headers["x-request-id"]) == 16
    kept = await client.get("/", headers={"x-request-id": "abc123def456"})
    assert kept.headers["x-request-id"] == "abc123def456"
    junk = await client.get("/", headers={"x-request-id": "<script>"})
    assert junk.headers["x-request-id"] != "<script>"


async def test_each_request_is_logged_once_with_its_status_and_time(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="hypha.access"):
        answer = await client.get("/login", headers={"x-request-id": "logged1234567"})
    lines = [record for record in caplog.records if record.name == "hypha.access"]
    assert [record.getMessage() for record in lines] == ["GET /login 200"]
    assert answer.headers["x-request-id"] == "logged1234567"
    fields = vars(lines[0])
    assert fields["status"] == 200
    assert fields["duration_ms"] >= 0
    assert fields["user_id"] is None


def test_json_logs_carry_the_request_id_and_extra_fields() -> None:
    record = logging.LogRecord("hypha.access", logging.INFO, __file__, 1, "GET %s", ("/",), None)
    record.status = 200
    token = request_id_var.set("feedbeef")
    try:
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert line["message"] == "GET /"
    assert line["request_id"] == "feedbeef"
    assert line["status"] == 200
    assert line["level"] == "INFO"


@pytest.mark.parametrize("path", ["/nope", "/static/nope.css"])
async def test_unknown_pages_are_a_friendly_404(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, headers={"accept": "text/html"})
    assert response.status_code == 404


async def test_the_job_queue_monitor_is_for_staff_only(client: httpx.AsyncClient, pg: Injector) -> None:
    anonymous = await client.get("/ops/queue/", follow_redirects=False)
    assert anonymous.status_code in (303, 401)
    await sign_up(client, "viewer@example.com")
    assert (await client.get("/ops/queue/")).status_code == 403
    await pg.get(Database).execute("UPDATE users SET is_staff = true WHERE email = 'viewer@example.com'")
    page = await client.get("/ops/queue/")
    assert page.status_code == 200, (page.status_code, page.headers.get("location"))
    assert "static/app.js" in page.text
    queues = await client.get("/ops/queue/api/queues")
    assert queues.status_code == 200
    assert "queues" in queues.json()
