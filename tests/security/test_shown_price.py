"""An unlock charges the price the viewer saw, or nothing (issue 11, item 1).

The unlock button carries the price it shows. A click whose price is not exactly the current price of
its offer — the creator changed it after the page loaded, another tab is stale, or the number was
forged — is refused with a 409 whose panel shows the current offer, and nothing is charged. The
client's number is never charged when it differs. Over HTTP, on real PostgreSQL; the `pg` fixture
verifies the ledger after each test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import httpx
import msgspec
import pytest
from injector import Binder, Injector, InstanceProvider, Module

from core.clock import FrozenClock
from core.db import Database
from core.di import bind_port, build_injector
from core.events import EventBus
from core.identity import Principal
from core.postgres import PostgresEventBus
from core.settings import Settings
from core.uow import UnitOfWork
from core.web import SESSION_COOKIE
from features.bootstrap import features_for
from features.ledger.adapters import PostgresLedgerRepository
from features.ledger.model import AccountRef, Leg
from features.ledger.service import LedgerService
from features.studio.model import Video
from features.unlocks.model import Offer
from features.unlocks.service import PricingService
from tests.conftest import app_client
from tests.support.forms import form_with
from tests.support.videos import add_synthetic_video, balances, fund, person, price_and_publish, session_token
from tests.support.web import csrf_token, post_form


@asynccontextmanager
async def browser_of(pg: Injector, settings: Settings, who: Principal) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(pg, settings) as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, who))
        await csrf_token(client, "/login")
        yield client


async def published_video(pg: Injector, **prices: int | None) -> tuple[Principal, Video]:
    creator = await person(pg, "Creator", creator=True)
    video = (await add_synthetic_video(pg, creator.id, title="Tides at dawn")).video
    return creator, await price_and_publish(pg, creator.id, video, **prices)  # type: ignore[arg-type]


async def reprice(pg: Injector, creator: Principal, video: Video, **prices: int | None) -> None:
    texts = {offer: "" if prices.get(offer.value) is None else str(prices[offer.value]) for offer in Offer}
    await pg.get(PricingService).set_prices(creator.id, video.public_id, free=False, prices=texts, preview="")


async def purchases(pg: Injector) -> int:
    return int(await pg.get(Database).fetchval("SELECT count(*) FROM unlocks"))


def unlock_form(html: str, video: Video, offer: str = "rent_day") -> dict[str, str]:
    return form_with(html, f"/v/{video.public_id}/unlock", offer=offer)


@pytest.mark.parametrize(("shown", "now"), [(50, 1000), (1000, 50), (50, 51)])
async def test_a_price_changed_after_the_page_loaded_is_refused_with_the_new_offer(
    pg: Injector, settings: Settings, shown: int, now: int
) -> None:
    creator, video = await published_video(pg, rent_day=shown, rent_month=None, lifetime=None)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 5000)
    async with browser_of(pg, settings, viewer) as client:
        stale = unlock_form((await client.get(f"/v/{video.public_id}")).text, video)
        await reprice(pg, creator, video, rent_day=now)
        refused = await post_form(client, f"/v/{video.public_id}/unlock", stale, htmx=True)
        assert refused.status_code == 409, refused.text
        assert "Nothing was charged" in refused.text
        assert f"now {now:,} points" in refused.text
        assert "hx-trigger" not in refused.headers  # the wallet did not change
        assert 'data-testid="player"' not in refused.text
        fresh = unlock_form(refused.text, video)  # the panel offers the new price, with a new key
        assert fresh["key"] != stale["key"]
        assert await balances(pg, viewer.id, creator.id) == (5000, 0, 0)
        assert await purchases(pg) == 0
        bought = await post_form(client, f"/v/{video.public_id}/unlock", fresh, htmx=True)
        assert bought.status_code == 200, bought.text
        assert 'data-testid="player"' in bought.text
    assert await balances(pg, viewer.id, creator.id) == (5000 - now, now - now // 10, now // 10)


async def test_a_stale_page_submitted_without_htmx_gets_a_409_page_with_the_new_offer(
    pg: Injector, settings: Settings
) -> None:
    creator, video = await published_video(pg, rent_day=50, rent_month=200, lifetime=None)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 5000)
    async with browser_of(pg, settings, viewer) as client:
        stale = unlock_form((await client.get(f"/v/{video.public_id}")).text, video, "rent_month")
        await reprice(pg, creator, video, rent_day=50, rent_month=900)
        refused = await post_form(client, f"/v/{video.public_id}/unlock", stale)
        assert refused.status_code == 409
        assert "now 900 points" in refused.text
        assert unlock_form(refused.text, video, "rent_month")["price"] == "900"
    assert await balances(pg, viewer.id, creator.id) == (5000, 0, 0)


FORGED = [
    "1",
    "0",
    "-50",
    "49",
    "5",
    "500",
    "50.0",
    "5e1",
    "0050",
    "+50",
    "５０",  # fullwidth digits: int() would read 50
    "٥٠",  # Arabic-Indic digits, likewise
    "²",
    "",
    "9" * 40,
    "50;DROP TABLE unlocks",
]


async def test_a_forged_price_is_refused_and_nothing_is_charged(pg: Injector, settings: Settings) -> None:
    """Every number but the one the button shows — lower, higher, another offer's, or not a plain
    number at all — is a 409 with the real price; none of them is ever charged."""
    creator, video = await published_video(pg, rent_day=50, rent_month=200, lifetime=500)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 5000)
    async with browser_of(pg, settings, viewer) as client:
        page = (await client.get(f"/v/{video.public_id}")).text
        for offer, shown in (("rent_day", "50"), ("lifetime", "500")):
            form = unlock_form(page, video, offer)
            assert form["price"] == shown
            for price in FORGED:
                if price == shown:
                    continue
                forged = await post_form(client, f"/v/{video.public_id}/unlock", form | {"price": price}, htmx=True)
                assert forged.status_code == 409, (offer, price, forged.text)
                assert "Nothing was charged" in forged.text
                assert unlock_form(forged.text, video, offer)["price"] == shown
    assert await balances(pg, viewer.id, creator.id) == (5000, 0, 0)
    assert await purchases(pg) == 0


async def test_a_click_without_a_price_or_with_another_offers_price_is_refused(
    pg: Injector, settings: Settings
) -> None:
    creator, video = await published_video(pg, rent_day=50, rent_month=200, lifetime=500)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 5000)
    path = f"/v/{video.public_id}/unlock"
    async with browser_of(pg, settings, viewer) as client:
        page = (await client.get(f"/v/{video.public_id}")).text
        day, life = unlock_form(page, video, "rent_day"), unlock_form(page, video, "lifetime")
        without = {name: value for name, value in day.items() if name != "price"}
        assert (await post_form(client, path, without, htmx=True)).status_code == 409
        swapped = await post_form(client, path, life | {"price": day["price"]}, htmx=True)  # lifetime for 50
        assert swapped.status_code == 409
        assert "now 500 points" in swapped.text
        twice = await post_form(client, path, {**day, "price": [day["price"], "1"]}, htmx=True)  # type: ignore[dict-item]
        assert twice.status_code == 422  # a field sent twice: no button of ours does that
    assert await balances(pg, viewer.id, creator.id) == (5000, 0, 0)
    assert await purchases(pg) == 0


async def test_a_retried_click_after_a_price_change_replays_the_first_purchase_and_charges_nothing(
    pg: Injector, settings: Settings
) -> None:
    creator, video = await published_video(pg, rent_day=50, rent_month=None, lifetime=None)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 5000)
    path = f"/v/{video.public_id}/unlock"
    async with browser_of(pg, settings, viewer) as client:
        click = unlock_form((await client.get(f"/v/{video.public_id}")).text, video)
        assert (await post_form(client, path, click, htmx=True)).status_code == 200
        await reprice(pg, creator, video, rent_day=1000)
        retried = await post_form(client, path, click, htmx=True)  # the response was lost; the browser retries
        assert retried.status_code == 200, retried.text
        assert 'data-testid="player"' in retried.text
    assert await balances(pg, viewer.id, creator.id) == (4950, 45, 5)
    assert await purchases(pg) == 1


async def test_an_offer_withdrawn_after_the_page_loaded_is_refused(pg: Injector, settings: Settings) -> None:
    creator, video = await published_video(pg, rent_day=50, rent_month=200, lifetime=None)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 5000)
    async with browser_of(pg, settings, viewer) as client:
        stale = unlock_form((await client.get(f"/v/{video.public_id}")).text, video, "rent_month")
        await reprice(pg, creator, video, rent_day=50, rent_month=None)
        refused = await post_form(client, f"/v/{video.public_id}/unlock", stale, htmx=True)
        assert refused.status_code == 409
        assert 'data-testid="offer-rent_month"' not in refused.text
        assert 'data-testid="offer-rent_day"' in refused.text
    assert await balances(pg, viewer.id, creator.id) == (5000, 0, 0)


# -- packs of points: the vendor's checkout asks exactly the price the buy button showed ---------------


class SharedDatabase(Module):
    """Another process of the same site (e.g. after a deploy that changed PACKS): its own settings, the
    same database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def configure(self, binder: Binder) -> None:
        binder.bind(Database, to=InstanceProvider(self.db))
        bind_port(binder, UnitOfWork, self.db)
        bind_port(binder, EventBus, PostgresEventBus(self.db))


async def checkouts(pg: Injector) -> tuple[int, int]:
    db = pg.get(Database)
    return int(await db.fetchval("SELECT count(*) FROM wallet_purchases")), int(
        await db.fetchval("SELECT count(*) FROM sandbox_payments")
    )


async def test_a_pack_repriced_after_the_page_loaded_opens_no_checkout_and_shows_the_new_price(
    pg: Injector, settings: Settings
) -> None:
    viewer = await person(pg, "Viewer")
    repriced = msgspec.structs.replace(settings, packs="100:100,550:650,1200:1000")
    redeployed = build_injector(repriced, features_for(repriced), SharedDatabase(pg.get(Database)))
    async with browser_of(pg, settings, viewer) as before, browser_of(redeployed, repriced, viewer) as after:
        stale = form_with((await before.get("/wallet")).text, "/wallet/checkout", pack="p550")
        refused = await post_form(after, "/wallet/checkout", stale, htmx=True)
        assert refused.status_code == 409, refused.text
        assert (stale["price"], stale["currency"]) == ("500", "USD")
        assert "now costs 6.50 USD" in refused.text
        assert "Nothing was charged" in refused.text
        assert await checkouts(pg) == (0, 0)
        fresh = form_with(refused.text, "/wallet/checkout", pack="p550")
        assert fresh["price"] == "650"
        opened = await post_form(after, "/wallet/checkout", fresh)
        assert opened.status_code == 303, opened.text
    asked = await pg.get(Database).fetchval("SELECT amount_minor FROM wallet_purchases")
    assert asked == 650


async def test_a_forged_pack_price_or_currency_opens_no_checkout(pg: Injector, settings: Settings) -> None:
    viewer = await person(pg, "Viewer")
    async with browser_of(pg, settings, viewer) as client:
        page = (await client.get("/wallet")).text
        click = form_with(page, "/wallet/checkout", pack="p550")
        for forged in [{"price": p} for p in FORGED if p != "500"] + [{"currency": c} for c in ("EUR", "usd", "")]:
            response = await post_form(client, "/wallet/checkout", click | forged, htmx=True)
            assert response.status_code == 409, (forged, response.text)
            assert "now costs 5.00 USD" in response.text
        without = {name: value for name, value in click.items() if name not in ("price", "currency")}
        assert (await post_form(client, "/wallet/checkout", without, htmx=True)).status_code == 409
        assert await checkouts(pg) == (0, 0)
        bought = await post_form(client, "/wallet/checkout", click)  # the button as shown still works
        assert bought.status_code == 303
        # The same button again (a retried request) returns that checkout; with another price it is refused.
        assert (await post_form(client, "/wallet/checkout", click)).headers["location"] == bought.headers["location"]
        reused = await post_form(client, "/wallet/checkout", click | {"price": "100"}, htmx=True)
        assert reused.status_code == 422
    assert await checkouts(pg) == (1, 1)


# -- payouts: "everything available" pays out what the page showed as everything ------------------------


async def earned(pg: Injector, creator: Principal, points: int, days_ago: float = 8) -> None:
    """A sale `days_ago` days back (past the payout hold: available)."""
    clock = FrozenClock(datetime.now(UTC) - timedelta(days=days_ago))
    ledger = LedgerService(PostgresLedgerRepository(pg.get(Database)), clock)
    buyer, key = uuid4(), uuid4().hex
    await ledger.transfer(
        f"buy-{key}", "purchase", [Leg(AccountRef.vendor_clearing(), AccountRef.wallet(buyer), points)]
    )
    await ledger.transfer(
        f"sale-{key}", "unlock", [Leg(AccountRef.wallet(buyer), AccountRef.earnings(creator.id), points)]
    )


async def payouts_moved(pg: Injector) -> list[tuple[int, int]]:
    rows = await pg.get(Database).fetch("SELECT points, amount_minor FROM payouts ORDER BY requested_at")
    return [(row["points"], row["amount_minor"]) for row in rows]


async def test_paying_out_everything_pays_what_the_page_showed_even_if_more_arrived(
    pg: Injector, settings: Settings
) -> None:
    creator = await person(pg, "Creator", creator=True)
    await earned(pg, creator, 2000)
    async with browser_of(pg, settings, creator) as client:
        shown = form_with((await client.get("/studio/payouts")).text, "/studio/payouts/request")
        await earned(pg, creator, 3000)  # more became available after the page loaded
        response = await post_form(client, "/studio/payouts/request", shown | {"points": ""})
        assert response.status_code == 303, response.text
    assert await payouts_moved(pg) == [(2000, 2000)]  # 2,000 points, 20.00 USD: what "all" said


async def test_paying_out_everything_after_less_became_available_is_refused(pg: Injector, settings: Settings) -> None:
    creator = await person(pg, "Creator", creator=True)
    await earned(pg, creator, 5000)
    async with browser_of(pg, settings, creator) as client:
        stale = form_with((await client.get("/studio/payouts")).text, "/studio/payouts/request")
        other_tab = form_with((await client.get("/studio/payouts")).text, "/studio/payouts/request")
        paid = await post_form(client, "/studio/payouts/request", other_tab | {"points": "2000"})
        assert paid.status_code == 303
        refused = await post_form(client, "/studio/payouts/request", stale | {"points": ""}, htmx=True)
        assert refused.status_code == 409, refused.text
        assert "3,000 points now" in refused.text
        assert "Nothing was paid out" in refused.text
        for forged in ({"all_points": "4000"}, {"all_amount": "9999"}, {"all_points": "03000"}, {"all_points": ""}):
            fresh = form_with((await client.get("/studio/payouts")).text, "/studio/payouts/request")
            response = await post_form(client, "/studio/payouts/request", fresh | forged, htmx=True)
            assert response.status_code == 409, (forged, response.text)
    assert await payouts_moved(pg) == [(2000, 2000)]
