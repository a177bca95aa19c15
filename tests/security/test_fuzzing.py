"""Fuzzing: every operation of the app's OpenAPI with arbitrary parameters and bodies, and the form
DTOs with arbitrary text, unicode and huge values → never a server error; bad form input is a 4xx
(422 for forms) and stores nothing.

schemathesis now covers the OpenAPI operations, with its own generated cases and checks, in
test_schemathesis.py. This file keeps the form-DTO fuzzing and its own walk of the same document
(`/api/schema/openapi.json`): hypothesis puts hand-picked nasty values (NUL, 100,000 characters,
bidi marks, injection strings) and arbitrary text into every path, query and form field.
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import msgspec
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from injector import Injector
from litestar import Litestar

from core.db import Database
from core.identity import Principal
from core.settings import Settings
from core.web import SESSION_COOKIE
from features.bootstrap import create_app
from tests.support.videos import openapi_document, session_token
from tests.support.web import csrf_token

if TYPE_CHECKING:
    from tests.security.conftest import Stage

FUZZ = hypothesis_settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure's message names the request
)

NASTY = [
    "",
    "0",
    "-1",
    "1e9",
    "NaN",
    "10.5",
    " 10 ",
    "１０",
    "9" * 400,
    "\x00",
    "a\x00b",
    "\u202e\u200b\ufeff",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
    "../../etc/passwd",
    "%00%2e%2e",
    "a" * 100_000,
    "😀" * 500,
    "on",
    "true",
]
junk = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),
    st.text(st.characters(exclude_categories=["Cs"]), max_size=400),
    st.integers().map(str),
)


def form_fields() -> list[str]:
    """Every field of every form DTO: the OpenAPI document shows form bodies as free-form objects."""
    names: set[str] = set()
    for dto in sorted(Path("features").glob("*/dto.py")):
        module = importlib.import_module(f"features.{dto.parent.name}.dto")
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, msgspec.Struct) and value.__name__.endswith("Form"):
                names.update(field.name for field in msgspec.structs.fields(value))
    return sorted(names)


FORM_FIELDS = form_fields()
in_url = junk.map(lambda value: value[:500])  # httpx refuses to build longer URLs

# Operations never fuzzed: endless SSE streams and log-out (it would end the fuzzing session).
SKIP = {("GET", "/studio/events"), ("POST", "/logout")}


@dataclass
class Operation:
    method: str
    path: str
    path_params: list[str]
    query: list[str]
    form: list[str]
    multipart: bool


def operations(schema: dict[str, Any]) -> list[Operation]:
    found = []
    for path, items in schema["paths"].items():
        for method, op in items.items():
            if method.upper() not in {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}:
                continue
            if (method.upper(), path) in SKIP or path.startswith("/api/schema"):
                continue
            params = op.get("parameters", [])
            content = op.get("requestBody", {}).get("content", {})
            body = next(iter(content.values()), {}).get("schema", {})
            if "$ref" in body:
                body = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
            found.append(
                Operation(
                    method.upper(),
                    path,
                    [p["name"] for p in params if p["in"] == "path"],
                    [p["name"] for p in params if p["in"] == "query"],
                    list(body.get("properties", {})),
                    "multipart/form-data" in content,
                )
            )
    return found


APPS: dict[int, Litestar] = {}
SCHEMAS: dict[int, dict[str, Any]] = {}


async def schema_for(pg: Injector, settings: Settings) -> dict[str, Any]:
    """The OpenAPI document (staff only, fetched as staff), once per injector and settings."""
    key = hash((id(pg), id(settings)))
    if key not in SCHEMAS:
        SCHEMAS[key] = await openapi_document(pg, settings)
    return SCHEMAS[key]


def app_for(pg: Injector, settings: Settings) -> Litestar:
    """One app per injector and settings: building it per hypothesis example would dominate the run."""
    key = hash((id(pg), id(settings)))
    if key not in APPS:
        APPS.clear()
        APPS[key] = create_app(settings, pg)
    return APPS[key]


@asynccontextmanager
async def browser(pg: Injector, settings: Settings, who: Principal | None) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app_for(pg, settings), client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        if who is not None:
            client.cookies.set(SESSION_COOKIE, await session_token(pg, who))
        await csrf_token(client, "/login")
        yield client


def headers(client: httpx.AsyncClient, **extra: str) -> dict[str, str]:
    return {"x-csrftoken": client.cookies.get("csrftoken") or "", **extra}


async def count(pg: Injector, table: str) -> int:
    found: int = await pg.get(Database).fetchval(f"SELECT count(*) FROM {table}")
    return found


def server_error(response: httpx.Response) -> str:
    return f"{response.request.method} {response.request.url} → {response.status_code}: {response.text[:300]}"


# -- the OpenAPI document, walked with arbitrary values -----------------------------------------------------


async def test_the_openapi_document_lists_the_routes(pg: Injector, settings: Settings) -> None:
    schema = await openapi_document(pg, settings)
    ops = operations(schema)
    assert len(ops) >= 50
    assert any(op.method == "POST" for op in ops)
    assert {"email", "password", "title", "amount", "pack", "rent_day"} <= set(FORM_FIELDS)


@hypothesis_settings(FUZZ, max_examples=50)  # schemathesis covers the schema broadly (test_schemathesis.py)
@given(data=st.data())
async def test_no_operation_of_the_openapi_document_answers_with_a_server_error(
    pg: Injector, settings: Settings, stage: Stage, data: st.DataObject
) -> None:
    async with browser(pg, settings, stage.creator) as client:
        ops = operations(await schema_for(pg, settings))
        for op in data.draw(st.lists(st.sampled_from(ops), min_size=4, max_size=8)):
            known = {"public_id": stage.public_id, "video_id": stage.video_id}
            path = op.path
            for name in op.path_params:
                value = data.draw(st.one_of(st.just(known.get(name, "x")), st.uuids().map(str), in_url))
                path = path.replace("{" + name + "}", quote(value, safe="") or "x")
            query = {name: data.draw(in_url) for name in op.query}
            names = op.form or data.draw(st.lists(st.sampled_from(FORM_FIELDS), max_size=6, unique=True))
            form = {name: data.draw(junk) for name in names}
            kwargs: dict[str, Any] = {"params": query, "headers": headers(client)}
            if op.method in ("POST", "PUT", "PATCH", "DELETE"):
                if op.multipart:
                    kwargs["files"] = {
                        "file": ("x.bin", data.draw(st.binary(max_size=200)), "application/octet-stream")
                    }
                    kwargs["data"] = form
                else:
                    kwargs["data"] = form
            response = await client.request(op.method, path, **kwargs)
            assert response.status_code < 500, server_error(response)


# -- the form DTOs -----------------------------------------------------------------------------------------------


@FUZZ
@given(email=junk, password=junk, display_name=junk)
async def test_sign_up_never_fails_on_the_server_and_bad_input_stores_no_user(
    pg: Injector, settings: Settings, email: str, password: str, display_name: str
) -> None:
    async with browser(pg, settings, None) as client:
        before = await count(pg, "users")
        response = await client.post(
            "/signup",
            data={"email": email, "password": password, "display_name": display_name},
            headers=headers(client),
        )
        assert response.status_code < 500, server_error(response)
        if response.status_code >= 400:
            assert response.status_code == 422, server_error(response)
            assert await count(pg, "users") == before


@FUZZ
@given(email=junk, password=junk, next_=junk)
async def test_log_in_never_fails_on_the_server(
    pg: Injector, settings: Settings, email: str, password: str, next_: str
) -> None:
    async with browser(pg, settings, None) as client:
        response = await client.post(
            "/login", data={"email": email, "password": password, "next": next_}, headers=headers(client)
        )
    # nobody has these credentials; a `next` with control or non-Latin-1 characters is refused first (400)
    assert response.status_code in (400, 422, 429), server_error(response)
    if response.status_code == 400:
        assert "address to return to" in response.text
    assert SESSION_COOKIE not in response.cookies


@FUZZ
@given(title=junk, description=junk)
async def test_the_new_video_form_never_fails_on_the_server(
    pg: Injector, settings: Settings, stage: Stage, title: str, description: str
) -> None:
    async with browser(pg, settings, stage.creator) as client:
        before = await count(pg, "videos")
        response = await client.post(
            "/studio/videos", data={"title": title, "description": description}, headers=headers(client)
        )
        assert response.status_code < 500, server_error(response)
        if response.status_code >= 400:
            assert response.status_code == 422, server_error(response)
            assert await count(pg, "videos") == before


@FUZZ
@given(free=junk, rent_day=junk, rent_month=junk, lifetime=junk, preview=junk)
async def test_the_pricing_form_never_fails_on_the_server_and_bad_prices_change_nothing(
    pg: Injector,
    settings: Settings,
    stage: Stage,
    free: str,
    rent_day: str,
    rent_month: str,
    lifetime: str,
    preview: str,
) -> None:
    form = {
        "free": free,
        "rent_day": rent_day,
        "rent_month": rent_month,
        "lifetime": lifetime,
        "preview_seconds": preview,
    }
    async with browser(pg, settings, stage.creator) as client:
        snapshot = "SELECT row_to_json(p)::text FROM video_pricing p ORDER BY 1"
        before = [r[0] for r in await pg.get(Database).fetch(snapshot)]
        response = await client.post(f"/v/{stage.public_id}/pricing", data=form, headers=headers(client))
        assert response.status_code < 500, server_error(response)
        if response.status_code >= 400:
            assert response.status_code == 422, server_error(response)
            assert [r[0] for r in await pg.get(Database).fetch(snapshot)] == before


@FUZZ
@given(amount=junk, message=junk, key=junk)
async def test_a_tip_never_fails_on_the_server_and_a_refused_tip_moves_no_points(
    pg: Injector, settings: Settings, stage: Stage, amount: str, message: str, key: str
) -> None:
    async with browser(pg, settings, stage.viewer) as client:
        before = (await count(pg, "tips"), await count(pg, "ledger_transfers"))
        response = await client.post(
            f"/v/{stage.public_id}/tip",
            data={"amount": amount, "message": message, "key": key},
            headers=headers(client, **{"hx-request": "true"}),
        )
        assert response.status_code < 500, server_error(response)
        if response.status_code >= 400:
            assert 400 <= response.status_code < 500
            assert (await count(pg, "tips"), await count(pg, "ledger_transfers")) == before


@FUZZ
@given(pack=st.one_of(junk, st.sampled_from(["p100", "p500"])), key=junk)
async def test_buying_points_never_fails_on_the_server_and_a_refusal_starts_no_purchase(
    pg: Injector, settings: Settings, stage: Stage, pack: str, key: str
) -> None:
    async with browser(pg, settings, stage.viewer) as client:
        before = await count(pg, "wallet_purchases")
        response = await client.post(
            "/wallet/checkout", data={"pack": pack, "key": key}, headers=headers(client, **{"hx-request": "true"})
        )
        assert response.status_code < 500, server_error(response)
        if response.status_code >= 400:
            assert 400 <= response.status_code < 500
            assert await count(pg, "wallet_purchases") == before


@FUZZ
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
            lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
            max_leaves=10,
        ).map(lambda v: httpx.Request("POST", "/", json=v).content),
    )
)
async def test_a_heartbeat_with_any_body_never_fails_on_the_server(
    pg: Injector, settings: Settings, stage: Stage, body: bytes
) -> None:
    async with browser(pg, settings, stage.viewer) as client:
        response = await client.post(
            f"/v/{stage.public_id}/heartbeat",
            content=body,
            headers=headers(client, **{"content-type": "application/json"}),
        )
    assert response.status_code < 500, server_error(response)
