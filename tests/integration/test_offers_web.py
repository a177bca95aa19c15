"""Bundles and promo codes through HTTP and the service, on real PostgreSQL (every test ends with the
ledger's invariants checked by the `pg` fixture)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest
from injector import Injector

from core.clock import Clock
from core.db import Database
from core.di import get_port
from core.identity import Principal
from core.ids import uuid7
from core.settings import Settings
from core.web import SESSION_COOKIE
from features.accounts.service import AccountService
from features.memberships.service import MembershipService
from features.moderation.service import ModerationService
from features.offers.model import (
    CodeUsedUp,
    DiscountKind,
    PromoCode,
    TargetKind,
)
from features.offers.ports import OffersRepository
from features.offers.service import OffersService
from features.studio.model import Video
from features.unlocks.service import UnlockService
from tests.conftest import app_client
from tests.support.videos import add_synthetic_video, balances, fund, person, price_and_publish, session_token
from tests.support.web import csrf_token, htmx_events, post_form

KEY_INPUT = re.compile(r'name="key" value="([^"]+)"')


@asynccontextmanager
async def browser_of(pg: Injector, settings: Settings, who: Principal | None) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(pg, settings) as client:
        if who is not None:
            client.cookies.set(SESSION_COOKIE, await session_token(pg, who))
        await csrf_token(client, "/login")
        yield client


async def video_of(pg: Injector, creator: Principal, title: str, lifetime: int | None = 500) -> Video:
    video = (await add_synthetic_video(pg, creator.id, title=title)).video
    return await price_and_publish(pg, creator.id, video, lifetime=lifetime)


async def count(pg: Injector, sql: str, *args: object) -> int:
    return int(await pg.get(Database).fetchval(sql, *args))


async def test_a_bundle_grants_every_video_for_life_in_one_transfer_and_later_videos_too(
    pg: Injector, settings: Settings
) -> None:
    creator = await person(pg, "Creator", creator=True)
    first, second = await video_of(pg, creator, "Part one", 300), await video_of(pg, creator, "Part two", 300)
    later = await video_of(pg, creator, "Part three", 300)
    offers = pg.get(OffersService)
    bundle = await offers.create_bundle(creator.id, "The course", "All of it.", "500")
    for video in (first, second):
        await offers.add_video(creator.id, bundle.public_id, video.public_id)
    viewer, owner_of_one = await person(pg, "Viewer"), await person(pg, "Collector")
    await fund(pg, viewer.id, 1000)
    await fund(pg, owner_of_one.id, 2000)
    unlocks = pg.get(UnlockService)
    await unlocks.unlock(owner_of_one.id, first.public_id, "lifetime", "k" * 20, "300")

    async with browser_of(pg, settings, viewer) as client:
        page = await client.get(f"/b/{bundle.public_id}")
        assert page.status_code == 200
        assert "Part one" in page.text
        assert "Part two" in page.text
        assert "you save 100 points" in page.text  # 600 for the two on their own
        key = KEY_INPUT.findall(page.text)[0]
        stale = await post_form(client, f"/b/{bundle.public_id}/buy", {"key": key, "price": "600"}, htmx=True)
        assert stale.status_code == 409
        assert "now costs 500 points" in stale.text
        bought = await post_form(client, f"/b/{bundle.public_id}/buy", {"key": key, "price": "500"}, htmx=True)
        assert bought.status_code == 200, bought.text
        assert htmx_events(bought) == {"wallet-changed"}
        assert 'data-testid="bundle-bought"' in bought.text
        again = await post_form(client, f"/b/{bundle.public_id}/buy", {"key": key, "price": "500"}, htmx=True)
        assert again.status_code == 200  # the same click: nothing charged twice
        video_page = await client.get(f"/v/{first.public_id}")
        assert 'data-testid="player"' in video_page.text
    assert await count(pg, "SELECT count(*) FROM ledger_transfers WHERE kind = 'bundle'") == 1
    assert await count(pg, "SELECT count(*) FROM bundle_purchases") == 1
    assert (await balances(pg, viewer.id, creator.id))[0] == 500
    for video in (first, second):
        entitlement = await unlocks.entitlement(viewer.id, video.id)
        assert entitlement is not None
        assert entitlement.lifetime
    assert await unlocks.entitlement(viewer.id, later.id) is None

    # The collector already owns part one: the page says so, and the price stays the same.
    async with browser_of(pg, settings, owner_of_one) as client:
        page = await client.get(f"/b/{bundle.public_id}")
        assert 'data-testid="bundle-owned-note"' in page.text
        assert "price stays the same" in page.text

    granted = await offers.add_video(creator.id, bundle.public_id, later.public_id)
    assert granted == 1
    entitlement = await unlocks.entitlement(viewer.id, later.id)
    assert entitlement is not None
    assert entitlement.lifetime
    assert await unlocks.entitlement(owner_of_one.id, later.id) is None  # never bought the bundle


async def test_a_bundle_page_shows_the_saving_against_single_lifetime_prices(pg: Injector, settings: Settings) -> None:
    creator = await person(pg, "Creator", creator=True)
    videos = [await video_of(pg, creator, f"Episode {n}", 400) for n in (1, 2, 3)]
    offers = pg.get(OffersService)
    bundle = await offers.create_bundle(creator.id, "Season one", "", "900")
    for video in videos:
        await offers.add_video(creator.id, bundle.public_id, video.public_id)
    async with browser_of(pg, settings, None) as visitor:
        page = await visitor.get(f"/b/{bundle.public_id}")
        assert "each video for life on its own: 1,200 points" in page.text
        assert "you save 300 points" in page.text
        fragment = await visitor.get(f"/offers/v/{videos[0].public_id}")
        assert 'data-testid="bundle-callout"' in fragment.text
        assert "saving 300 points (25%)" in fragment.text
        assert 'data-testid="promo-code"' not in fragment.text  # visitors log in first


async def test_a_code_lowers_the_price_shown_and_charged_and_the_ledger_records_it(
    pg: Injector, settings: Settings
) -> None:
    creator = await person(pg, "Creator", creator=True)
    video = await video_of(pg, creator, "Harbour lights", 500)
    offers = pg.get(OffersService)
    await offers.create_code(creator.id, "spring25", "percent", "25", f"video:{video.public_id}", "10", "")
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 1000)
    async with browser_of(pg, settings, viewer) as client:
        applied = await post_form(client, f"/offers/v/{video.public_id}/code", {"code": "Spring25"}, htmx=True)
        assert applied.status_code == 200, applied.text
        assert "Code SPRING25: 25 % off" in applied.text
        assert 'data-testid="code-offer-lifetime"' in applied.text
        assert 'name="price" value="375"' in applied.text  # 500 - 25 %
        key = KEY_INPUT.findall(applied.text)[-1]
        form = {"offer": "lifetime", "key": key, "price": "500", "code": "SPRING25"}
        refused = await post_form(client, f"/offers/v/{video.public_id}/unlock", form, htmx=True)
        assert refused.status_code == 409  # the list price is not what the code's button showed
        assert "is now 375 points" in refused.text
        form["price"] = "375"
        unlocked = await post_form(client, f"/offers/v/{video.public_id}/unlock", form, htmx=True)
        assert unlocked.status_code == 200, unlocked.text
        assert 'data-testid="player"' in unlocked.text
        assert htmx_events(unlocked) == {"wallet-changed"}
    assert (await balances(pg, viewer.id, creator.id))[:2] == (625, 375 - 37)
    row = await pg.get(Database).fetchrow("SELECT metadata FROM ledger_transfers WHERE kind = 'unlock'")
    assert row is not None
    metadata = row["metadata"] if isinstance(row["metadata"], dict) else __import__("json").loads(row["metadata"])
    assert metadata["list_price"] == "500"
    assert metadata["discount"] == "125"
    assert metadata["code"] == "SPRING25"
    assert await count(pg, "SELECT uses FROM promo_codes") == 1
    assert await count(pg, "SELECT count(*) FROM promo_redemptions") == 1
    async with browser_of(pg, settings, creator) as studio:
        sales = await studio.get("/studio/offers/sales")
        assert "SPRING25" in sales.text
        csv = await studio.get("/studio/offers/sales.csv")
        assert csv.status_code == 200
        lines = csv.text.strip().splitlines()
        assert lines[0] == "time_utc,kind,title,code,list_price,discount,points_paid,fee,net"
        assert lines[1].endswith("video,Harbour lights,SPRING25,500,125,375,37,338")
        tile = await studio.get("/studio/offers/tile")
        assert 'data-testid="code-uses">1<' in tile.text


async def test_bad_codes_get_a_clear_message_and_change_nothing(pg: Injector, settings: Settings) -> None:
    creator, other_creator = await person(pg, "Creator", creator=True), await person(pg, "Other", creator=True)
    video, sibling = await video_of(pg, creator, "Main"), await video_of(pg, creator, "Sibling")
    elsewhere = await video_of(pg, other_creator, "Elsewhere")
    offers, repository = pg.get(OffersService), get_port(pg, OffersRepository)
    await offers.create_code(creator.id, "SIBLING", "points", "50", f"video:{sibling.public_id}", "5", "")
    await offers.create_code(other_creator.id, "THEIRS", "points", "50", f"video:{elsewhere.public_id}", "5", "")
    now = pg.get(Clock).now()
    for name, uses, expires in (("OLD", 0, now - timedelta(days=1)), ("GONE", 3, None)):
        code = PromoCode(
            uuid7(), creator.id, name, DiscountKind.POINTS, 10, TargetKind.VIDEO, video.id, 3, uses, expires, now
        )
        assert await repository.add_code(code)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 1000)
    expected = {
        "nope": "That code does not exist",
        "old": "That code has expired",
        "gone": "That code has been used up",
        "theirs": "That code belongs to another creator",
        "sibling": "for another of this creator",
    }
    async with browser_of(pg, settings, viewer) as client:
        for code, message in expected.items():
            response = await post_form(client, f"/offers/v/{video.public_id}/code", {"code": code}, htmx=True)
            assert response.status_code == 422, (code, response.text)
            assert message in response.text
            assert 'role="alert"' in response.text
            assert 'aria-invalid="true"' in response.text
        key = "k" * 24
        form = {"offer": "lifetime", "key": key, "price": "490", "code": "old"}
        refused = await post_form(client, f"/offers/v/{video.public_id}/unlock", form, htmx=True)
        assert refused.status_code == 422
        assert "That code has expired" in refused.text
    assert (await balances(pg, viewer.id, creator.id))[:2] == (1000, 0)
    assert await count(pg, "SELECT count(*) FROM promo_redemptions") == 0
    assert await count(pg, "SELECT count(*) FROM unlocks") == 0


async def test_the_last_use_of_a_code_is_taken_once_by_concurrent_clicks(pg: Injector) -> None:
    creator = await person(pg, "Creator", creator=True)
    video = await video_of(pg, creator, "Limited", 200)
    offers = pg.get(OffersService)
    await offers.create_code(creator.id, "ONLYONE", "points", "50", f"video:{video.public_id}", "1", "")
    viewers = [await person(pg, f"Viewer {n}") for n in range(6)]
    for viewer in viewers:
        await fund(pg, viewer.id, 500)
    results = await asyncio.gather(
        *(
            offers.unlock_with_code(
                viewer.id, video.public_id, "lifetime", f"click-{n:02d}-abcdefghijkl", "150", "onlyone"
            )
            for n, viewer in enumerate(viewers)
        ),
        return_exceptions=True,
    )
    succeeded = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(succeeded) == 1, results
    assert all(isinstance(r, CodeUsedUp) for r in refused), refused
    assert await count(pg, "SELECT uses FROM promo_codes") == 1
    assert await count(pg, "SELECT count(*) FROM promo_redemptions") == 1
    assert await count(pg, "SELECT count(*) FROM unlocks") == 1
    assert await count(pg, "SELECT coalesce(sum(points), 0) FROM unlocks") == 150


async def test_a_bundle_code_and_concurrent_bundle_purchases_charge_once(pg: Injector) -> None:
    creator = await person(pg, "Creator", creator=True)
    videos = [await video_of(pg, creator, f"Lesson {n}", 100) for n in (1, 2)]
    offers = pg.get(OffersService)
    bundle = await offers.create_bundle(creator.id, "Lessons", "", "150")
    for video in videos:
        await offers.add_video(creator.id, bundle.public_id, video.public_id)
    await offers.create_code(creator.id, "HALF", "percent", "50", f"bundle:{bundle.public_id}", "5", "")
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 1000)
    results = await asyncio.gather(
        *(offers.buy_bundle(viewer.id, bundle.public_id, f"tab-{n}-abcdefghijklmnop", "75", "half") for n in range(4)),
        return_exceptions=True,
    )
    assert sum(1 for r in results if not isinstance(r, BaseException)) == 1, results
    assert (await balances(pg, viewer.id, creator.id))[0] == 925
    assert await count(pg, "SELECT uses FROM promo_codes") == 1
    assert await count(pg, "SELECT discount FROM bundle_purchases") == 75


async def test_code_guessing_is_rate_limited(pg: Injector, settings: Settings) -> None:
    creator = await person(pg, "Creator", creator=True)
    video = await video_of(pg, creator, "Guarded")
    viewer = await person(pg, "Viewer")
    async with browser_of(pg, settings, viewer) as client:
        statuses = [
            (await post_form(client, f"/offers/v/{video.public_id}/code", {"code": f"GUESS{n}"}, htmx=True)).status_code
            for n in range(12)
        ]
    assert statuses[:10] == [422] * 10
    assert statuses[10:] == [429, 429]


async def test_creator_forms_reject_bad_input_inline_and_store_nothing(pg: Injector, settings: Settings) -> None:
    creator, other = await person(pg, "Creator", creator=True), await person(pg, "Other", creator=True)
    theirs = await video_of(pg, other, "Not yours")
    async with browser_of(pg, settings, creator) as client:
        page = await client.get("/studio/offers")
        assert page.status_code == 200
        bad_bundle = await post_form(client, "/studio/offers/bundles", {"title": "", "price": "0"})
        assert bad_bundle.status_code == 422
        assert "Give the bundle a title." in bad_bundle.text
        assert "from 1 to 100,000" in bad_bundle.text
        form = {"code": "x", "kind": "percent", "amount": "150", "target": f"video:{theirs.public_id}", "max_uses": "0"}
        bad_code = await post_form(client, "/studio/offers/codes", form)
        assert bad_code.status_code == 422
        assert "Use 3 to 32 letters" in bad_code.text
        assert "from 1 to 100" in bad_code.text
        form |= {"code": "FINE", "amount": "10", "max_uses": "3"}
        not_yours = await post_form(client, "/studio/offers/codes", form)
        assert not_yours.status_code == 422
        assert "Choose one of your videos." in not_yours.text
        assert (await client.get("/studio/offers/bundles/doesnotexist")).status_code == 404
    assert await count(pg, "SELECT count(*) FROM bundles") == 0
    assert await count(pg, "SELECT count(*) FROM promo_codes") == 0


@pytest.mark.parametrize("path", ["/studio/offers/", "/studio/offers/tile", "/studio/offers/sales"])
async def test_viewers_cannot_reach_the_creator_pages(pg: Injector, settings: Settings, path: str) -> None:
    viewer = await person(pg, "Viewer")
    async with browser_of(pg, settings, viewer) as client:
        assert (await client.get(path)).status_code == 403


async def test_a_video_added_while_buyers_click_reaches_every_buyer(pg: Injector) -> None:
    creator = await person(pg, "Creator", creator=True)
    offers, unlocks = pg.get(OffersService), pg.get(UnlockService)
    start = await video_of(pg, creator, "Start", 100)
    bundle = await offers.create_bundle(creator.id, "Growing", "", "100")
    await offers.add_video(creator.id, bundle.public_id, start.public_id)
    buyers = [await person(pg, f"Buyer {n}") for n in range(4)]
    for buyer in buyers:
        await fund(pg, buyer.id, 100)
    added = await video_of(pg, creator, "Added meanwhile", 100)
    await asyncio.gather(
        *(offers.buy_bundle(b.id, bundle.public_id, f"race-{n}-abcdefghijklmnop", "100") for n, b in enumerate(buyers)),
        offers.add_video(creator.id, bundle.public_id, added.public_id),
    )
    for buyer in buyers:
        for video in (start, added):
            entitlement = await unlocks.entitlement(buyer.id, video.id)
            assert entitlement is not None, (buyer.display_name, video.title)
            assert entitlement.lifetime


async def test_a_tier_code_shows_the_first_months_price_and_charges_it_once_then_renewals_are_full(
    pg: Injector, settings: Settings
) -> None:
    creator, other_creator = await person(pg, "Creator", creator=True), await person(pg, "Other", creator=True)
    video = await video_of(pg, creator, "Members' film")
    memberships, offers = pg.get(MembershipService), pg.get(OffersService)
    tier = await memberships.create_tier(creator.id, name="Fans", price="100", all_videos=True, video_ids=[])
    theirs = await memberships.create_tier(other_creator.id, name="Theirs", price="80", all_videos=True, video_ids=[])
    async with browser_of(pg, settings, creator) as studio:
        page = await studio.get("/studio/offers")
        assert f'value="tier:{tier.id}"' in page.text
        assert f'value="tier:{theirs.id}"' not in page.text
        made = await post_form(
            studio,
            "/studio/offers/codes",
            {"code": "welcome", "kind": "percent", "amount": "30", "target": f"tier:{tier.id}", "max_uses": "5"},
        )
        assert made.status_code == 303, made.text
        wrong = await post_form(
            studio,
            "/studio/offers/codes",
            {"code": "grab", "kind": "percent", "amount": "30", "target": f"tier:{theirs.id}", "max_uses": "5"},
        )
        assert wrong.status_code == 422
        assert "Choose one of your membership tiers." in wrong.text
    await offers.create_code(creator.id, "FILM", "points", "10", f"video:{video.public_id}", "5", "")
    await offers.create_code(other_creator.id, "THEIRS", "points", "10", f"tier:{theirs.id}", "5", "")
    now = pg.get(Clock).now()
    old = PromoCode(uuid7(), creator.id, "OLD", DiscountKind.POINTS, 10, TargetKind.TIER, tier.id, 3, 0, now, now)
    assert await get_port(pg, OffersRepository).add_code(old)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 1000)
    async with browser_of(pg, settings, viewer) as client:
        panel = await client.get(f"/v/{video.public_id}/membership")
        assert 'data-testid="tier-promo"' in panel.text
        for code, message in {
            "nope": "That code does not exist",
            "old": "That code has expired",
            "film": "for another of this creator",
            "theirs": "That code belongs to another creator",
            " ": "Enter a code.",
        }.items():
            form = {"creator": str(creator.id), "video": video.public_id, "code": code}
            refused = await post_form(client, "/offers/membership/code", form, htmx=True)
            assert refused.status_code == 422, (code, refused.text)
            assert message in refused.text
            assert 'aria-invalid="true"' in refused.text
        form = {"creator": str(creator.id), "video": "", "code": "Welcome"}
        applied = await post_form(client, "/offers/membership/code", form, htmx=True)
        assert applied.status_code == 200, applied.text
        assert 'data-testid="tier-promo-applied"' in applied.text
        assert 'name="price" value="70"' in applied.text
        assert 'action="/offers/membership/join"' in applied.text
        key = KEY_INPUT.findall(applied.text)[0]
        join = {"tier": str(tier.id), "key": key, "price": "100", "video": "", "code": "WELCOME"}
        refused = await post_form(client, "/offers/membership/join", join, htmx=True)
        assert refused.status_code == 409  # the list price is not what the code's button showed
        expired = await post_form(client, "/offers/membership/join", {**join, "price": "90", "code": "old"}, htmx=True)
        assert expired.status_code == 422
        assert "That code has expired" in expired.text
        assert (await balances(pg, viewer.id, creator.id))[:2] == (1000, 0)
        joined = await post_form(client, "/offers/membership/join", {**join, "price": "70"}, htmx=True)
        assert joined.status_code == 200, joined.text
        assert "You are now a member" in joined.text
        assert htmx_events(joined) == {"wallet-changed"}
        again = await post_form(client, "/offers/membership/join", {**join, "price": "70"}, htmx=True)
        assert again.status_code == 200  # the same click: charged once
    assert (await balances(pg, viewer.id, creator.id))[:2] == (930, 63)
    row = await pg.get(Database).fetchrow("SELECT metadata FROM ledger_transfers WHERE kind = 'membership_join'")
    assert row is not None
    metadata = row["metadata"] if isinstance(row["metadata"], dict) else __import__("json").loads(row["metadata"])
    assert (metadata["list_price"], metadata["discount"], metadata["code"]) == ("100", "30", "WELCOME")
    assert await count(pg, "SELECT uses FROM promo_codes WHERE code = 'WELCOME'") == 1
    assert await count(pg, "SELECT count(*) FROM promo_redemptions WHERE target_kind = 'tier'") == 1
    async with browser_of(pg, settings, creator) as studio:
        csv = await studio.get("/studio/offers/sales.csv")
        assert csv.text.strip().splitlines()[1].endswith("membership,Fans (first month),WELCOME,100,30,70,7,63")
    # the renewal charges the tier's full price
    await pg.get(Database).execute(
        "UPDATE memberships SET period_start = now() - interval '31 days', period_end = now() - interval '1 second'"
    )
    assert (await memberships.run_renewals())["renew"] == 1
    assert (await balances(pg, viewer.id, creator.id))[:2] == (830, 153)


async def test_the_last_use_of_a_tier_code_is_taken_once_by_concurrent_joins(pg: Injector) -> None:
    creator = await person(pg, "Creator", creator=True)
    memberships, offers = pg.get(MembershipService), pg.get(OffersService)
    tier = await memberships.create_tier(creator.id, name="Fans", price="100", all_videos=True, video_ids=[])
    await offers.create_code(creator.id, "ONLYONE", "points", "50", f"tier:{tier.id}", "1", "")
    viewers = [await person(pg, f"Viewer {n}") for n in range(6)]
    for viewer in viewers:
        await fund(pg, viewer.id, 500)
    results = await asyncio.gather(
        *(
            offers.join_with_code(viewer.id, tier.id, f"join-{n:02d}-abcdefghijklm", "50", "onlyone")
            for n, viewer in enumerate(viewers)
        ),
        return_exceptions=True,
    )
    succeeded = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(succeeded) == 1, results
    assert all(isinstance(r, CodeUsedUp) for r in refused), refused
    assert await count(pg, "SELECT uses FROM promo_codes") == 1
    assert await count(pg, "SELECT count(*) FROM memberships") == 1
    assert await count(pg, "SELECT coalesce(sum(points), 0) FROM membership_charges") == 50


async def test_a_take_down_between_the_bundle_page_and_the_click_charges_nothing(
    pg: Injector, settings: Settings
) -> None:
    creator = await person(pg, "Creator", creator=True)
    first, second = await video_of(pg, creator, "Part one", 300), await video_of(pg, creator, "Part two", 300)
    offers = pg.get(OffersService)
    bundle = await offers.create_bundle(creator.id, "The course", "", "500")
    for video in (first, second):
        await offers.add_video(creator.id, bundle.public_id, video.public_id)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 1000)
    staff = (await pg.get(AccountService).set_staff((await person(pg, "Stella")).email, True)).principal()

    async with browser_of(pg, settings, viewer) as client:
        page = await client.get(f"/b/{bundle.public_id}")
        key = KEY_INPUT.findall(page.text)[0]
        await pg.get(ModerationService).take_down(staff, second.id, "Stolen footage")
        click = await post_form(client, f"/b/{bundle.public_id}/buy", {"key": key, "price": "500"}, htmx=True)
        assert click.status_code == 409
        assert "moderators removed a video in it" in click.text
        assert "Nothing was charged" in click.text
        assert 'data-testid="buy-bundle"' not in click.text
        again = await client.get(f"/b/{bundle.public_id}")
        assert 'data-testid="bundle-not-on-sale"' in again.text
        assert 'data-testid="buy-bundle"' not in again.text
    assert await count(pg, "SELECT count(*) FROM bundle_purchases") == 0
    assert (await balances(pg, viewer.id, creator.id))[:2] == (1000, 0)
    assert await pg.get(UnlockService).entitlement(viewer.id, first.id) is None


async def test_a_video_taken_out_of_the_bundle_between_the_page_and_the_click_charges_nothing(
    pg: Injector, settings: Settings
) -> None:
    """The buy button carries the videos its page listed: one taken out before the click refuses it (409,
    nothing charged, the message says to reload); the fresh panel's button then buys what it shows."""
    creator = await person(pg, "Creator", creator=True)
    first, second = await video_of(pg, creator, "Part one", 300), await video_of(pg, creator, "Part two", 300)
    offers = pg.get(OffersService)
    bundle = await offers.create_bundle(creator.id, "The course", "", "500")
    for video in (first, second):
        await offers.add_video(creator.id, bundle.public_id, video.public_id)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 1000)

    async with browser_of(pg, settings, viewer) as client:
        page = await client.get(f"/b/{bundle.public_id}")
        key = KEY_INPUT.findall(page.text)[0]
        listed = re.search(r'name="videos" value="([^"]*)"', page.text)
        assert listed is not None
        assert sorted(listed[1].split()) == sorted([first.public_id, second.public_id])
        await offers.remove_video(creator.id, bundle.public_id, second.public_id)
        form = {"key": key, "price": "500", "videos": listed[1]}
        click = await post_form(client, f"/b/{bundle.public_id}/buy", form, htmx=True)
        assert click.status_code == 409
        assert "took 1 video out of this bundle" in click.text
        assert "Nothing was charged" in click.text
        assert (await balances(pg, viewer.id, creator.id))[:2] == (1000, 0)
        fresh = re.search(r'name="videos" value="([^"]*)"', click.text)
        assert fresh is not None
        assert fresh[1].split() == [first.public_id]
        form = {"key": KEY_INPUT.findall(click.text)[0], "price": "500", "videos": fresh[1]}
        bought = await post_form(client, f"/b/{bundle.public_id}/buy", form, htmx=True)
        assert bought.status_code == 200
        assert 'data-testid="bundle-bought"' in bought.text
    assert (await balances(pg, viewer.id, creator.id))[0] == 500
