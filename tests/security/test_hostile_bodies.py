"""Hostile but well-formed-enough bodies and query strings, sent to every route, are never a 5xx.

Every POST/PUT/PATCH/DELETE route of the real app (from `app.routes`) gets, as a signed-in viewer (plain
posts) and as a signed-in creator who is also staff (htmx posts, and guards let the request reach the
handler), each with a valid CSRF token: an empty body, a form without its fields, 10,000-character
values, control characters, invalid UTF-8, numbers no form expects ("1e309", "-0", a full-width digit,
23 nines), duplicated fields, JSON where a form is expected, a wrong or broken Content-Type and a
multipart body to a urlencoded route; then each field of the route's form hostile in turn beside
plausible others, and hostile query strings. Every GET route gets the same kinds of values in each query
parameter it reads (`?page=-1`, `?before=garbage`, huge and repeated values). Paths name real objects (a
bundle, a tier, a code, sandbox payments), so values reach the rules past the look-ups.

Skipped: the tus byte protocol (PATCH on an upload: test_upload_validation.py), the endless event
stream and log-out. The tus creation headers, the studio's multipart upload forms and signed sandbox
webhooks with hostile content have tests of their own; garbage to the vendors' webhooks must be a 4xx.

A refused request (a 4xx) changes nothing that holds money or sells something: the watched tables'
rows are the same before and after (and the `pg` fixture checks the ledger after each test). One test
per first path segment (one fresh database each) keeps the whole module under a minute.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import struct
import tempfile
import time
import zlib
from dataclasses import dataclass
from typing import Any
from uuid import uuid4

import httpx
import msgspec
import pytest
from injector import Injector
from litestar import Litestar
from litestar.routes import HTTPRoute

from core.db import Database
from core.di import build_injector
from core.settings import Settings, load_settings
from core.web import SESSION_COOKIE
from features.bootstrap import create_app, features_for
from features.sandbox_pay.model import SIGNATURE_HEADER, sign
from features.sandbox_pay.service import SandboxVendor
from tests.security.conftest import Stage
from tests.support.videos import add_synthetic_video, person, session_token
from tests.support.web import csrf_token, post_form

PARAM = re.compile(r"\{([^}:]+)(?::[^}]+)?\}")
NOT_INPUT = {"request", "data", "state", "settings", "socket", "headers", "cookies", "scope"}
SKIP = {("PATCH", "/uploads/{upload_id:str}"), ("GET", "/studio/events"), ("POST", "/logout")}
WEBHOOKS = {"/webhooks/payments", "/webhooks/payouts"}
NUMBERS = ["1e309", "-0", "９", "99999999999999999999999", "NaN", "-1"]
CONTROL = "a\x00b\x01\x07\x08\x1b[31m\x7f\u202e"
LONG = "a" * 10_000
PER_REQUEST = 10.0  # seconds: longer is a hang


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    query: tuple[str, ...]
    fields: tuple[str, ...]
    dependencies: frozenset[str]

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def fields_of(annotation: Any) -> tuple[str, ...]:
    """The field names of a handler's `data` type (a msgspec Struct or a dataclass), if it has any."""
    for candidate in [annotation, *getattr(annotation, "__args__", ())]:
        if isinstance(candidate, type) and issubclass(candidate, msgspec.Struct):
            return tuple(f.name for f in msgspec.structs.fields(candidate))
        if hasattr(candidate, "__dataclass_fields__"):
            return tuple(candidate.__dataclass_fields__)
    return ()


def routes() -> list[Route]:
    """The app's routes, read from an app built on in-memory adapters (its route table is the same)."""
    settings = load_settings({}, data_dir=tempfile.mkdtemp(prefix="hypha-routes-"), secret_key=secrets.token_hex(32))
    app = create_app(settings, build_injector(settings, features_for(settings), memory=True))
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith("/api/schema"):
            continue
        for handler in route.route_handlers:
            for method in sorted(handler.http_methods - {"OPTIONS", "HEAD"}):
                if (method, route.path) in SKIP:
                    continue
                params = handler.parsed_fn_signature.parameters
                injected = set(handler.resolve_dependencies())
                path_names = set(PARAM.findall(route.path))
                query = tuple(n for n in params if n not in NOT_INPUT | injected | path_names)
                data = params.get("data")
                fields = fields_of(data.annotation) if data is not None else ()
                found.append(Route(method, route.path, query, fields, frozenset(injected)))
    return sorted(found, key=lambda r: (r.path, r.method))


ROUTES = routes()
UNSAFE = [r for r in ROUTES if r.method in {"POST", "PUT", "PATCH", "DELETE"}]
SAFE = [r for r in ROUTES if r.method == "GET"]


PLAUSIBLE = {
    "title": "Fuzz",
    "name": "Gold",
    "price": "100",
    "amount": "10",
    "code": "FUZZ10",
    "kind": "percent",
    "scope": "all",
    "max_uses": "5",
    "email": "someone@example.com",
    "password": "correct horse battery",
    "current_password": "correct horse battery",
    "chapters": "0:00 Intro\n1:00 End",
    "language": "en",
    "label": "English",
    "pack": "p100",
    "rent_day": "10",
    "rent_month": "20",
    "lifetime": "50",
    "preview_seconds": "0",
    "reason": "spam",
    "message": "hi",
    "next": "/",
    "currency": "USD",
}
SINGLE = [*NUMBERS, "", "garbage", LONG, CONTROL]


def plausible(name: str, ids: dict[str, str]) -> str:
    return ids.get(name) or PLAUSIBLE.get(name, "1")


def bodies(fields: tuple[str, ...], ids: dict[str, str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(what it is, httpx request arguments) for each hostile body of a route with these form fields:
    the whole body hostile, then each field hostile in turn with the others plausible (`ids` gives the
    real objects' ids for fields such as `tier` or `video`), so that a value reaches the rule that
    reads it."""
    ids = ids or {}
    names = fields or ("file", "language", "label", "name", "amount", "title", "key")
    urlencoded = {"content-type": "application/x-www-form-urlencoded"}
    cases: list[tuple[str, dict[str, Any]]] = [
        ("empty body", {}),
        ("empty form", {"content": b"", "headers": urlencoded}),
        ("form without its fields", {"data": {"unrelated": "1"}}),
        ("10,000-character values", {"data": dict.fromkeys(names, LONG)}),
        ("control characters", {"data": dict.fromkeys(names, CONTROL)}),
        (
            "invalid UTF-8 (percent-encoded)",
            {"content": "&".join(f"{n}=%FF%FE%C0%AE" for n in names).encode(), "headers": urlencoded},
        ),
        ("invalid UTF-8 (raw)", {"content": b"\xff\xfe\x00" + names[0].encode() + b"=\xc3\x28", "headers": urlencoded}),
        (
            "duplicated fields",
            {"content": "&".join(f"{n}={v}" for n in names for v in ("1", "2")).encode(), "headers": urlencoded},
        ),
        ("JSON where a form is expected", {"json": dict.fromkeys(names, "1")}),
        ("JSON with wrong types", {"json": {n: [{"x": None}] for n in names}}),
        ("JSON array", {"json": [1, 2]}),
        ("broken JSON", {"content": b'{"a": ', "headers": {"content-type": "application/json"}}),
        ("JSON null", {"content": b"null", "headers": {"content-type": "application/json"}}),
        ("text/plain", {"content": b"a=1", "headers": {"content-type": "text/plain"}}),
        ("unknown content type", {"content": b"\x00\x01", "headers": {"content-type": "application/x-hypha;;;"}}),
        ("multipart without boundary", {"content": b"--x\r\n", "headers": {"content-type": "multipart/form-data"}}),
        (
            "broken multipart",
            {"content": b"--x\r\ngarbage", "headers": {"content-type": "multipart/form-data; boundary=x"}},
        ),
        (
            "multipart to a urlencoded route",
            {"data": dict.fromkeys(names, "1"), "files": {"file": ("x.bin", b"\x00\xff", "application/octet-stream")}},
        ),
        (
            "urlencoded with a strange charset",
            {
                "content": f"{names[0]}=1".encode(),
                "headers": {"content-type": f"{urlencoded['content-type']}; charset=x"},
            },
        ),
    ]
    cases += [(f"number {value!r}", {"data": dict.fromkeys(names, value)}) for value in NUMBERS]
    base = {n: plausible(n, ids) for n in names}
    cases += [(f"{n}={v[:20]!r}", {"data": {**base, n: v}}) for n in fields for v in SINGLE]
    return cases


def queries(names: tuple[str, ...]) -> list[tuple[str, str]]:
    """(what it is, raw query string) for each hostile query of a GET route reading these parameters."""
    names = names or ("page",)
    values = [*NUMBERS, "garbage", "", "\x00", "a\x00b\x1b", "a" * 4000]
    cases = [(f"{n}={v[:20]!r}", str(httpx.QueryParams({n: v}))) for n in names for v in values]
    cases += [(f"{n}=invalid UTF-8", f"{n}=%FF%FE%C0%AE") for n in names]
    cases += [(f"{n} repeated", "&".join(f"{n}={i}" for i in range(50))) for n in names]
    cases += [("page=-1&before=garbage&after=garbage", "page=-1&before=garbage&after=garbage&limit=99999999999")]
    return cases


def fill(template: str, stage: Stage, ids: dict[str, str]) -> str:
    known = {
        "public_id": stage.public_id,
        "target": stage.public_id,
        "video_id": stage.video_id,
        "subject_id": stage.video_id,
        "creator_id": str(stage.creator.id),
        "user_id": str(stage.viewer.id),
        "viewer_id": str(stage.viewer.id),
        "kind": "video",
        "file_path": "css/hypha.css",
        "path": "master.m3u8",
        "language": "en",
    }
    if template.startswith(("/studio/offers/bundles/", "/b/")):
        known["public_id"] = ids["bundle"]
    if template.startswith("/staff/"):  # what staff take down or suspend is not what the others use
        known["video_id"] = known["subject_id"] = ids["victim_video"]
        known["user_id"] = ids["victim_user"]
    known |= {"tier_id": ids["tier"], "code_id": ids["code_id"]}
    known["payment_id"] = ids["paid_payment" if template.startswith("/sandbox-pay/admin/") else "open_payment"]

    def value(match: re.Match[str]) -> str:
        return known.get(match.group(1)) or (str(uuid4()) if ":uuid" in match.group(0) else "x")

    return PARAM.sub(value, template)


# What a refused request must leave as it was: money and what money buys or sells.
WATCHED = [
    "ledger_transfers",
    "tips",
    "gifts",
    "unlocks",
    "entitlements",
    "wallet_purchases",
    "bundle_purchases",
    "promo_redemptions",
    "memberships",
    "membership_charges",
    "payouts",
    "video_pricing",
    "bundles",
    "promo_codes",
    "membership_tiers",
]
SNAPSHOT = "SELECT " + ", ".join(
    f"(SELECT md5(coalesce(string_agg(t::text, ',' ORDER BY t::text), '')) FROM {t} t)" for t in WATCHED
)


async def transfers(pg: Injector) -> int:
    found: int = await pg.get(Database).fetchval("SELECT count(*) FROM ledger_transfers")
    return found


async def snapshot(pg: Injector) -> dict[str, str]:
    """Each watched table's rows, as a digest."""
    row = await pg.get(Database).fetchrow(SNAPSHOT)
    assert row is not None
    return dict(zip(WATCHED, row, strict=True))


async def send(client: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> httpx.Response | str:
    headers = {"x-csrftoken": client.cookies.get("csrftoken") or "", **kwargs.pop("headers", {})}
    try:
        return await asyncio.wait_for(client.request(method, url, headers=headers, **kwargs), PER_REQUEST)
    except TimeoutError:
        return "hang"


APPS: dict[tuple[int, int], Litestar] = {}


async def app_for(pg: Injector, settings: Settings) -> Litestar:
    """One app (its features started once) for the whole module: building one per route would be most
    of the run."""
    key = (id(pg), id(settings))
    if key not in APPS:
        APPS.clear()
        APPS[key] = create_app(settings, pg)
        for feature in features_for(settings):
            for hook in feature.on_startup:
                await hook(pg)
    return APPS[key]


Cases = list[tuple[str, dict[str, Any]]]


async def objects(pg: Injector, settings: Settings, stage: Stage) -> dict[str, str]:
    """Real objects for the routes that name one (a bundle, a membership tier, a code), made the way the
    creator makes them, and a second creator with a video for staff to take down and suspend; their
    ids fill path parameters and form fields (so a hostile value reaches the rules past the look-up)."""
    db = pg.get(Database)
    transport = httpx.ASGITransport(app=await app_for(pg, settings), client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, stage.creator))
        await csrf_token(client, "/login")
        made = [
            await post_form(client, "/studio/offers/bundles", {"title": "Fuzz bundle", "price": "100"}),
            await post_form(client, "/studio/memberships", {"name": "Gold", "price": "100", "scope": "all"}),
            await post_form(
                client,
                "/studio/offers/codes",
                {
                    "code": "FUZZ10",
                    "kind": "percent",
                    "amount": "10",
                    "target": f"video:{stage.public_id}",
                    "max_uses": "5",
                },
            ),
        ]
        bundle = await db.fetchval("SELECT public_id FROM bundles LIMIT 1")
        made.append(await post_form(client, f"/studio/offers/bundles/{bundle}/videos", {"video": stage.public_id}))
        assert all(r.status_code in (200, 303) for r in made), [r.text[:300] for r in made]
        payments = await sandbox_payments(pg, settings, stage)
    victim = await person(pg, "Fuzz Victim", creator=True)
    victim_video = await add_synthetic_video(pg, victim.id)
    return {
        "bundle": bundle,
        "tier": str(await db.fetchval("SELECT id FROM membership_tiers LIMIT 1")),
        "code_id": str(await db.fetchval("SELECT id FROM promo_codes LIMIT 1")),
        "video": stage.public_id,
        "creator": str(stage.creator.id),
        "target": f"video:{stage.public_id}",
        "key": str(uuid4()),
        "victim_user": str(victim.id),
        "victim_video": str(victim_video.video.id),
        **payments,
    }


async def sandbox_payments(pg: Injector, settings: Settings, stage: Stage) -> dict[str, str]:
    """Two of the viewer's point purchases at the sandbox vendor: one paid (what its console refunds and
    disputes), one still open (what its checkout page pays, declines or cancels)."""
    db = pg.get(Database)
    transport = httpx.ASGITransport(app=await app_for(pg, settings), client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, stage.viewer))
        await csrf_token(client, "/login")
        found = []
        for pay in (True, False):  # one purchase open at a time: the first is paid before the second
            response = await post_form(
                client, "/wallet/checkout", {"pack": "p100", "key": str(uuid4()), "price": "100", "currency": "USD"}
            )
            assert response.status_code in (200, 303), response.text[:300]
            found.append(await db.fetchval("SELECT id FROM sandbox_payments ORDER BY created_at DESC LIMIT 1"))
            if pay:
                paid = await post_form(client, f"/sandbox-pay/checkout/{found[0]}/pay", {})
                assert paid.status_code in (200, 303), paid.text[:300]
    return {"paid_payment": str(found[0]), "open_payment": str(found[1])}


async def run(
    pg: Injector, settings: Settings, stage: Stage, ids: dict[str, str], matrix: list[tuple[Route, Cases]]
) -> list[str]:
    """Every case of every route, as the viewer and as the creator (staff): one signed-in client each."""
    await pg.get(Database).execute("UPDATE users SET is_staff = true WHERE id = $1", stage.creator.id)
    failures: list[str] = []
    transport = httpx.ASGITransport(app=await app_for(pg, settings), client=("127.0.0.1", 50000))
    for who, htmx in ((stage.viewer, False), (stage.creator, True)):  # a plain post and an htmx one
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
            if htmx:
                client.headers["hx-request"] = "true"
            client.cookies.set(SESSION_COOKIE, await session_token(pg, who))
            await csrf_token(client, "/login")
            for route, cases in matrix:
                url = fill(route.path, stage, ids)
                for what, kwargs in cases:
                    before = await snapshot(pg)
                    request = dict(kwargs)
                    query = request.pop("query", "")
                    response = await send(client, route.method, f"{url}?{query}" if query else url, **request)
                    if isinstance(response, str):
                        failures.append(f"{route} [{what}]: {response}")
                        continue
                    if response.status_code >= 500:
                        failures.append(f"{route} [{what}] -> {response.status_code}: {response.text[:200]}")
                    elif response.status_code >= 400 and (after := await snapshot(pg)) != before:
                        changed = sorted(t for t in WATCHED if after[t] != before[t])
                        failures.append(f"{route} [{what}] -> {response.status_code} but {changed} changed")
                    if route.path in WEBHOOKS and not 400 <= response.status_code < 500:
                        failures.append(f"{route} [{what}] -> {response.status_code}: a webhook's garbage is a 4xx")
    return failures


def groups(routes: list[Route]) -> dict[str, list[Route]]:
    """The routes by the first segment of their path: one test (one fresh database) per group keeps the
    matrix fast; a failure still names the route and the input."""
    found: dict[str, list[Route]] = {}
    for route in routes:
        found.setdefault("/" + route.path.split("/")[1], []).append(route)
    return found


BODY_GROUPS = groups(UNSAFE)
QUERY_GROUPS = groups(SAFE)


@pytest.mark.parametrize("group", sorted(BODY_GROUPS))
async def test_hostile_bodies_are_never_a_server_error(
    pg: Injector, settings: Settings, stage: Stage, group: str
) -> None:
    ids = await objects(pg, settings, stage)
    matrix = [(route, bodies(route.fields, ids) + query_cases(route.query)) for route in BODY_GROUPS[group]]
    failures = await run(pg, settings, stage, ids, matrix)
    assert failures == [], "\n".join(failures)


@pytest.mark.parametrize("group", sorted(QUERY_GROUPS))
async def test_hostile_query_strings_are_never_a_server_error(
    pg: Injector, settings: Settings, stage: Stage, group: str
) -> None:
    ids = await objects(pg, settings, stage)
    failures = await run(pg, settings, stage, ids, [(route, query_cases(route.query)) for route in QUERY_GROUPS[group]])
    assert failures == [], "\n".join(failures)


def query_cases(names: tuple[str, ...]) -> Cases:
    return [(what, {"query": query}) for what, query in queries(names)]


def test_the_matrix_covers_the_app() -> None:
    assert len(UNSAFE) >= 60
    assert len(SAFE) >= 60
    assert ("POST", "/v/{public_id:str}/tip") in {(r.method, r.path) for r in UNSAFE}
    tip = next(r for r in UNSAFE if r.path == "/v/{public_id:str}/tip")
    assert "amount" in tip.fields
    wallet = next(r for r in SAFE if r.path == "/wallet")
    assert "before" in wallet.query
    assert json.dumps(bodies(tip.fields)[3][1]["data"])  # the long values are plain text


def test_no_form_field_is_named_like_a_dependency_of_its_route() -> None:
    """Litestar files a body field's validation error under the field's name, and an error under a
    dependency's name as the server's own fault: a field named like a dependency sent twice was a 500
    (`chapters`, sent twice to the studio's chapters form, beside the `chapters` service)."""
    clashes = [f"{r}: {sorted(set(r.fields) & r.dependencies)}" for r in UNSAFE if set(r.fields) & r.dependencies]
    assert clashes == []


def b64(value: str | bytes) -> str:
    return base64.b64encode(value.encode() if isinstance(value, str) else value).decode()


async def test_hostile_tus_creation_headers_are_never_a_server_error(
    pg: Injector, settings: Settings, stage: Stage
) -> None:
    """The tus creation request (`POST /uploads`) reads its input from headers: the same kinds of values there."""
    video = stage.video_id
    lengths = [*NUMBERS, "", "garbage", "1" * 400, " 10 ", "0x10"]
    metadata = [
        "",
        "video",
        "video !!!",
        "video " + b64(b"\xff\xfe"),
        "video " + b64("\x00"),
        f"video {b64('x' * 10_000)}",
        f"video {b64(video)},filename " + b64("a\x00b\x1b.mp4"),
        f"video {b64(video)},filename {b64('x' * 10_000)}",
        f"video {b64(video)},video {b64('x')}",
        f"video {b64(video + chr(0))}",
        ",,,, ,",
    ]
    failures = []
    transport = httpx.ASGITransport(app=await app_for(pg, settings), client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, stage.creator))
        await csrf_token(client, "/login")
        cases = [(length, f"video {b64(video)}") for length in lengths] + [("10", m) for m in metadata]
        for length, meta in cases:
            headers = {"tus-resumable": "1.0.0", "upload-length": length.encode(), "upload-metadata": meta}
            response = await send(client, "POST", "/uploads", headers=headers)
            if isinstance(response, str) or response.status_code >= 500:
                failures.append(f"POST /uploads length={length[:20]!r} metadata={meta[:60]!r} -> {response}")
    assert failures == [], "\n".join(failures)


async def test_signed_sandbox_webhooks_with_hostile_content_are_never_a_server_error(
    pg: Injector, settings: Settings, stage: Stage
) -> None:
    """A webhook whose signature holds is the vendor's word, but its fields are still read at the edge:
    odd ids, types and times are a 4xx or a 2xx that changes nothing, never a 500; so are garbage
    signature headers."""
    ids = await objects(pg, settings, stage)
    secret = await pg.get(SandboxVendor).webhook_secret()
    now = int(time.time())
    odd = ["", "\x00", "a\x00b", "x" * 10_000, "\u202e", "1e309", "-0", "９"]
    events: list[Any] = [
        *(
            {"id": v, "type": "checkout.session.completed", "data": {"object": {"id": ids["paid_payment"]}}}
            for v in odd
        ),
        *({"id": "evt_1", "type": v, "data": {"object": {"id": ids["paid_payment"]}}} for v in odd),
        *({"id": f"evt_{i}", "type": "charge.refunded", "data": {"object": {"id": v}}} for i, v in enumerate(odd)),
        *(
            {"id": "evt_t", "type": "checkout.session.completed", "data": {"object": {"id": "x"}}, "created": v}
            for v in [-1, 10**30, 1e308, "x"]
        ),
        {"id": "evt_n", "type": "x", "data": {"object": None}},
        [],
        "x",
    ]
    failures = []
    transport = httpx.ASGITransport(app=await app_for(pg, settings), client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        before = await transfers(pg)
        statuses: set[int] = set()
        for event in events:
            body = json.dumps(event).encode()
            response = await send(
                client, "POST", "/webhooks/payments", content=body, headers={SIGNATURE_HEADER: sign(secret, now, body)}
            )
            if isinstance(response, str) or response.status_code >= 500:
                failures.append(f"signed {body[:120]!r} -> {response}")
            else:
                statuses.add(response.status_code)
        for header in ["t=1e309,v1=x", "t=99999999999999999999999,v1=x", "t=-0,v1=", "t=９,v1=x", "v1=x,t=", ","]:
            response = await send(
                client, "POST", "/webhooks/payments", content=b"{}", headers={SIGNATURE_HEADER: header.encode()}
            )
            if isinstance(response, str) or not 400 <= response.status_code < 500:
                failures.append(f"signature {header!r} -> {response}")
        assert await transfers(pg) == before
    assert failures == [], "\n".join(failures)
    assert any(status < 300 for status in statuses), statuses  # the signatures held: the bodies were read


def png_header(width: int, height: int) -> bytes:
    """A PNG's signature and IHDR chunk claiming these dimensions, and no pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


async def test_hostile_multipart_files_and_fields_are_never_a_server_error(
    pg: Injector, settings: Settings, stage: Stage
) -> None:
    """The studio's upload forms (subtitles, an audio track, the cover) read a file and text fields from
    a multipart body: hostile files, hostile fields beside a plausible file, and a field sent twice."""
    vtt = b"WEBVTT\n\n00:00.000 --> 00:01.000\nHello\n"
    files = [
        b"",
        b"\x00" * 100,
        b"\xff\xfe\xfd garbage",
        b"WEBVTT\n\n99999999999999999999:00:00.000 --> 1e309\nx\n",
        b"WEBVTT\n\n-0:00.000 --> \xef\xbc\x99:00.000\nx\n",
        b"1\n00:00:00,000 --> 00:00:01,000\n" + b"a\x00b" * 3000 + b"\n",
        b"WEBVTT\n\n" + b"00:00.000 --> 00:01.000\n" + b"x" * 10_000 + b"\n",
        png_header(100_000, 100_000),
        png_header(0, 0),
        png_header(2**31 - 1, 1),
        b"\xff\xd8\xff\xe0 truncated jpeg",
    ]
    routes = {
        "subtitles": ("language", "label"),
        "audio": ("language", "name"),
        "cover": (),
    }
    failures = []
    transport = httpx.ASGITransport(app=await app_for(pg, settings), client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, stage.creator))
        client.headers["hx-request"] = "true"  # the panel answers htmx with the error inline (a plain post: 303)
        await csrf_token(client, "/login")
        for kind, fields in routes.items():
            url = f"/studio/videos/{stage.video_id}/{kind}"
            plausible_fields = {"language": "fr", "label": "Français", "name": "Commentary"}
            cases: list[tuple[str, dict[str, Any]]] = [
                (f"file {content[:30]!r}", {"files": {"file": ("x.vtt", content)}, "data": plausible_fields})
                for content in files
            ]
            # each hostile field beside a language not added yet (a language is added once, then a 409)
            languages = iter(["de", "es", "it", "pt", "nl", "sv", "pl", "ja", "ko", "zh", "da", "fi", "no", "cs"] * 2)
            cases += [
                (
                    f"{field}={value[:20]!r}",
                    {
                        "files": {"file": ("x.vtt", vtt)},
                        "data": {**plausible_fields, "language": next(languages), field: value},
                    },
                )
                for field in fields
                for value in SINGLE
            ]
            cases.append(("file twice", {"files": [("file", ("a.vtt", vtt)), ("file", ("b.vtt", vtt))]}))
            cases.append(
                ("fields twice", {"files": [("file", ("a.vtt", vtt)), *((f, (None, "en")) for f in fields * 2)]})
            )
            for what, kwargs in cases:
                response = await send(client, "POST", url, **kwargs)
                if isinstance(response, str) or response.status_code >= 500:
                    failures.append(f"POST {url} [{what}] -> {response}")
    assert failures == [], "\n".join(failures)
