"""Authorization on every object route, enumerated from the application's own route table.

Every route whose path holds a parameter ({video_id}, {public_id}, {upload_id}, {payout_id} …) must
appear in MATRIX below, which says for each principal what it may get: the owner of the object, another
user (a creator too, so role guards cannot hide a missing ownership check), an entitled viewer where it
matters, and an anonymous visitor. A route added without an entry fails
`test_every_object_route_is_in_the_matrix`. Refused requests must not carry the object's data.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import httpx
import pytest
from injector import Injector
from litestar.routes import HTTPRoute

from core.clock import FrozenClock
from core.db import Database
from core.identity import Principal
from core.ids import public_id
from core.settings import Settings
from core.web import SESSION_COOKIE
from features.accounts.service import AccountService
from features.bootstrap import create_app
from features.ledger.adapters import PostgresLedgerRepository
from features.ledger.model import AccountRef, Leg
from features.ledger.service import LedgerService
from features.memberships.service import MembershipService
from features.offers.service import OffersService
from features.payouts.service import PayoutService
from features.privacy.service import ExportService
from features.studio.service import StudioService
from features.unlocks.service import UnlockService
from features.wallet.service import WalletService
from tests.conftest import app_client
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish, session_token
from tests.support.web import csrf_token

PARAM = re.compile(r"\{[^}]+\}")
SECRET_TITLE = "Draft-only-title-3f9a"
SECRET_DESCRIPTION = "Not for other eyes 77c1"

OK = "ok"  # 2xx or a redirect that is not to /login
DENIED = "denied"  # 403/404 (anonymous: also 401 or a redirect to /login)
ANY = "any"  # not asserted beyond "no server error" (e.g. the owner mutating their own object)
NOT_FOUND = "404"

# (method, path template) → expectation per principal: owner, other, viewer (entitled to `paid`), anon.
# Templates name the objects of `World`: {draft.id} {draft.pid} {paid.pid} {upload} {payout} {purchase}
# {payment} {creator} {session}.
Expect = dict[str, str]
PUBLIC: Expect = {"owner": OK, "other": OK, "viewer": OK, "anon": OK}
OWNER_ONLY: Expect = {"owner": OK, "other": DENIED, "viewer": DENIED, "anon": DENIED}
OWNER_MAY_ACT: Expect = {"owner": ANY, "other": DENIED, "viewer": DENIED, "anon": DENIED}
ENTITLED: Expect = {"owner": OK, "other": DENIED, "viewer": OK, "anon": DENIED}
ANY_USER: Expect = {"owner": ANY, "other": ANY, "viewer": ANY, "anon": DENIED}
NOBODY_BUT_STAFF: Expect = {"owner": DENIED, "other": DENIED, "viewer": DENIED, "anon": DENIED}

MATRIX: dict[tuple[str, str], list[tuple[str, Expect]]] = {
    # the studio: a creator's own videos only
    ("GET", "/studio/videos/{video_id:uuid}/upload"): [("/studio/videos/{draft.id}/upload", OWNER_ONLY)],
    ("GET", "/studio/videos/{video_id:uuid}/chapters"): [("/studio/videos/{draft.id}/chapters", OWNER_ONLY)],
    ("POST", "/studio/videos/{video_id:uuid}/chapters"): [("/studio/videos/{draft.id}/chapters", OWNER_MAY_ACT)],
    ("GET", "/studio/videos/{video_id:uuid}/tile"): [("/studio/videos/{draft.id}/tile", OWNER_ONLY)],
    ("GET", "/studio/videos/{video_id:uuid}/cover"): [("/studio/videos/{paid.id}/cover", OWNER_ONLY)],
    ("POST", "/studio/videos/{video_id:uuid}/cover"): [("/studio/videos/{draft.id}/cover", OWNER_MAY_ACT)],
    ("POST", "/studio/videos/{video_id:uuid}/subtitles"): [("/studio/videos/{draft.id}/subtitles", OWNER_MAY_ACT)],
    ("POST", "/studio/videos/{video_id:uuid}/subtitles/{language:str}/delete"): [
        ("/studio/videos/{draft.id}/subtitles/en/delete", OWNER_MAY_ACT)
    ],
    ("POST", "/studio/videos/{video_id:uuid}/audio"): [("/studio/videos/{paid.id}/audio", OWNER_MAY_ACT)],
    ("POST", "/studio/videos/{video_id:uuid}/retry"): [("/studio/videos/{draft.id}/retry", OWNER_MAY_ACT)],
    ("GET", "/studio/analytics/videos/{video_id:uuid}"): [("/studio/analytics/videos/{paid.id}", OWNER_ONLY)],
    # portability: a creator exports only their own published videos; the root is for those who may watch
    ("GET", "/studio/export/videos/{video_id:uuid}/car"): [("/studio/export/videos/{paid.id}/car", OWNER_ONLY)],
    ("GET", "/studio/export/videos/{video_id:uuid}/json"): [("/studio/export/videos/{paid.id}/json", OWNER_ONLY)],
    ("GET", "/v/{public_id:str}/ipfs"): [("/v/{paid.pid}/ipfs", ENTITLED), ("/v/{draft.pid}/ipfs", NOBODY_BUT_STAFF)],
    # tus: uploads belong to the creator who opened them
    ("HEAD", "/uploads/{upload_id:str}"): [("/uploads/{upload}", OWNER_ONLY)],
    ("PATCH", "/uploads/{upload_id:str}"): [("/uploads/{upload}", OWNER_MAY_ACT)],
    ("DELETE", "/uploads/{upload_id:str}"): [("/uploads/{upload}", OWNER_MAY_ACT)],
    # the video page: public once published, the owner's alone before
    ("GET", "/v/{public_id:str}"): [
        ("/v/{paid.pid}", PUBLIC),
        ("/v/{draft.pid}", {"owner": OK, "other": NOT_FOUND, "viewer": NOT_FOUND, "anon": NOT_FOUND}),
    ],
    ("GET", "/v/{public_id:str}/panel"): [("/v/{paid.pid}/panel", PUBLIC), ("/v/{draft.pid}/panel", OWNER_ONLY)],
    ("GET", "/v/{public_id:str}/cover"): [("/v/{paid.pid}/cover", PUBLIC), ("/v/{draft.pid}/cover", OWNER_MAY_ACT)],
    ("GET", "/v/{public_id:str}/favourite"): [("/v/{paid.pid}/favourite", PUBLIC)],
    ("POST", "/v/{public_id:str}/favourite"): [("/v/{paid.pid}/favourite", ANY_USER)],
    ("POST", "/v/{public_id:str}/unlock"): [("/v/{draft.pid}/unlock", OWNER_MAY_ACT)],
    ("POST", "/v/{public_id:str}/tip"): [("/v/{draft.pid}/tip", OWNER_MAY_ACT)],
    ("GET", "/v/{public_id:str}/pricing"): [("/v/{paid.pid}/pricing", OWNER_ONLY)],
    ("POST", "/v/{public_id:str}/pricing"): [("/v/{paid.pid}/pricing", OWNER_MAY_ACT)],
    ("POST", "/v/{public_id:str}/publish"): [("/v/{draft.pid}/publish", OWNER_MAY_ACT)],
    ("POST", "/v/{public_id:str}/unpublish"): [("/v/{paid.pid}/unpublish", OWNER_MAY_ACT)],
    # HLS: playlists, segments and the key of a paid video go to its owner and entitled viewers only
    ("GET", "/v/{public_id:str}/hls/{path:path}"): [
        ("/v/{paid.pid}/hls/master.m3u8", ENTITLED),
        ("/v/{paid.pid}/hls/480p/index.m3u8", ENTITLED),
        ("/v/{paid.pid}/hls/480p/seg_00000.ts", ENTITLED),
        ("/v/{paid.pid}/hls/audio/seg_00001.ts", ENTITLED),
        ("/v/{paid.pid}/hls/../../../etc/passwd", NOBODY_BUT_STAFF),
    ],
    ("GET", "/v/{public_id:str}/key"): [("/v/{paid.pid}/key", ENTITLED), ("/v/{draft.pid}/key", NOBODY_BUT_STAFF)],
    # seek previews: the storyboard of a paid video goes to its owner and entitled viewers (the synthetic
    # video has none: 404), to others only inside a free preview (none here: refused); chapters are public
    ("GET", "/v/{public_id:str}/thumbnails.vtt"): [
        ("/v/{paid.pid}/thumbnails.vtt", {"owner": NOT_FOUND, "other": DENIED, "viewer": NOT_FOUND, "anon": DENIED}),
        ("/v/{draft.pid}/thumbnails.vtt", NOBODY_BUT_STAFF),
    ],
    ("GET", "/v/{public_id:str}/storyboard/{name:str}"): [
        (
            "/v/{paid.pid}/storyboard/sprite_000.jpg",
            {"owner": NOT_FOUND, "other": DENIED, "viewer": NOT_FOUND, "anon": DENIED},
        ),
        ("/v/{paid.pid}/storyboard/..%2Fmaster.m3u8", NOBODY_BUT_STAFF),
        ("/v/{draft.pid}/storyboard/sprite_000.jpg", NOBODY_BUT_STAFF),
    ],
    ("GET", "/v/{public_id:str}/chapters.vtt"): [
        ("/v/{paid.pid}/chapters.vtt", PUBLIC),
        ("/v/{draft.pid}/chapters.vtt", NOBODY_BUT_STAFF),
    ],
    ("GET", "/v/{public_id:str}/preview/{path:path}"): [
        # no free preview was set: nobody gets one, not even the entitled
        ("/v/{paid.pid}/preview/master.m3u8", {"owner": ANY, "other": DENIED, "viewer": DENIED, "anon": DENIED})
    ],
    ("POST", "/v/{public_id:str}/heartbeat"): [("/v/{draft.pid}/heartbeat", OWNER_MAY_ACT)],
    # offers: a video's bundles and code box follow the video; bundles are public, their editing the creator's
    ("GET", "/offers/v/{public_id:str}"): [
        ("/offers/v/{paid.pid}", PUBLIC),
        ("/offers/v/{draft.pid}", {"owner": OK, "other": NOT_FOUND, "viewer": NOT_FOUND, "anon": NOT_FOUND}),
    ],
    ("POST", "/offers/v/{public_id:str}/code"): [("/offers/v/{draft.pid}/code", OWNER_MAY_ACT)],
    ("POST", "/offers/v/{public_id:str}/unlock"): [("/offers/v/{draft.pid}/unlock", OWNER_MAY_ACT)],
    ("GET", "/b/{public_id:str}"): [("/b/{bundle}", PUBLIC)],
    ("POST", "/b/{public_id:str}/code"): [("/b/{bundle}/code", ANY_USER)],
    ("POST", "/b/{public_id:str}/buy"): [("/b/{bundle}/buy", ANY_USER)],
    ("GET", "/studio/offers/bundles/{public_id:str}"): [("/studio/offers/bundles/{bundle}", OWNER_ONLY)],
    ("POST", "/studio/offers/bundles/{public_id:str}"): [("/studio/offers/bundles/{bundle}", OWNER_MAY_ACT)],
    ("POST", "/studio/offers/bundles/{public_id:str}/videos"): [
        ("/studio/offers/bundles/{bundle}/videos", OWNER_MAY_ACT)
    ],
    ("POST", "/studio/offers/bundles/{public_id:str}/videos/{video_id:str}/remove"): [
        ("/studio/offers/bundles/{bundle}/videos/{paid.pid}/remove", OWNER_MAY_ACT)
    ],
    ("POST", "/studio/offers/codes/{code_id:uuid}/delete"): [("/studio/offers/codes/{code}/delete", OWNER_MAY_ACT)],
    # payouts and purchases
    ("GET", "/studio/payouts/{payout_id:uuid}"): [("/studio/payouts/{payout}", OWNER_ONLY)],
    ("GET", "/wallet/payments/{ref:str}/status"): [("/wallet/payments/{purchase}/status", OWNER_ONLY)],
    # the sandbox vendor's checkout page stands for the vendor's own site: its unguessable id is the
    # capability, as with a hosted checkout. Its admin console is for staff only.
    ("GET", "/sandbox-pay/checkout/{payment_id:str}"): [("/sandbox-pay/checkout/{payment}", PUBLIC)],
    ("POST", "/sandbox-pay/checkout/{payment_id:str}/pay"): [],
    ("POST", "/sandbox-pay/checkout/{payment_id:str}/decline"): [],
    ("POST", "/sandbox-pay/checkout/{payment_id:str}/cancel"): [],
    ("POST", "/sandbox-pay/admin/{payment_id:str}/refund"): [("/sandbox-pay/admin/{payment}/refund", NOBODY_BUT_STAFF)],
    ("POST", "/sandbox-pay/admin/{payment_id:str}/dispute"): [
        ("/sandbox-pay/admin/{payment}/dispute", NOBODY_BUT_STAFF)
    ],
    ("POST", "/sandbox-pay/admin/{payment_id:str}/dispute/win"): [
        ("/sandbox-pay/admin/{payment}/dispute/win", NOBODY_BUT_STAFF)
    ],
    # staff override a creator's quotas
    ("GET", "/staff/quotas/{creator_id:uuid}"): [("/staff/quotas/{creator}", NOBODY_BUT_STAFF)],
    ("POST", "/staff/quotas/{creator_id:uuid}"): [("/staff/quotas/{creator}", NOBODY_BUT_STAFF)],
    # the key-fetch audit: one viewer's key fetches, for staff only
    ("GET", "/staff/key-fetches/{viewer_id:uuid}"): [("/staff/key-fetches/{creator}", NOBODY_BUT_STAFF)],
    # a creator's public channel
    ("GET", "/c/{creator_id:uuid}"): [("/c/{creator}", PUBLIC)],
    # memberships: the join panels are public where the creator or the video is; tiers are their creator's
    ("GET", "/c/{creator_id:uuid}/membership"): [("/c/{creator}/membership", PUBLIC)],
    ("GET", "/v/{public_id:str}/membership"): [
        ("/v/{paid.pid}/membership", PUBLIC),
        ("/v/{draft.pid}/membership", OWNER_ONLY),
    ],
    ("POST", "/studio/memberships/{tier_id:uuid}"): [("/studio/memberships/{tier}", OWNER_MAY_ACT)],
    ("POST", "/studio/memberships/{tier_id:uuid}/retire"): [("/studio/memberships/{tier}/retire", OWNER_MAY_ACT)],
    # reports: anyone signed in may report what they can see (a draft is nothing to report: 404)
    ("GET", "/report/{kind:str}/{target:str}"): [
        ("/report/video/{paid.pid}", {"owner": ANY, "other": OK, "viewer": OK, "anon": DENIED}),
        ("/report/creator/{creator}", {"owner": ANY, "other": OK, "viewer": OK, "anon": DENIED}),
        ("/report/video/{draft.pid}", NOBODY_BUT_STAFF),
    ],
    ("POST", "/report/{kind:str}/{target:str}"): [("/report/video/{draft.pid}", NOBODY_BUT_STAFF)],
    # the moderation desk: staff only, for every object and action
    ("GET", "/staff/reports/{kind:str}/{subject_id:uuid}"): [
        ("/staff/reports/video/{paid.id}", NOBODY_BUT_STAFF),
        ("/staff/reports/creator/{creator}", NOBODY_BUT_STAFF),
    ],
    ("POST", "/staff/reports/{kind:str}/{subject_id:uuid}/dismiss"): [
        ("/staff/reports/video/{paid.id}/dismiss", NOBODY_BUT_STAFF)
    ],
    ("POST", "/staff/videos/{video_id:uuid}/take-down"): [("/staff/videos/{paid.id}/take-down", NOBODY_BUT_STAFF)],
    ("POST", "/staff/videos/{video_id:uuid}/restore"): [("/staff/videos/{paid.id}/restore", NOBODY_BUT_STAFF)],
    ("POST", "/staff/accounts/{user_id:uuid}/suspend"): [("/staff/accounts/{creator}/suspend", NOBODY_BUT_STAFF)],
    ("POST", "/staff/accounts/{user_id:uuid}/unsuspend"): [("/staff/accounts/{creator}/unsuspend", NOBODY_BUT_STAFF)],
    # a data export: its random id is not enough, the session must be its owner's
    ("GET", "/me/export/{export_id:uuid}/download"): [("/me/export/{export}/download", OWNER_ONLY)],
    # the sessions page: a person ends their own sessions only (another's is a 404, as if it were gone)
    ("POST", "/me/sessions/{session_id:uuid}/end"): [("/me/sessions/{session}/end", OWNER_MAY_ACT)],
    # the OpenAPI document (and its viewers) lists every route, the staff ones too: staff only
    ("GET", "/api/schema/{path:str}"): [
        ("/api/schema/openapi.yaml", NOBODY_BUT_STAFF),
        ("/api/schema/swagger", NOBODY_BUT_STAFF),
    ],
}
# Not object routes: static files.
NOT_OBJECT_ROUTES = {"/static/{file_path:path}"}


def object_routes(settings: Settings, injector: Injector) -> set[tuple[str, str]]:
    app = create_app(settings, injector)
    return {
        (method, route.path)
        for route in app.routes
        if isinstance(route, HTTPRoute) and PARAM.search(route.path) and route.path not in NOT_OBJECT_ROUTES
        for method in route.methods - {"OPTIONS"}
        if method != "HEAD" or all(h.http_methods == {"HEAD"} for h in route.route_handlers if "HEAD" in h.http_methods)
    }


def test_every_object_route_is_in_the_matrix(settings: Settings, real_injector: Injector) -> None:
    found = object_routes(settings, real_injector)
    assert len(found) >= 20
    assert sorted(found - MATRIX.keys()) == []
    assert sorted(MATRIX.keys() - found) == []  # the matrix names no route that is gone


@dataclass
class World:
    owner: Principal
    other: Principal
    viewer: Principal
    values: dict[str, str]
    secrets: list[bytes]  # bytes that only the owner (or the entitled) may ever see


async def earn(pg: Injector, creator: UUID, points: int, days_ago: float) -> None:
    clock = FrozenClock(datetime.now(UTC) - timedelta(days=days_ago))
    ledger = LedgerService(PostgresLedgerRepository(pg.get(Database)), clock)
    viewer, key = uuid4(), public_id()
    await ledger.transfer(
        f"buy-{key}", "purchase", [Leg(AccountRef.vendor_clearing(), AccountRef.wallet(viewer), points)]
    )
    await ledger.transfer(
        f"unlock-{key}", "unlock", [Leg(AccountRef.wallet(viewer), AccountRef.earnings(creator), points)]
    )


@pytest.fixture
async def world(pg: Injector) -> World:
    owner = await person(pg, "Owner", creator=True)
    other = await person(pg, "Other", creator=True)
    viewer = await person(pg, "Viewer")
    studio = pg.get(StudioService)
    draft = await studio.create_video(owner.id, SECRET_TITLE, SECRET_DESCRIPTION)
    upload = await studio.create_upload(owner.id, draft.public_id, 4096, "clip.mp4")
    made = await add_synthetic_video(pg, owner.id)
    await price_and_publish(pg, owner.id, made.video)
    await fund(pg, viewer.id, 100)
    await pg.get(UnlockService).unlock(viewer.id, made.video.public_id, "rent_day", "matrix-unlock-key-0001", "50")
    await earn(pg, owner.id, 2000, days_ago=8)
    payout = (await pg.get(PayoutService).request_payout(owner.id, "matrix-payout-key-0001")).payout
    purchase = await pg.get(WalletService).start_purchase(owner.id, "p100", uuid4().hex, "100", "USD")
    tier = await pg.get(MembershipService).create_tier(
        owner.id, name="Matrix", price="30", all_videos=True, video_ids=[]
    )
    export = await pg.get(ExportService).request(owner.id)
    assert (await pg.get(ExportService).build(export.id)) is not None
    offers = pg.get(OffersService)
    bundle = await offers.create_bundle(owner.id, "Matrix bundle", "", "500")
    await offers.add_video(owner.id, bundle.public_id, made.video.public_id)
    code = await offers.create_code(owner.id, "MATRIX", "points", "5", f"video:{made.video.public_id}", "3", "")
    laptop = await session_token(pg, owner)  # another session of the owner's, for the sessions page
    [owner_session] = [s for s in await pg.get(AccountService).list_sessions(owner.id, laptop) if s.current]
    values = {
        "draft.id": str(draft.id),
        "draft.pid": draft.public_id,
        "paid.id": str(made.video.id),
        "paid.pid": made.video.public_id,
        "upload": str(upload.id),
        "payout": str(payout.id),
        "purchase": purchase.payment_ref,
        "payment": purchase.payment_ref,
        "creator": str(owner.id),
        "export": str(export.id),
        "session": str(owner_session.id),
        "bundle": bundle.public_id,
        "code": str(code.id),
        "tier": str(tier.id),
    }
    segment = made.published["480p/seg_00000.ts"]
    return World(
        owner,
        other,
        viewer,
        values,
        [
            SECRET_TITLE.encode(),
            SECRET_DESCRIPTION.encode(),
            made.key.key,
            segment[:64],
            str(payout.id).encode(),
            b"PK\x03\x04",  # the start of a ZIP: a refused export download must not be one
        ],
    )


def render(template: str, values: dict[str, str]) -> str:
    return re.sub(r"\{([a-z.]+)\}", lambda m: values[m.group(1)], template)


@asynccontextmanager
async def browser(pg: Injector, settings: Settings, who: Principal | None) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(pg, settings) as client:
        if who is not None:
            client.cookies.set(SESSION_COOKIE, await session_token(pg, who))
        await csrf_token(client, "/login")
        yield client


def verdict(expect: str, principal: str, response: httpx.Response) -> str | None:
    """None when `response` meets `expect`, else why not."""
    status = response.status_code
    to_login = 300 <= status < 400 and response.headers.get("location", "").startswith("/login")
    if status >= 500:
        return f"server error {status}"
    if expect == ANY:
        return None
    if expect == OK:
        return None if 200 <= status < 400 and not to_login else f"expected success, got {status}"
    if expect == NOT_FOUND:
        return None if status == 404 else f"expected 404, got {status}"
    refused = status in (403, 404) or (principal == "anon" and (status == 401 or to_login))
    return None if refused else f"expected a refusal, got {status}"


async def request(client: httpx.AsyncClient, method: str, path: str) -> httpx.Response:
    headers = {"x-csrftoken": client.cookies.get("csrftoken") or "", "Tus-Resumable": "1.0.0"}
    if method == "PATCH":
        headers |= {"Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
        return await client.request(method, path, headers=headers, content=b"\x00" * 16)
    if path.endswith(("/cover", "/subtitles", "/audio")) and method == "POST":
        files = {"file": ("x.vtt", b"WEBVTT\n\n00:00:00.000 --> 00:00:01.000\nHi\n", "text/vtt")}
        return await client.post(path, headers=headers, data={"language": "en", "label": "English"}, files=files)
    if path.endswith("/heartbeat"):
        return await client.post(path, headers=headers, json={"session": "s" * 16, "position": 1})
    if method in ("POST", "DELETE"):
        # a well-formed body: refusals must come from ownership, not from parsing
        form = {"offer": "rent_day", "amount": "10", "message": "hi", "key": "k" * 20}
        return await client.request(method, path, headers=headers, data=form)
    return await client.request(method, path, headers=headers)


PRINCIPALS = ("other", "viewer", "anon", "owner")  # the owner last: its mutations must not hide others' refusals


async def test_owners_others_and_visitors_get_what_the_matrix_says(
    pg: Injector, settings: Settings, world: World
) -> None:
    who = {"owner": world.owner, "other": world.other, "viewer": world.viewer, "anon": None}
    problems: list[str] = []
    checked = 0
    for principal in PRINCIPALS:
        async with browser(pg, settings, who[principal]) as client:
            for (method, _), cases in MATRIX.items():
                for template, expect in cases:
                    path = render(template, world.values)
                    response = await request(client, method, path)
                    checked += 1
                    why = verdict(expect[principal], principal, response)
                    if why:
                        problems.append(f"{principal}: {method} {template} → {why}")
                    if principal in ("other", "anon") and expect[principal] != OK:
                        leaked = [s for s in world.secrets if s in response.content]
                        if leaked:
                            problems.append(f"{principal}: {method} {template} leaked {leaked!r}")
    assert problems == [], "\n".join(problems)
    assert checked >= 4 * 30


async def test_a_published_free_video_and_its_cover_are_public_by_design(pg: Injector, settings: Settings) -> None:
    owner = await person(pg, "Free", creator=True)
    made = await add_synthetic_video(pg, owner.id, title="Free for all")
    await price_and_publish(pg, owner.id, made.video, free=True, rent_day=None, rent_month=None, lifetime=None)
    pid = made.video.public_id
    async with browser(pg, settings, None) as anon:
        page = await anon.get(f"/v/{pid}")
        cover = await anon.get(f"/v/{pid}/cover")
        master = await anon.get(f"/v/{pid}/hls/master.m3u8")
        key = await anon.get(f"/v/{pid}/key")
    assert page.status_code == 200
    assert "Free for all" in page.text
    assert (cover.status_code, cover.headers["content-type"]) == (200, "image/jpeg")
    assert master.status_code == 200
    assert master.content == made.published["master.m3u8"]
    assert (key.status_code, key.content) == (200, made.key.key)


async def test_the_key_and_segments_refused_to_others_are_never_cacheable(
    pg: Injector, settings: Settings, world: World
) -> None:
    pid = world.values["paid.pid"]
    async with browser(pg, settings, world.other) as other:
        key = await other.get(f"/v/{pid}/key")
        segment = await other.get(f"/v/{pid}/hls/480p/seg_00000.ts")
    assert key.status_code in (402, 403, 404)
    assert "no-store" in key.headers.get("cache-control", "")
    assert segment.status_code in (402, 403, 404)
    assert "public" not in segment.headers.get("cache-control", "")


async def test_a_heartbeat_that_is_not_json_is_bad_input_not_a_server_error(
    pg: Injector, settings: Settings, world: World
) -> None:
    # found by the matrix: litestar's SerializationException is no ValueError, and escaped as a 500
    async with browser(pg, settings, world.viewer) as client:
        response = await client.post(
            f"/v/{world.values['paid.pid']}/heartbeat",
            content=b"\x00not json",
            headers={"x-csrftoken": client.cookies.get("csrftoken") or "", "content-type": "application/json"},
        )
    assert response.status_code == 422
