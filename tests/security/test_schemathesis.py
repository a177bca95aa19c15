"""schemathesis against the app's OpenAPI document: every operation, called by a signed-in creator with the
cases schemathesis generates, never answers with a server error.

The schema is the one the real app (`create_app` on the test database) serves at `/api/schema/openapi.json`:
67 operations today, the pages, forms and tus uploads of every feature. Not in the document: static files, health,
metrics, the /ops staff mounts, playback (HLS, keys, heartbeats), public covers, the vendors' webhooks and tus's
OPTIONS. Of the 67, the endless event stream `GET /studio/events` is left out, and `POST /logout` runs last,
since it ends the creator's session.
For each operation schemathesis draws positive and negative cases, and positive ones whose path names the
creator's real video or the creator, so the routes get past their 404s into the services. Every request carries
the creator's session cookie and the CSRF header, like a browser's.

Checks: `not_a_server_error`, and the schema checks where the document is honest: `response_schema_conformance`
(every JSON body the document describes, i.e. the 400 validation errors) and `response_headers_conformance`.
Status codes and content types are not checked against the document: Litestar documents each handler's success
code and a JSON 400, while the app answers with HTML pages, 303 redirects and 403/404/409/412/422 on purpose.

Two departures from schemathesis's usual pytest wiring:
- Cases do not go through schemathesis's ASGI transport (`from_asgi` + `case.call`). It runs the app on its own
  event-loop thread, but Piccolo binds every table to one process-wide engine whose asyncpg pool lives on
  pytest's loop (the `pg` fixture); a second app would rebind the tables under the fixtures' feet. So the app
  runs in pytest's loop behind httpx's ASGI transport, each request is exactly what schemathesis's requests
  transport would send (`requests` prepares it), and schemathesis checks the httpx response.
- One test walks all operations instead of `schema.parametrize()`: one item per operation would truncate the
  database and build the stage 66 times, and lazy `from_fixture` schemas fail on pytest 9.2 (they set
  `Node._nodeid`, which is gone). Each operation still gets its own hypothesis run, as with `parametrize()`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from injector import Injector
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_headers_conformance, response_schema_conformance

from core.settings import Settings
from core.web import SESSION_COOKIE
from tests.support.videos import openapi_document, session_token
from tests.support.web import csrf_token

if TYPE_CHECKING:
    from schemathesis.generation.case import Case
    from schemathesis.schemas import APIOperation, BaseSchema

    from tests.security.conftest import Stage

CASES_PER_OPERATION = 10
CASES = hypothesis_settings(
    max_examples=CASES_PER_OPERATION,
    deadline=None,
    derandomize=True,  # the same cases on every run and every machine
    database=None,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure shows the request as generated
    # Negative cases cannot be made for operations with nothing to violate; schemathesis rejects those draws.
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow, HealthCheck.data_too_large],
)
CHECKS = [not_a_server_error, response_schema_conformance, response_headers_conformance]

STREAM = "GET /studio/events"  # httpx's ASGI transport waits for the end of a body that never ends
LAST = "POST /logout"


@dataclass
class SignedInCreator:
    """An httpx client on the app, in pytest's event loop, that sends schemathesis cases as the creator."""

    client: httpx.AsyncClient
    loop: asyncio.AbstractEventLoop
    cookies: dict[str, str]

    def send(self, case: Case) -> httpx.Response:
        # The test is synchronous so that hypothesis can run once per operation; no loop is running meanwhile.
        return self.loop.run_until_complete(self._send(case))

    async def _send(self, case: Case) -> httpx.Response:
        base_url = str(self.client.base_url).rstrip("/")
        prepared = requests.Request(**case.as_transport_kwargs(base_url=base_url)).prepare()
        assert prepared.method is not None
        assert prepared.url is not None
        # Back to the creator's cookies: a generated sign-up or log-in may have replaced them.
        self.client.cookies.clear()
        for name, value in self.cookies.items():
            self.client.cookies.set(name, value)
        headers = {
            **prepared.headers,
            "x-csrftoken": self.cookies["csrftoken"],
            "tus-resumable": "1.0.0",  # what every tus client sends; without it /uploads stops at 412
        }
        return await self.client.request(prepared.method, prepared.url, headers=headers, content=prepared.body)


@pytest.fixture
async def api(pg: Injector, settings: Settings) -> BaseSchema:
    return schemathesis.openapi.from_dict(await openapi_document(pg, settings))  # read as staff: staff-only


@pytest.fixture
async def creator(pg: Injector, client: httpx.AsyncClient, stage: Stage) -> SignedInCreator:
    cookies = {SESSION_COOKIE: await session_token(pg, stage.creator), "csrftoken": await csrf_token(client)}
    return SignedInCreator(client, asyncio.get_running_loop(), cookies)


def operations(api: BaseSchema) -> list[APIOperation]:
    found = [result.ok() for result in api.get_all_operations() if result.ok().label != STREAM]
    return sorted(found, key=lambda operation: operation.label == LAST)


def cases(operation: APIOperation, stage: Stage) -> st.SearchStrategy[Case]:
    """Positive and negative cases as schemathesis draws them, and positive ones aimed at the stage."""
    known = {"public_id": stage.public_id, "video_id": stage.video_id, "creator_id": str(stage.creator.id)}
    pinned = {p.name: known[p.name] for p in operation.path_parameters if p.name in known}
    strategies = [operation.as_strategy(mode) for mode in GenerationMode]
    if pinned:
        strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=pinned))
    return st.one_of(strategies)


def test_no_operation_of_the_openapi_document_answers_a_signed_in_creator_with_a_server_error(
    api: BaseSchema, creator: SignedInCreator, stage: Stage
) -> None:
    every = operations(api)
    labels = {operation.label for operation in every}
    assert len(every) >= 60, sorted(labels)
    assert {"POST /v/{public_id}/tip", "POST /wallet/checkout", "PATCH /uploads/{upload_id}", LAST} <= labels

    failures: dict[str, BaseException] = {}
    for operation in every:

        @CASES
        @given(case=cases(operation, stage))
        def call(case: Case) -> None:
            case.validate_response(creator.send(case), checks=CHECKS)

        try:
            call()
        except (Exception, FailureGroup) as exc:  # every operation runs; all failures are reported together
            failures[operation.label] = exc
    if failures:
        pytest.fail("\n\n".join(f"{label}: {describe(exc)}" for label, exc in failures.items()), pytrace=False)


def describe(exc: BaseException) -> str:
    """schemathesis's report (failed checks, a curl command) and hypothesis's notes (the generated case)."""
    return "\n".join([str(exc), *map(str, getattr(exc, "__notes__", []))])
