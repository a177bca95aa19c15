"""The balance pill live on a real server with real PostgreSQL: any logged-in person may open the live
stream (their own topic only); a change to their wallet made elsewhere (another tab, the payment
vendor's webhook) reaches their open pages as the pill with the new balance — and nobody else's; a
person who is not a creator gets no creator tiles. The wallet and the purchase return page connect;
other plain pages do not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from injector import Injector

from core.settings import Settings
from features.ledger.model import WALLET_CHANGED_EVENT
from features.unlocks.service import TipService, UnlockService
from tests.integration.test_dashboard_live import Listener, logged_in
from tests.support.live import live_app
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish
from tests.support.wallet import WalletHarness

CREATOR_EVENTS = {"sale", "tip", "viewers", "payout", "video"}


@pytest.fixture(scope="module")
async def server(real_injector: Injector, settings: Settings) -> AsyncIterator[str]:
    async with live_app(settings, real_injector) as url:
        yield url


async def test_a_viewers_pill_follows_their_unlocks_tips_and_purchases_made_elsewhere(
    pg: Injector, server: str
) -> None:
    creator = await person(pg, "Mira", creator=True)
    viewer, stranger = await person(pg, "Sam"), await person(pg, "Kim")
    video = await price_and_publish(pg, creator.id, (await add_synthetic_video(pg, creator.id)).video)
    await fund(pg, viewer.id, 500)
    names = {WALLET_CHANGED_EVENT} | CREATOR_EVENTS

    async with await logged_in(pg, server, viewer) as mine, await logged_in(pg, server, stranger) as theirs:
        listener, other = Listener(mine, names), Listener(theirs, names)
        await listener.ready()
        await other.ready()

        await pg.get(UnlockService).unlock(viewer.id, video.public_id, "rent_day", "pill-key-000000000001", "50")
        seen = await listener.wait_for(1)
        assert seen[0].event == WALLET_CHANGED_EVENT
        assert 'id="balance-pill"' in seen[0].data
        assert 'hx-swap-oob="outerHTML"' in seen[0].data
        assert ">450<" in seen[0].data

        await pg.get(TipService).tip(viewer, video.public_id, 10, "Nice", "pill-key-000000000002")
        await listener.wait_for(2)
        assert ">440<" in seen[1].data

        shop = WalletHarness(pg)
        purchase = await shop.buy(viewer.id, "p550")
        await shop.pay(purchase)  # the vendor's webhook credits the pack
        await listener.wait_for(3)
        assert ">990<" in seen[2].data

        await asyncio.sleep(0.3)
        assert [e.event for e in seen] == [WALLET_CHANGED_EVENT] * 3  # no creator tiles for a viewer
        assert other.events == []
        await listener.close()
        await other.close()


async def test_a_creator_still_gets_their_tiles_and_only_their_own_pill(pg: Injector, server: str) -> None:
    creator = await person(pg, "Mira", creator=True)
    viewer = await person(pg, "Sam")
    video = await price_and_publish(pg, creator.id, (await add_synthetic_video(pg, creator.id)).video)
    await fund(pg, viewer.id, 100)
    async with await logged_in(pg, server, creator) as http:
        listener = Listener(http, {WALLET_CHANGED_EVENT, "sale"})
        await listener.ready()
        await pg.get(UnlockService).unlock(viewer.id, video.public_id, "rent_day", "pill-key-000000000011", "50")
        [sale] = await listener.wait_for(1)
        assert sale.event == "sale"
        await asyncio.sleep(0.3)
        assert [e.event for e in listener.events] == ["sale"]  # the buyer's pill is the buyer's
        await listener.close()


async def test_the_wallet_and_the_return_page_connect_and_a_visitor_cannot(pg: Injector, server: str) -> None:
    viewer = await person(pg, "Sam")
    async with await logged_in(pg, server, viewer) as http:
        wallet = await http.get("/wallet")
        assert wallet.text.count('sse-connect="/studio/events"') == 1
        assert f'sse-swap="{WALLET_CHANGED_EVENT}"' in wallet.text
        purchase = await WalletHarness(pg).buy(viewer.id, "p550")
        returned = await http.get(f"/wallet/return?ref={purchase.payment_ref}")
        assert returned.status_code == 200
        assert returned.text.count('sse-connect="/studio/events"') == 1
        assert "sse-connect" not in (await http.get("/")).text  # not every page holds a stream
    async with httpx.AsyncClient(base_url=server) as visitor:
        refused = await visitor.get("/studio/events")
        assert refused.status_code == 303  # to the login page, as for every page that needs a login
        assert "text/event-stream" not in refused.headers.get("content-type", "")
