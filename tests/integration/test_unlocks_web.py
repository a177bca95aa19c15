"""The video page, one-click unlocks, tips and pricing through HTTP on real PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from injector import Injector

from core.db import Database
from core.identity import Principal
from core.settings import Settings
from core.web import SESSION_COOKIE
from features.ledger.model import AccountRef, Leg
from features.ledger.service import LedgerService
from features.memberships.service import MembershipService
from features.studio.model import Video, VideoState
from features.unlocks.service import UnlockService
from tests.conftest import app_client
from tests.support.videos import (
    add_synthetic_video,
    balances,
    fund,
    person,
    price_and_publish,
    session_token,
)
from tests.support.web import csrf_token, htmx_events, post_form

KEY_INPUT = re.compile(r'name="key" value="([^"]+)"')


@asynccontextmanager
async def browser_of(pg: Injector, settings: Settings, who: Principal | None) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client with its own cookies, logged in as `who` (None: a visitor)."""
    async with app_client(pg, settings) as client:
        if who is not None:
            client.cookies.set(SESSION_COOKIE, await session_token(pg, who))
        await csrf_token(client, "/login")
        yield client


async def published_video(pg: Injector, **pricing: int | None) -> tuple[Principal, Video]:
    creator = await person(pg, "Creator", creator=True)
    video = (await add_synthetic_video(pg, creator.id, title="Tides at dawn")).video
    return creator, await price_and_publish(pg, creator.id, video, **pricing)  # type: ignore[arg-type]


async def count(pg: Injector, sql: str) -> int:
    return int(await pg.get(Database).fetchval(sql))


async def test_a_visitor_sees_the_offers_and_is_asked_to_log_in(pg: Injector, client: httpx.AsyncClient) -> None:
    _, video = await published_video(pg, rent_day=50, rent_month=200, lifetime=None)
    page = await client.get(f"/v/{video.public_id}")
    assert page.status_code == 200
    assert "Tides at dawn" in page.text
    assert "The sea at first light." in page.text
    assert "Rent 24 h" in page.text
    assert "Rent 30 days" in page.text
    assert "Buy for life" not in page.text
    assert page.text.count("Sign up to unlock") == 2
    assert f'href="/signup?next=/v/{video.public_id}"' in page.text
    assert f'href="/login?next=/v/{video.public_id}"' in page.text
    assert 'data-testid="player"' not in page.text
    assert "/static/js/player.js" in page.text
    cover = await client.get(f"/v/{video.public_id}/cover")
    assert cover.status_code == 200
    assert cover.headers["content-type"] == "image/jpeg"


async def test_unpublished_and_unknown_videos_are_not_found_except_by_their_owner(
    pg: Injector, settings: Settings
) -> None:
    creator = await person(pg, "Creator", creator=True)
    viewer = await person(pg, "Viewer")
    video = (await add_synthetic_video(pg, creator.id)).video
    async with browser_of(pg, settings, viewer) as other, browser_of(pg, settings, None) as visitor:
        for client in (other, visitor):
            assert (await client.get(f"/v/{video.public_id}")).status_code == 404
            assert (await client.get(f"/v/{video.public_id}/cover")).status_code == 404
        assert (await visitor.get("/v/doesnotexist")).status_code == 404
    async with browser_of(pg, settings, creator) as owner:
        page = await owner.get(f"/v/{video.public_id}")
        assert page.status_code == 200
        assert "Prices &amp; publishing" in page.text
        assert 'data-testid="player"' in page.text  # the owner always watches


async def test_one_click_charges_once_grants_a_day_and_swaps_the_player_in(pg: Injector, settings: Settings) -> None:
    creator, video = await published_video(pg, rent_day=50)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 120)
    async with browser_of(pg, settings, viewer) as client:
        page = await client.get(f"/v/{video.public_id}")
        key = KEY_INPUT.findall(page.text)[0]
        response = await post_form(
            client, f"/v/{video.public_id}/unlock", {"offer": "rent_day", "key": key, "price": "50"}, htmx=True
        )
        assert response.status_code == 200, response.text
        assert htmx_events(response) == {"wallet-changed"}
        assert response.headers["cache-control"] == "no-store"
        assert 'data-testid="player"' in response.text
        assert f'data-src="/v/{video.public_id}/hls/master.m3u8"' in response.text
        assert "You can watch until" in response.text
        again = await post_form(
            client, f"/v/{video.public_id}/unlock", {"offer": "rent_day", "key": key, "price": "50"}, htmx=True
        )
        assert again.status_code == 200
        assert 'data-testid="player"' in again.text
        reload = await client.get(f"/v/{video.public_id}")
        assert 'data-testid="player"' in reload.text
        assert "Extend your access" in reload.text
        assert "charged in full" in reload.text
    assert await balances(pg, viewer.id, creator.id) == (70, 45, 5)
    assert await count(pg, "SELECT count(*) FROM unlocks") == 1
    assert await count(pg, "SELECT count(*) FROM event_log WHERE name = 'sale'") == 1


async def test_fifty_concurrent_clicks_with_one_key_debit_once(pg: Injector, settings: Settings) -> None:
    creator, video = await published_video(pg, rent_day=50)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 1000)
    key = "same-click-0123456789"
    async with browser_of(pg, settings, viewer) as client:
        responses = await asyncio.gather(
            *(
                post_form(
                    client, f"/v/{video.public_id}/unlock", {"offer": "rent_day", "key": key, "price": "50"}, htmx=True
                )
                for _ in range(50)
            )
        )
    assert [r.status_code for r in responses] == [200] * 50, {r.status_code: r.text[:200] for r in responses}
    assert all('data-testid="player"' in r.text for r in responses)
    assert await balances(pg, viewer.id, creator.id) == (950, 45, 5)
    assert await count(pg, "SELECT count(*) FROM unlocks") == 1
    assert await count(pg, "SELECT count(*) FROM ledger_transfers WHERE kind = 'unlock'") == 1
    assert await count(pg, "SELECT count(*) FROM event_log WHERE name = 'sale'") == 1
    entitlement = await pg.get(UnlockService).entitlement(viewer.id, video.id)
    assert entitlement is not None


async def test_too_few_points_prompt_to_buy_a_pack_and_debit_nothing(pg: Injector, settings: Settings) -> None:
    creator, video = await published_video(pg, rent_day=50)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 20)
    async with browser_of(pg, settings, viewer) as client:
        response = await post_form(
            client, f"/v/{video.public_id}/unlock", {"offer": "rent_day", "key": "k" * 20, "price": "50"}, htmx=True
        )
    assert response.status_code == 402
    assert "30 more points needed" in response.text
    assert f'href="/wallet?next=/v/{video.public_id}"' in response.text
    assert 'data-testid="offer-rent_day"' in response.text  # the offers stay, with fresh keys
    assert await balances(pg, viewer.id, creator.id) == (20, 0, 0)
    assert await count(pg, "SELECT count(*) FROM entitlements") == 0


async def test_unlocking_needs_a_session_and_the_csrf_token(pg: Injector, settings: Settings) -> None:
    _, video = await published_video(pg, rent_day=50)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 100)
    async with browser_of(pg, settings, None) as visitor:
        response = await post_form(
            visitor, f"/v/{video.public_id}/unlock", {"offer": "rent_day", "key": "k" * 20, "price": "50"}
        )
        assert response.status_code in (401, 303)
    async with browser_of(pg, settings, viewer) as client:
        forged = await client.post(
            f"/v/{video.public_id}/unlock", data={"offer": "rent_day", "key": "k" * 20, "price": "50"}
        )
        assert forged.status_code == 403
    assert await count(pg, "SELECT count(*) FROM unlocks") == 0


async def test_a_tip_with_a_message_reaches_the_creator(pg: Injector, settings: Settings) -> None:
    creator, video = await published_video(pg, rent_day=50)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 100)
    async with browser_of(pg, settings, viewer) as client:
        data = {"amount": "50", "message": "Beautiful light", "key": "tip" * 7}
        response = await post_form(client, f"/v/{video.public_id}/tip", data, htmx=True)
        assert response.status_code == 200, response.text
        assert "Thank you! You tipped 50 points with your message." in response.text
        assert htmx_events(response) == {"wallet-changed"}
        replay = await post_form(client, f"/v/{video.public_id}/tip", data, htmx=True)
        assert replay.status_code == 200
        odd = await post_form(client, f"/v/{video.public_id}/tip", {"amount": "7", "key": "x" * 20}, htmx=True)
        assert odd.status_code == 422
    assert await balances(pg, viewer.id, creator.id) == (50, 50, 0)
    event = await pg.get(Database).fetchrow("SELECT topic, data FROM event_log WHERE name = 'tip'")
    assert event is not None
    assert event["topic"] == f"user:{creator.id}"
    assert '"message": "Beautiful light"' in event["data"]
    async with browser_of(pg, settings, creator) as owner:
        own = await post_form(owner, f"/v/{video.public_id}/tip", {"amount": "10", "key": "y" * 20}, htmx=True)
        assert own.status_code == 409
        assert "You cannot tip yourself." in own.text


async def test_pricing_rejects_bad_input_inline_and_stores_nothing(pg: Injector, settings: Settings) -> None:
    creator = await person(pg, "Creator", creator=True)
    video = (await add_synthetic_video(pg, creator.id)).video
    path = f"/v/{video.public_id}/pricing"
    async with browser_of(pg, settings, creator) as owner:
        page = await owner.get(path)
        assert page.status_code == 200
        assert "Prices &amp; publishing" in page.text
        bad = await post_form(
            owner, path, {"rent_day": "-3", "lifetime": "9999999", "preview_seconds": "99"}, htmx=True
        )
        assert bad.status_code == 422
        assert bad.text.count('class="field-error"') == 3
        assert 'value="-3"' in bad.text  # what was typed stays in the form
        assert await count(pg, "SELECT count(*) FROM video_pricing") == 0
        publish = await post_form(owner, f"/v/{video.public_id}/publish", {})
        assert publish.status_code == 303
        assert await count(pg, "SELECT count(*) FROM videos WHERE state = 'published'") == 0
        good = await post_form(owner, path, {"rent_day": "50", "lifetime": "1,500", "preview_seconds": "5"}, htmx=True)
        assert good.status_code == 200
        assert "Prices saved." in good.text
        await post_form(owner, f"/v/{video.public_id}/publish", {})
    row = await pg.get(Database).fetchrow("SELECT * FROM video_pricing")
    assert row is not None
    assert (row["rent_day_points"], row["rent_month_points"], row["lifetime_points"]) == (50, None, 1500)
    assert row["preview_seconds"] == 5
    assert await count(pg, "SELECT count(*) FROM videos WHERE state = 'published'") == 1
    other = await person(pg, "Other", creator=True)
    async with browser_of(pg, settings, other) as stranger:
        assert (await stranger.get(path)).status_code == 404
        refused = await post_form(stranger, path, {"free": "on"}, htmx=True)
        assert refused.status_code == 404


async def test_only_ready_videos_publish(pg: Injector, settings: Settings) -> None:
    creator = await person(pg, "Creator", creator=True)
    video = (await add_synthetic_video(pg, creator.id, state=VideoState.CONVERTING)).video
    async with browser_of(pg, settings, creator) as owner:
        await post_form(owner, f"/v/{video.public_id}/pricing", {"free": "on"}, htmx=True)
        response = await post_form(owner, f"/v/{video.public_id}/publish", {})
        assert response.status_code == 303
        page = await owner.get(response.headers["location"])
        assert "cannot become published" in page.text
    assert await count(pg, "SELECT count(*) FROM videos WHERE state = 'published'") == 0


async def test_a_wallet_below_zero_says_why_on_the_video_page_and_the_click_charges_nothing(
    pg: Injector, settings: Settings
) -> None:
    """A chargeback of points already spent leaves the wallet below zero: the video page says so and why,
    instead of a bare negative number, and the click is refused."""
    creator, video = await published_video(pg, rent_day=50)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 100)
    wallet = AccountRef.wallet(viewer.id)
    await pg.get(LedgerService).transfer(  # as the wallet applies a chargeback of spent points
        "chargeback:test",
        "chargeback",
        [Leg(wallet, AccountRef.vendor_clearing(), 130)],
        allow_negative=frozenset({wallet}),
    )
    await pg.get(MembershipService).create_tier(creator.id, name="Fans", price="40", all_videos=True, video_ids=[])
    async with browser_of(pg, settings, viewer) as client:
        page = await client.get(f"/v/{video.public_id}")
        assert 'data-testid="wallet-below-zero"' in page.text
        members = await client.get(f"/c/{creator.id}/membership")
        assert 'data-testid="wallet-below-zero"' in members.text
        assert "70 more points needed" in members.text  # the cheapest tier, from -30
        assert "a refund or chargeback took back points you had already spent" in page.text
        assert "80 more points needed" in page.text
        click = await post_form(
            client, f"/v/{video.public_id}/unlock", {"offer": "rent_day", "key": "k" * 20, "price": "50"}, htmx=True
        )
    assert click.status_code == 402
    assert await balances(pg, viewer.id, creator.id) == (-30, 0, 0)
