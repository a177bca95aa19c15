"""Memberships through HTTP on real PostgreSQL: the creator's tiers form (inline errors at 422), the
one-click join from a video page and a creator page, bad clicks that change nothing, cancel."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import httpx
from injector import Injector

from core.db import Database
from core.identity import Principal
from core.settings import Settings
from core.web import SESSION_COOKIE
from features.ledger.model import AccountRef
from features.ledger.service import LedgerService
from features.memberships.service import MembershipService
from tests.conftest import app_client
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish, session_token
from tests.support.web import csrf_token, htmx_events, post_form

KEY_INPUT = re.compile(r'name="key" value="([^"]+)"')
TIER_INPUT = re.compile(r'name="tier" value="([^"]+)"')


@asynccontextmanager
async def browser_of(pg: Injector, settings: Settings, who: Principal | None) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(pg, settings) as client:
        if who is not None:
            client.cookies.set(SESSION_COOKIE, await session_token(pg, who))
        await csrf_token(client, "/login")
        yield client


async def rows(pg: Injector, table: str) -> int:
    return int(await pg.get(Database).fetchval(f"SELECT count(*) FROM {table}"))


async def test_the_tiers_form_shows_each_mistake_inline_and_stores_nothing(pg: Injector, settings: Settings) -> None:
    creator = await person(pg, "Creator", creator=True)
    other = await person(pg, "Other", creator=True)
    theirs = (await add_synthetic_video(pg, other.id)).video
    async with browser_of(pg, settings, creator) as client:
        page = await client.get("/studio/memberships")
        assert page.status_code == 200
        assert "New tier" in page.text
        bad = await post_form(
            client, "/studio/memberships", {"name": "", "price": "0", "scope": "chosen", "videos": str(theirs.id)}
        )
        assert bad.status_code == 422
        assert "Give the tier a name." in bad.text
        assert "Enter a monthly price from 1 to 100,000 points." in bad.text
        assert "Choose only your own videos." in bad.text
        assert await rows(pg, "membership_tiers") == 0
        for n in range(3):
            made = await post_form(client, "/studio/memberships", {"name": f"Tier {n}", "price": str(10 * (n + 1))})
            assert made.status_code == 303
        fourth = await post_form(client, "/studio/memberships", {"name": "Fourth", "price": "99"})
        assert fourth.status_code == 422
        assert "at most 3 tiers" in fourth.text
        assert await rows(pg, "membership_tiers") == 3


async def test_a_viewer_joins_in_one_click_on_a_video_and_watches_it(pg: Injector, settings: Settings) -> None:
    creator = await person(pg, "Creator", creator=True)
    video = await price_and_publish(pg, creator.id, (await add_synthetic_video(pg, creator.id)).video, rent_day=50)
    await pg.get(MembershipService).create_tier(creator.id, name="Fans", price="80", all_videos=True, video_ids=[])
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 100)
    async with browser_of(pg, settings, viewer) as client:
        page = await client.get(f"/v/{video.public_id}")
        assert f'hx-get="/v/{video.public_id}/membership"' in page.text
        panel = await client.get(f"/v/{video.public_id}/membership")
        assert "Join Fans" in panel.text
        assert "80" in panel.text
        key = KEY_INPUT.search(panel.text)
        tier = TIER_INPUT.search(panel.text)
        assert key is not None
        assert tier is not None
        form = {"tier": tier.group(1), "key": key.group(1), "price": "80", "video": video.public_id}
        joined = await post_form(client, "/memberships/join", form, htmx=True)
        assert joined.status_code == 200
        assert joined.headers["hx-redirect"] == f"/v/{video.public_id}"
        again = await post_form(client, "/memberships/join", form, htmx=True)  # the same click again
        assert again.status_code == 200
        assert await pg.get(LedgerService).balance(AccountRef.wallet(viewer.id)) == 20
        page = await client.get(f"/v/{video.public_id}")
        assert "Included in your membership." in page.text
        assert 'data-testid="offers"' not in page.text  # no prices for a member
        key_answer = await client.get(f"/v/{video.public_id}/key")
        assert key_answer.status_code == 200  # the playback key: a member may watch
        statement = await client.get("/wallet")
        assert "Membership join: Fans" in statement.text


async def test_bad_clicks_change_nothing(pg: Injector, settings: Settings) -> None:
    creator = await person(pg, "Creator", creator=True)
    service = pg.get(MembershipService)
    tier = await service.create_tier(creator.id, name="Fans", price="80", all_videos=True, video_ids=[])
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 50)
    async with browser_of(pg, settings, creator) as client:
        own = await post_form(
            client, "/memberships/join", {"tier": str(tier.id), "key": "k" * 20, "price": "80"}, htmx=True
        )
        assert own.status_code == 409
        assert "your own membership tier" in own.text
    async with browser_of(pg, settings, viewer) as client:
        panel = await client.get(f"/c/{creator.id}/membership")
        assert "Buy points to join" in panel.text  # 50 points, the tier costs 80
        poor = await post_form(
            client, "/memberships/join", {"tier": str(tier.id), "key": "p" * 20, "price": "80"}, htmx=True
        )
        assert poor.status_code == 402
        assert "Buy a pack of points" in poor.text
        forged = await post_form(
            client, "/memberships/join", {"tier": str(tier.id), "key": "f" * 20, "price": "8"}, htmx=True
        )
        assert forged.status_code == 409
        missing = await post_form(
            client, "/memberships/join", {"tier": "not-a-tier", "key": "m" * 20, "price": "8"}, htmx=True
        )
        assert missing.status_code == 404
        await service.retire_tier(creator.id, tier.id)
        await fund(pg, viewer.id, 100)
        retired = await post_form(
            client, "/memberships/join", {"tier": str(tier.id), "key": "r" * 20, "price": "80"}, htmx=True
        )
        assert retired.status_code == 409
        assert "no longer offered" in retired.text
        nothing = await post_form(client, "/memberships/cancel", {"creator": str(creator.id)}, htmx=True)
        assert nothing.status_code == 409
    assert await rows(pg, "memberships") == 0
    assert await pg.get(LedgerService).balance(AccountRef.wallet(viewer.id)) == 150


async def test_join_on_the_creator_page_then_cancel(pg: Injector, settings: Settings) -> None:
    creator = await person(pg, "Creator", creator=True)
    tier = await pg.get(MembershipService).create_tier(
        creator.id, name="Fans", price="30", all_videos=True, video_ids=[]
    )
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 100)
    async with browser_of(pg, settings, viewer) as client:
        page = await client.get(f"/c/{creator.id}")
        assert f'hx-get="/c/{creator.id}/membership"' in page.text
        joined = await post_form(
            client, "/memberships/join", {"tier": str(tier.id), "key": "j" * 20, "price": "30"}, htmx=True
        )
        assert joined.status_code == 200
        assert "Welcome! You are now a member." in joined.text
        assert "wallet-changed" in htmx_events(joined)
        assert "Renews on" in joined.text
        assert "prorata-rule" in joined.text
        me = await client.get("/me")
        assert 'hx-get="/me/memberships"' in me.text
        mine = await client.get("/me/memberships")
        assert "Fans" in mine.text
        assert "renews on" in mine.text
        cancelled = await post_form(client, "/memberships/cancel", {"creator": str(creator.id)}, htmx=True)
        assert cancelled.status_code == 200
        assert "Cancelled: your access lasts until" in cancelled.text
        assert "cancelled, access until" in (await client.get("/me/memberships")).text
    assert await pg.get(LedgerService).balance(AccountRef.wallet(viewer.id)) == 70


async def test_the_dashboard_tile_the_analytics_table_and_the_csv_count_members(
    pg: Injector, settings: Settings
) -> None:
    from core.events import Event
    from features.memberships.live import MembersTile
    from features.memberships.service import MEMBERS_CHANGED_EVENT

    creator = await person(pg, "Creator", creator=True)
    service = pg.get(MembershipService)
    tier = await service.create_tier(creator.id, name="Fans", price="25", all_videos=True, video_ids=[])
    for n in range(2):
        viewer = await person(pg, f"Viewer {n}")
        await fund(pg, viewer.id, 100)
        await service.join(viewer.id, tier.id, f"dash-key-{n:012d}", "25")
    async with browser_of(pg, settings, creator) as client:
        strip = await client.get("/studio/dashboard")
        assert 'hx-get="/studio/memberships/tile"' in strip.text
        assert 'sse-swap="membership_changed"' in strip.text
        tile = await client.get("/studio/memberships/tile")
        assert re.search(r'data-testid="members-active">2<', tile.text)
        assert re.search(r'data-testid="members-revenue">50<', tile.text)
        analytics = await client.get("/studio/analytics")
        assert 'hx-get="/studio/memberships/figures"' in analytics.text
        figures = await client.get("/studio/memberships/figures")
        assert "Memberships by month" in figures.text
        exported = await client.get("/studio/memberships/figures.csv")
        assert exported.headers["content-type"].startswith("text/csv")
        lines = exported.text.splitlines()
        assert lines[0] == "month,active_members,joined,lapsed,recurring_revenue_points"
        assert lines[1].endswith(",2,2,0,50")
    async with browser_of(pg, settings, await person(pg, "Not a creator")) as client:
        assert (await client.get("/studio/memberships/figures.csv")).status_code == 403
    part = pg.get(MembersTile)
    event = Event(1, f"user:{creator.id}", MEMBERS_CHANGED_EVENT, {"kind": "join"}, datetime.now(UTC))
    [fragment] = await part.fragments(creator.id, event)
    assert fragment.context["members"].active == 2
    other = Event(2, f"user:{creator.id}", "sale", {}, datetime.now(UTC))
    assert await part.fragments(creator.id, other) == []


async def test_editing_a_tier_shows_mistakes_inline_and_a_new_price_is_for_new_members(
    pg: Injector, settings: Settings
) -> None:
    creator = await person(pg, "Creator", creator=True)
    service = pg.get(MembershipService)
    tier = await service.create_tier(creator.id, name="Fans", price="40", all_videos=True, video_ids=[])
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 100)
    await service.join(viewer.id, tier.id, "edit-key-000000000001", "40")
    async with browser_of(pg, settings, creator) as client:
        bad = await post_form(client, f"/studio/memberships/{tier.id}", {"name": "Fans", "price": "-5"})
        assert bad.status_code == 422
        assert "Enter a monthly price from 1 to 100,000 points." in bad.text
        assert 'value="-5"' in bad.text  # the value sent is shown again
        saved = await post_form(client, f"/studio/memberships/{tier.id}", {"name": "Fans+", "price": "55"})
        assert saved.status_code == 303
        retired = await post_form(client, f"/studio/memberships/{tier.id}/retire", {})
        assert retired.status_code == 303
        page = await client.get("/studio/memberships")
        assert "Retired" in page.text
    found = await service.tier(tier.id)
    assert found is not None
    assert (found.name, found.price, found.on_sale) == ("Fans+", 55, False)
    member = await service.memberships.live(viewer.id, creator.id)
    assert member is not None
    assert member.price == 40  # members keep the price they joined at
