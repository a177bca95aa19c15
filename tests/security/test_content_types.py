"""Every non-HTML response names its charset once: text-like bodies (WebVTT, playlists, CSV, JSON, SSE,
plain text) carry exactly one `charset` parameter, binary ones (segments, the key, images) none.

Walked on a live server, as a signed-in creator who owns a priced video with a free preview and
subtitles: every GET route of the application without a path parameter, and the object routes with
their real paths (issue 11, item 9: `/v/<id>/hls/subs/*.vtt` said `charset=utf-8` twice).
"""

from __future__ import annotations

import re

import httpx
import pytest
from injector import Injector
from litestar.routes import HTTPRoute

from core.settings import Settings
from core.web import SESSION_COOKIE, one_charset
from features.bootstrap import create_app
from tests.support.live import live_app
from tests.support.videos import add_synthetic_video, person, price_and_publish, session_token

TEXT_LIKE = re.compile(
    r"^(text/.+|application/(json|.+\+json|vnd\.apple\.mpegurl|x-mpegurl|javascript|xml|.+\+xml))$", re.IGNORECASE
)


def charsets(content_type: str) -> list[str]:
    return [p.strip() for p in content_type.split(";")[1:] if p.strip().lower().startswith("charset")]


def problems_of(path: str, response: httpx.Response) -> list[str]:
    content_type = response.headers.get("content-type", "")
    main = content_type.split(";", 1)[0].strip().lower()
    if not content_type or main == "text/html":
        return []
    found = charsets(content_type)
    if len(response.headers.get_list("content-type")) != 1:
        return [f"{path}: several Content-Type headers {response.headers.get_list('content-type')}"]
    if TEXT_LIKE.match(main):
        return [] if found == ["charset=utf-8"] else [f"{path}: {content_type!r} should say charset=utf-8 once"]
    return [] if not found else [f"{path}: binary {content_type!r} carries a charset"]


async def test_every_non_html_response_names_its_charset_once(pg: Injector, settings: Settings) -> None:
    creator = await person(pg, "Creator", creator=True)
    made = await add_synthetic_video(pg, creator.id)
    await price_and_publish(pg, creator.id, made.video, preview=4)
    pid = made.video.public_id
    app = create_app(settings, pg)
    plain_gets = sorted(
        {
            route.path
            for route in app.routes
            if isinstance(route, HTTPRoute) and "{" not in route.path and "GET" in route.methods
        }
    )
    object_paths = [
        f"/v/{pid}/hls/master.m3u8",
        f"/v/{pid}/hls/480p/index.m3u8",
        f"/v/{pid}/hls/subs/en.m3u8",
        f"/v/{pid}/hls/subs/en.vtt",
        f"/v/{pid}/hls/480p/seg_00000.ts",
        f"/v/{pid}/preview/master.m3u8",
        f"/v/{pid}/preview/audio/index.m3u8",
        f"/v/{pid}/preview/subs/en.vtt",
        f"/v/{pid}/preview/audio/seg_00000.ts",
        f"/v/{pid}/preview/audio/seg_00002.ts",  # refused: an error body
        f"/v/{pid}/hls/nothing.vtt",  # not found: an error body
        f"/v/{pid}/key",
        f"/v/{pid}/cover",
        f"/studio/videos/{made.video.id}/cover",
        "/studio/payouts.csv",
        "/studio/analytics/export.csv",
        "/wallet/statement.csv",
        "/static/htmx.min.js",
        "/nowhere",
    ]
    problems: list[str] = []
    seen: set[str] = set()
    async with live_app(settings, pg) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, creator))
        await client.get("/login")
        for path in [*plain_gets, *object_paths]:
            async with client.stream("GET", path) as response:  # headers only: event streams never end
                assert response.status_code < 500, (path, response.status_code)
                problems += problems_of(path, response)
                seen.add(response.headers.get("content-type", "").split(";")[0].strip())
        token = client.cookies.get("csrftoken") or ""
        heartbeat = await client.post(f"/v/{pid}/heartbeat", content=b"{", headers={"x-csrftoken": token})
        problems += problems_of("POST heartbeat (bad JSON)", heartbeat)
        seen.add(heartbeat.headers.get("content-type", "").split(";")[0].strip())
    assert problems == [], "\n".join(problems)
    # the walk reached every kind of body the brief names
    assert {
        "text/vtt",
        "application/vnd.apple.mpegurl",
        "text/csv",
        "application/json",
        "application/octet-stream",
        "text/event-stream",
        "video/mp2t",
    } <= seen, seen


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("text/vtt; charset=utf-8; charset=utf-8", "text/vtt; charset=utf-8"),
        ("text/csv;charset=utf-8;  Charset=UTF-8", "text/csv; charset=utf-8"),
        ("application/json", "application/json; charset=utf-8"),
        ("application/vnd.apple.mpegurl", "application/vnd.apple.mpegurl; charset=utf-8"),
        ("text/plain; version=0.0.4; charset=utf-8", "text/plain; version=0.0.4; charset=utf-8"),
        ("application/problem+json", "application/problem+json; charset=utf-8"),
        ("application/octet-stream", "application/octet-stream"),
        ("video/mp2t", "video/mp2t"),
        ("multipart/form-data; boundary=x", "multipart/form-data; boundary=x"),
    ],
)
def test_a_content_type_names_its_charset_once(given: str, sent: str) -> None:
    assert one_charset(given) == sent
