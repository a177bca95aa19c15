"""WCAG 2.2 AA on every page of the product, checked in a real Chromium with axe-core.

The pages are enumerated from the application's own route table: every GET route without a path
parameter is visited as it is; a route with parameters (or one that needs a query) names the concrete
pages that stand for it in PAGES; a route that is no page (an image, a stream, a fragment, a CSV) says
why in NOT_PAGES. A route added without an entry fails `test_every_page_route_is_checked_or_said_not_to_be_a_page`,
so a new page cannot be forgotten. Each page is checked signed out, as a viewer, as a creator and as
staff, at a desktop width and at 390 px, with axe-core (vendored in tests/e2e/vendor: no network at test
time) limited to the WCAG 2.0/2.1/2.2 A and AA rules; serious and critical findings fail; each has one h1.

No page scrolls sideways at 320 px (WCAG 1.4.10), nor at 768 and 853 px, between the phone layout and the
desktop one; with the text at 200 % (WCAG 1.4.4) none does, no word is cut across two lines and no control
or heading is cut off at the edge of its box.
What axe cannot see is tested beside it: live regions on the tiles that change by themselves, progress
bars that say how far they are, focus that shows, targets of at least 24 × 24 px.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from injector import Injector
from litestar.routes import HTTPRoute
from playwright.async_api import Browser, BrowserContext, Page

from core.db import Database
from core.settings import Settings
from core.web import SESSION_COOKIE
from features.bootstrap import create_app
from features.gifts.service import GiftService
from features.memberships.service import MembershipService
from features.offers.service import OffersService
from features.payouts.service import PayoutService
from features.studio.model import VideoState
from features.studio.service import StudioService
from features.studio.service.chapters import ChapterService
from features.unlocks.service import TipService, UnlockService
from features.wallet.service import WalletService
from tests.security.test_authorization_matrix import earn
from tests.support.browser import settle
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish, session_token

pytestmark = pytest.mark.e2e

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
# WCAG 2.5.3 (the visible label is part of the accessible name), tagged experimental in axe 4.
EXTRA_RULES = {"label-content-name-mismatch": {"enabled": True}}
WIDTHS = {"desktop": {"width": 1280, "height": 800}, "390px": {"width": 390, "height": 844}}
REFLOW = {"width": 320, "height": 640}  # 1280 px at 400 % zoom
# Between the phone layout and the desktop one (a tablet held upright; 1280 px at 150 % zoom): the widest
# header, the creator's and staff's, once pushed every page 11-111 px sideways from 721 to 900 px.
BETWEEN = [{"width": 768, "height": 1024}, {"width": 853, "height": 800}]
# WCAG 1.4.4: text resized to 200 % (the browser's text size, not its zoom: the root font size doubles and
# the viewport stays) loses nothing; checked at the desktop width, where the page keeps its wide layout.
# Data tables are two-dimensional content (WCAG 1.4.10's exception): they may grow wider than the page
# there (on a phone each scrolls inside its own box), so what is in a table is left out of these checks.
TEXT_200 = "document.documentElement.style.setProperty('font-size', '200%', 'important')"
TEXT_100 = "document.documentElement.style.removeProperty('font-size')"
ROLES = ("anon", "viewer", "creator", "staff")
EVERYONE = ROLES

# Routes that need values: the concrete pages standing for them, and who looks at each. Values in
# braces are the stage's (see `seed`): {locked} {unlocked} {preview} {own} {own.id} {ready} {draft.id}
# {creator} {viewer.id} {payout} {payment}.
PAGES: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "/v/{public_id:str}": [
        ("/v/{locked}", ("anon", "viewer")),  # locked, with offers
        ("/v/{unlocked}", ("viewer",)),  # unlocked: the player
        ("/v/{preview}", ("anon", "viewer")),  # locked with a free preview
        ("/v/{own}", ("creator",)),  # the creator's own video
    ],
    "/v/{public_id:str}/pricing": [("/v/{own}/pricing", ("creator",)), ("/v/{ready}/pricing", ("creator",))],
    "/c/{creator_id:uuid}": [("/c/{creator}", EVERYONE)],
    "/studio/videos/{video_id:uuid}/upload": [("/studio/videos/{draft.id}/upload", ("creator",))],
    "/studio/videos/{video_id:uuid}/chapters": [("/studio/videos/{own.id}/chapters", ("creator",))],
    "/studio/analytics/videos/{video_id:uuid}": [("/studio/analytics/videos/{own.id}", ("creator",))],
    "/studio/payouts/{payout_id:uuid}": [("/studio/payouts/{payout}", ("creator",))],
    "/sandbox-pay/checkout/{payment_id:str}": [("/sandbox-pay/checkout/{payment}", ("viewer",))],
    "/wallet/return": [("/wallet/return?ref={payment}", ("viewer",))],
    "/staff/key-fetches/{viewer_id:uuid}": [("/staff/key-fetches/{viewer.id}", ("staff",))],
    "/staff/quotas/{creator_id:uuid}": [("/staff/quotas/{creator}", ("staff",))],
    "/report/{kind:str}/{target:str}": [
        ("/report/video/{locked}", ("viewer",)),
        ("/report/creator/{creator}", ("viewer",)),
    ],
    "/staff/reports/{kind:str}/{subject_id:uuid}": [
        ("/staff/reports/video/{own.id}", ("staff",)),
        ("/staff/reports/creator/{creator}", ("staff",)),
    ],
    "/search": [("/search", EVERYONE), ("/search?q=tides", EVERYONE), ("/search?q=nothing+like+it", ("anon",))],
    "/b/{public_id:str}": [("/b/{bundle}", ("anon", "viewer", "creator"))],
    "/studio/offers/bundles/{public_id:str}": [("/studio/offers/bundles/{bundle}", ("creator",))],
}
# Error pages, which no route names.
ERROR_PAGES: list[tuple[str, tuple[str, ...]]] = [
    ("/no/such/page", EVERYONE),  # 404
    ("/v/nosuchvideo", ("anon",)),  # 404 of an object
    ("/staff/payouts", ("creator",)),  # 403
]
NOT_PAGES: dict[str, str] = {
    "/healthz": "plain text",
    "/readyz": "plain text",
    "/metrics": "Prometheus text",
    "/static/{file_path:path}": "static files",
    "/studio/events": "an SSE stream",
    "/studio/videos/{video_id:uuid}/cover": "an image",
    "/v/{public_id:str}/cover": "an image",
    "/studio/videos/{video_id:uuid}/tile": "an htmx fragment of /studio",
    "/wallet/pill": "an htmx fragment of the header",
    "/wallet/payments/{ref:str}/status": "an htmx fragment of /wallet/return",
    "/wallet/statement.csv": "CSV",
    "/studio/payouts.csv": "CSV",
    "/studio/analytics/export.csv": "CSV",
    "/studio/payouts/statement": "an htmx fragment of /studio/payouts",
    "/v/{public_id:str}/panel": "an htmx fragment of /v/{public_id}",
    "/v/{public_id:str}/favourite": "an htmx fragment of /v/{public_id}",
    "/v/{public_id:str}/hls/{path:path}": "HLS playlists and segments",
    "/v/{public_id:str}/preview/{path:path}": "HLS playlists and segments",
    "/v/{public_id:str}/key": "an AES key",
    "/v/{public_id:str}/thumbnails.vtt": "a WebVTT track",
    "/v/{public_id:str}/chapters.vtt": "a WebVTT track",
    "/v/{public_id:str}/storyboard/{name:str}": "an image",
    "/me/export/{export_id:uuid}/download": "a ZIP file",
    "/offers/v/{public_id:str}": "an htmx fragment of /v/{public_id}",
    "/studio/offers/tile": "an htmx fragment of /dashboard",
    "/studio/offers/sales": "an htmx fragment of /studio/analytics",
    "/studio/offers/sales.csv": "CSV",
    "/c/{creator_id:uuid}/membership": "an htmx fragment of /c/{creator_id}",
    "/v/{public_id:str}/membership": "an htmx fragment of /v/{public_id}",
    "/studio/memberships/tile": "an htmx fragment of /studio/dashboard",
    "/studio/memberships/figures": "an htmx fragment of /studio/analytics",
    "/studio/memberships/figures.csv": "CSV",
    "/me/memberships": "an htmx fragment of /me",
    "/studio/export/library.car": "a CAR file",
    "/studio/export/library.json": "JSON",
    "/studio/export/videos/{video_id:uuid}/car": "a CAR file",
    "/studio/export/videos/{video_id:uuid}/json": "JSON",
    "/v/{public_id:str}/ipfs": "JSON",
}
# The OpenAPI viewers (Swagger, ReDoc, RapiDoc, Elements) are third-party pages for developers.
THIRD_PARTY = re.compile(r"^/api/schema")


# Who may see a route, from its guards: anyone, a signed-in user, a creator, staff.
AUDIENCE_OF_GUARD = {"login_required": "user", "creator_required": "creator", "staff_required": "staff"}
# Who looks at pages of each audience. A creator looks at the creator's pages, staff at staff pages;
# each also at the pages that show them more than a viewer sees (the header's links, /me's panels,
# everyone's outbox). Their other pages are the viewer's, already checked: the test stays fast.
LOOKS_AT = {
    "anon": {"anyone"},
    "viewer": {"anyone", "user"},
    "creator": {"creator"},
    "staff": {"staff"},
}
ALSO = {"creator": {"/", "/me"}, "staff": {"/", "/outbox"}}


def get_routes(settings: Settings, injector: Injector) -> dict[str, str]:
    """Every GET route of the app (but the third-party API viewers) → who may see it."""
    app = create_app(settings, injector)
    routes: dict[str, str] = {}
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or "GET" not in route.methods or THIRD_PARTY.match(route.path):
            continue
        handler = next(h for h in route.route_handlers if "GET" in h.http_methods)
        guards = {getattr(guard, "__name__", "") for guard in handler.resolve_guards()}
        audiences = [AUDIENCE_OF_GUARD[name] for name in AUDIENCE_OF_GUARD if name in guards]
        routes[route.path] = audiences[-1] if audiences else "anyone"
    return routes


def test_every_page_route_is_checked_or_said_not_to_be_a_page(settings: Settings, real_injector: Injector) -> None:
    routes = list(get_routes(settings, real_injector))
    unchecked = [path for path in routes if "{" in path and path not in PAGES and path not in NOT_PAGES]
    assert unchecked == [], "add these routes to PAGES (with the pages that stand for them) or NOT_PAGES"
    assert sorted((PAGES.keys() | NOT_PAGES.keys()) - set(routes)) == []  # nothing names a route that is gone
    assert "/login" in routes
    assert "/studio" in routes


@dataclass
class Stage:
    values: dict[str, str]
    tokens: dict[str, str]  # role → session token (no entry: signed out)

    def url(self, template: str) -> str:
        return re.sub(r"\{([a-z.]+)\}", lambda m: self.values[m.group(1)], template)


async def seed(pg: Injector) -> Stage:
    """A creator with videos in every state, payouts and earnings; a viewer who owns one video and has
    a purchase at the vendor; a staff member; a signed-out visitor."""
    creator = await person(pg, "Mira Okafor", creator=True)
    viewer = await person(pg, "Sam Lee")
    staff = await person(pg, "Root Admin")
    await pg.get(Database).execute("UPDATE users SET is_staff = true WHERE id = $1", staff.id)
    studio = pg.get(StudioService)
    draft = await studio.create_video(creator.id, "A draft with no file yet", "")
    await add_synthetic_video(pg, creator.id, title="Converting now", state=VideoState.CONVERTING)
    await add_synthetic_video(pg, creator.id, title="Waiting in the queue", state=VideoState.UPLOADED)
    ready = await add_synthetic_video(pg, creator.id, title="Ready to price")
    unlocked = await add_synthetic_video(pg, creator.id, title="Tides at dawn")
    await price_and_publish(pg, creator.id, unlocked.video)
    await pg.get(ChapterService).set_chapters(creator.id, unlocked.video.id, "0:00 Dawn\n0:04 The tide\n0:08 Sunrise")
    locked = await add_synthetic_video(pg, creator.id, title="Harbour lights")
    await price_and_publish(pg, creator.id, locked.video)
    preview = await add_synthetic_video(pg, creator.id, title="Night ferry")
    await price_and_publish(pg, creator.id, preview.video, preview=4)
    # a membership tier: its join panel shows on the creator's page and the locked videos' pages
    await pg.get(MembershipService).create_tier(creator.id, name="Patrons", price="120", all_videos=True, video_ids=[])
    await fund(pg, viewer.id, 300)
    await pg.get(UnlockService).unlock(viewer.id, unlocked.video.public_id, "rent_day", "a11y-unlock-key-0001", "50")
    for n, message in enumerate(["Lovely light", "The tide!", "", "More of these, please"]):
        # enough tips that the dashboard's list of the latest scrolls
        await pg.get(TipService).tip(viewer, unlocked.video.public_id, 10, message, f"a11y-tip-key-0000{n}")
    await pg.get(GiftService).send(viewer, "20", "a-friend@example.com", "", "a11y-gift-key-0001")  # the gifts table
    await earn(pg, creator.id, 2500, days_ago=8)
    payout = (await pg.get(PayoutService).request_payout(creator.id, "a11y-payout-key-0001")).payout
    purchase = await pg.get(WalletService).start_purchase(viewer.id, "p100", uuid4().hex, "100", "USD")
    offers = pg.get(OffersService)
    bundle = await offers.create_bundle(creator.id, "The harbour series", "Two films.", "800")
    for video in (locked.video, unlocked.video):
        await offers.add_video(creator.id, bundle.public_id, video.public_id)
    await offers.create_code(creator.id, "HARBOUR10", "percent", "10", f"bundle:{bundle.public_id}", "50", "")
    values = {
        "draft.id": str(draft.id),
        "locked": locked.video.public_id,
        "unlocked": unlocked.video.public_id,
        "preview": preview.video.public_id,
        "own": unlocked.video.public_id,
        "own.id": str(unlocked.video.id),
        "ready": ready.video.public_id,
        "creator": str(creator.id),
        "viewer.id": str(viewer.id),
        "payout": str(payout.id),
        "payment": purchase.payment_ref,
        "bundle": bundle.public_id,
    }
    tokens = {
        "viewer": await session_token(pg, viewer),
        "creator": await session_token(pg, creator),
        "staff": await session_token(pg, staff),
    }
    return Stage(values, tokens)


def pages_for(role: str, routes: dict[str, str], stage: Stage) -> list[str]:
    urls: list[str] = []
    for path, audience in routes.items():
        if path in NOT_PAGES:
            continue
        if path in PAGES:
            urls += [stage.url(template) for template, roles in PAGES[path] if role in roles]
        elif "{" not in path and (audience in LOOKS_AT[role] or path in ALSO.get(role, set())):
            urls.append(path)
    urls += [stage.url(template) for template, roles in ERROR_PAGES if role in roles]
    return urls


async def role_context(chromium: Browser, live_server: str, stage: Stage, role: str) -> BrowserContext:
    context = await chromium.new_context(base_url=live_server, viewport=WIDTHS["desktop"])
    context.set_default_timeout(15_000)
    # Through the DevTools protocol, so the pages' own Content-Security-Policy stays in force.
    await context.add_init_script(path=AXE)
    if role in stage.tokens:
        await context.add_cookies(
            [{"name": SESSION_COOKIE, "value": stage.tokens[role], "url": live_server, "httpOnly": True}]
        )
    return context


async def settled(page: Page) -> None:
    """The page has loaded and htmx has no request, swap or settle under way."""
    await page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
        " && (window.htmx !== undefined || !document.querySelector('script[src*=htmx]'))"
    )
    await page.wait_for_timeout(50)


async def axe_findings(page: Page) -> list[dict[str, Any]]:
    await settle(page)
    result: dict[str, Any] = await page.evaluate(
        """async ([tags, rules]) => {
            const only = {type: 'tag', values: tags};
            const result = await axe.run(document, {runOnly: only, rules, resultTypes: ['violations']});
            return {violations: result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map(n => ({target: n.target.join(' '), summary: n.failureSummary}))
            }))};
        }""",
        [TAGS, EXTRA_RULES],
    )
    return list(result["violations"])


# How far the page scrolls sideways, and the element reaching furthest right (to name the culprit).
SIDEWAYS = """
(butTables) => {
  const overflow = document.documentElement.scrollWidth - innerWidth;
  if (overflow <= 0) return null;
  let widest = null;
  for (const el of document.querySelectorAll("body *")) {
    const right = el.getBoundingClientRect().right;
    if (!widest || right > widest.right) widest = {right, what: el.outerHTML.slice(0, 120), el};
  }
  if (butTables && widest && widest.el.closest("table")) return null;
  return `scrolls ${overflow} px sideways; furthest right: ${widest && widest.what}`;
}
"""


# Words of running text broken inside themselves across two lines (the stylesheet's overflow-wrap lets a
# word break rather than push a narrow box sideways; a column too narrow for its words then cuts them).
# Letters only: identifiers, addresses and numbers may break anywhere.
BROKEN_WORDS = """
() => {
  const broken = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (!node.parentElement.getClientRects().length || node.parentElement.closest('.sr-only, code, table')) continue;
    const pattern = /(?<![\\w@.-])[A-Za-z]{3,20}(?![\\w@.-])/g;
    let match;
    while ((match = pattern.exec(node.data))) {
      const range = document.createRange();
      range.setStart(node, match.index);
      range.setEnd(node, match.index + match[0].length);
      const rects = [...range.getClientRects()].filter(r => r.width > 0);
      if (rects.length > 1 && rects[rects.length - 1].top - rects[0].top > 2) {
        broken.add(`"${match[0]}" in ${node.parentElement.outerHTML.slice(0, 80)}`);
      }
    }
  }
  return [...broken].slice(0, 3);
}
"""


# Controls, headings and labels cut off by a box that hides what overflows it (a card's rounded corners):
# text made larger must not lose them. Truncation the page means (an ellipsis) is left alone.
CLIPPED = """
() => {
  const clipped = new Set();
  const hides = el => ['hidden', 'clip'].includes(getComputedStyle(el).overflowX);
  const texts = 'a, button, summary, label, h1, h2, h3, .badge, .stat-value, .stat-label';
  for (const el of document.body.querySelectorAll(texts)) {
    if (!el.getClientRects().length || !el.textContent.trim() || el.closest('.sr-only')) continue;
    if (getComputedStyle(el).textOverflow === 'ellipsis') continue;
    const box = el.getBoundingClientRect();
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      if (!hides(up) || getComputedStyle(up).textOverflow === 'ellipsis') continue;
      const edge = up.getBoundingClientRect();
      if (box.right > edge.right + 1 || box.left < edge.left - 1) clipped.add(el.outerHTML.slice(0, 80));
      break;
    }
  }
  return [...clipped].slice(0, 3);
}
"""


@pytest.fixture
async def stage(pg: Injector) -> Stage:
    return await seed(pg)


async def check_pages(
    chromium: Browser, live_server: str, stage: Stage, role: str, urls: list[str]
) -> tuple[list[str], list[str]]:
    """Every page in `urls` as `role`, at every width: (what was checked, the findings)."""
    checked: list[str] = []
    problems: list[str] = []
    titles: dict[str, str] = {}  # title → the page that has it
    context = await role_context(chromium, live_server, stage, role)
    try:
        page = await context.new_page()
        seen: set[str] = set()
        for url in urls:
            await page.set_viewport_size(WIDTHS["desktop"])
            response = await page.goto(url)
            assert response is not None
            landed = page.url.removeprefix(live_server)
            if landed in seen:  # a redirect to a page already checked (e.g. /login)
                continue
            seen.add(landed)
            content_type = response.headers.get("content-type", "")
            assert content_type.startswith("text/html"), f"{role} {url}: {content_type} (add it to NOT_PAGES?)"
            try:
                await settled(page)
            except Exception as error:
                raise AssertionError(f"{role} {url} did not settle") from error
            headings = await page.evaluate("[...document.querySelectorAll('h1')].map(h => h.textContent.trim())")
            if len(headings) != 1:
                problems.append(f"{role} {url}: {len(headings)} h1 headings {headings}, not one")
            title = await page.title()
            path = landed.split("?")[0]
            if response.status < 400 and titles.setdefault(title, path) != path:
                problems.append(f"{role} {url}: the title {title!r} is also {titles[title]}'s")
            for width, viewport in WIDTHS.items():
                await page.set_viewport_size(viewport)
                checked.append(f"{role} {landed} ({response.status}) {width}")
                for finding in await axe_findings(page):
                    nodes = "; ".join(f"{n['target']}: {n['summary']}" for n in finding["nodes"][:3])
                    problems.append(
                        f"{role} {url} ({response.status}) at {width}: "
                        f"{finding['impact']} {finding['id']} — {finding['help']} — {nodes}"
                    )
            await page.set_viewport_size(REFLOW)
            sideways = await page.evaluate(SIDEWAYS)
            if sideways:
                problems.append(f"{role} {url} at 320px: {sideways}")
            for viewport in BETWEEN:
                await page.set_viewport_size(viewport)
                sideways = await page.evaluate(SIDEWAYS, True)  # data tables excepted, as with text at 200 %
                if sideways:
                    problems.append(f"{role} {url} at {viewport['width']}px: {sideways}")
            await page.set_viewport_size(WIDTHS["desktop"])
            await page.evaluate(TEXT_200)
            sideways = await page.evaluate(SIDEWAYS, True)
            broken = await page.evaluate(BROKEN_WORDS)
            clipped = await page.evaluate(CLIPPED)
            await page.evaluate(TEXT_100)
            if sideways:
                problems.append(f"{role} {url} with text at 200%: {sideways}")
            if broken:
                problems.append(f"{role} {url} with text at 200%: words broken across lines: {broken}")
            if clipped:
                problems.append(f"{role} {url} with text at 200%: cut off at the edge of its box: {clipped}")
    finally:
        await context.close()
    return checked, problems


async def test_no_page_has_an_axe_finding_a_shared_title_or_a_sideways_scroll_for_anyone(
    chromium: Browser, live_server: str, stage: Stage, settings: Settings, real_injector: Injector
) -> None:
    routes = get_routes(settings, real_injector)
    started = time.monotonic()
    # Two roles at a time: the browser renders one page while the server answers another's requests.
    results: list[tuple[list[str], list[str]]] = []
    for pair in (ROLES[:2], ROLES[2:]):
        results += await asyncio.gather(
            *(check_pages(chromium, live_server, stage, role, pages_for(role, routes, stage)) for role in pair)
        )
    checked = [line for done, _ in results for line in done]
    problems = [line for _, found in results for line in found]
    print(f"axe: {len(checked)} checks in {time.monotonic() - started:.1f} s")
    musts = ("anon /login", "viewer /wallet", "creator /studio ", "staff /staff/payouts", "anon /no/such/page (404)")
    for must in musts:
        assert any(line.startswith(must) for line in checked), (must, checked)
    assert problems == [], f"{len(problems)} findings:\n" + "\n".join(problems)
