"""The web edge: CSRF exemptions are exact paths, and the staff queue monitor answers 404 for what does not
exist (an unknown job or queue), never a 500."""

from __future__ import annotations

import httpx
import pytest
from injector import Injector
from litestar.middleware._utils import build_exclude_path_pattern
from litestar.routes import ASGIRoute, HTTPRoute

from core.di import get_port
from core.jobs import JobQueue
from core.settings import Settings
from core.worker import SaqJobQueue
from features.bootstrap import HYPHA, create_app
from tests.security.test_csrf_everywhere import fill
from tests.security.test_ops_admin import csrf, log_in_as, staff_member

EXEMPT = [path for feature in HYPHA.features for path in feature.csrf_exempt]


# -- CSRF exemptions ---------------------------------------------------------------------------


def exempt_matches(settings: Settings, injector: Injector, path: str) -> bool:
    """Whether Litestar's CSRF middleware, as the app configures it, would skip `path`."""
    app = create_app(settings, injector)
    assert app.csrf_config is not None
    pattern = build_exclude_path_pattern(exclude=app.csrf_config.exclude)
    return bool(pattern and pattern.findall(path))


def test_only_the_declared_webhook_paths_are_csrf_exempt_in_the_whole_route_table(
    settings: Settings, real_injector: Injector
) -> None:
    app = create_app(settings, real_injector)
    assert app.csrf_config is not None
    pattern = build_exclude_path_pattern(exclude=app.csrf_config.exclude)
    assert pattern is not None
    assert EXEMPT
    candidates = {fill(route.path) for route in app.routes if isinstance(route, HTTPRoute)}
    mounts = [route.path.rstrip("/") for route in app.routes if isinstance(route, ASGIRoute)]
    assert "/ops/queue" in mounts
    assert "/ops/admin" in mounts
    # Every exempt path glued under, around and after every route and mount: none of them may be exempt.
    for exempt in EXEMPT:
        for base in [*candidates, *(m + "/x" for m in mounts), *(m + "/public/logout" for m in mounts)]:
            candidates |= {base.rstrip("/") + exempt, base.rstrip("/") + exempt + "/"}
        candidates |= {exempt + "/", exempt + "x", exempt + "/x", "/x" + exempt, exempt + "\n", exempt.upper()}
    exempted = sorted(path for path in candidates if pattern.findall(path))
    assert exempted == sorted(EXEMPT)


@pytest.mark.parametrize("suffix", EXEMPT)
# The mounted apps take every path below them: the only place an unanchored exemption reached a handler.
@pytest.mark.parametrize("prefix", ["/ops/admin/public/logout", "/ops/admin/api/tables/users", "/ops/queue/api/queues"])
async def test_a_path_merely_containing_a_webhook_path_still_needs_a_csrf_token(
    client: httpx.AsyncClient, pg: Injector, prefix: str, suffix: str
) -> None:
    await log_in_as(client, pg, await staff_member(pg))
    response = await client.post(prefix + suffix, data={"x": "1"})
    assert response.status_code == 403
    assert "CSRF" in response.text
    assert (await client.get("/me")).status_code == 200  # still logged in


# -- the queue monitor ---------------------------------------------------------------------------

QUEUE = "/ops/queue/api/queues"


async def queue_name(pg: Injector) -> str:
    jobs = get_port(pg, JobQueue)
    assert isinstance(jobs, SaqJobQueue)
    return (await jobs.queue()).name


@pytest.mark.parametrize("job", ["no-such-job", "00000000-0000-0000-0000-000000000000", "x" * 300, "%25", "a b"])
async def test_the_queue_monitor_answers_404_for_an_unknown_job_on_every_job_route(
    client: httpx.AsyncClient, pg: Injector, job: str
) -> None:
    await log_in_as(client, pg, await staff_member(pg))
    headers = await csrf(client)
    name = await queue_name(pg)
    for method, path in [("GET", ""), ("POST", "/retry"), ("POST", "/abort")]:
        response = await client.request(method, f"{QUEUE}/{name}/jobs/{job}{path}", headers=headers)
        assert response.status_code == 404, (method, path, response.status_code, response.text[:200])
        assert "not found" in response.text.lower()


async def test_the_queue_monitor_answers_404_for_an_unknown_queue(client: httpx.AsyncClient, pg: Injector) -> None:
    await log_in_as(client, pg, await staff_member(pg))
    headers = await csrf(client)
    for method, path in [
        ("GET", f"{QUEUE}/no-such-queue"),
        ("GET", f"{QUEUE}/no-such-queue/jobs/some-job"),
        ("POST", f"{QUEUE}/no-such-queue/jobs/some-job/retry"),
        ("POST", f"{QUEUE}/no-such-queue/jobs/some-job/abort"),
    ]:
        response = await client.request(method, path, headers=headers)
        assert response.status_code == 404, (method, path, response.status_code)


async def test_the_queue_monitor_still_shows_a_real_job(client: httpx.AsyncClient, pg: Injector) -> None:
    jobs = get_port(pg, JobQueue)
    assert isinstance(jobs, SaqJobQueue)
    queue = await jobs.queue()
    job = await queue.enqueue("no_such_function_for_the_monitor_test")
    assert job is not None
    await log_in_as(client, pg, await staff_member(pg))
    try:
        response = await client.get(f"{QUEUE}/{queue.name}/jobs/{job.key}", headers=await csrf(client))
        assert response.status_code == 200
        assert response.json()["job"]["key"] == job.key
    finally:
        await job.abort("test over")


# -- a statement page link out of range (found by the fuzzer) -------------------------------------------


@pytest.mark.parametrize("before", ["9" * 40, "²", "١٢", "-1", "1e3", "9223372036854775808"])
async def test_a_wallet_statement_link_out_of_range_is_a_4xx_not_a_500(
    client: httpx.AsyncClient, pg: Injector, before: str
) -> None:
    await log_in_as(client, pg, await staff_member(pg, "Wally Wallet"))
    response = await client.get("/wallet", params={"before": before})
    assert 400 <= response.status_code < 500, (before, response.status_code)
