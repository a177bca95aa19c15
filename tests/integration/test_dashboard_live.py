"""The live dashboard on a live server with real PostgreSQL: the strip, and its tiles arriving on the
studio page's one SSE stream — to their creator only, and again after a reconnect (Last-Event-ID)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from httpx_sse import ServerSentEvent, aconnect_sse
from injector import Injector

from core.db import Database
from core.settings import Settings
from features.dashboard.service import DashboardService
from features.playback.service import PlaybackService
from features.unlocks.service import TipService, UnlockService
from tests.support.live import live_app
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish, session_token

WAIT = 10.0


@pytest.fixture(scope="module")
async def server(real_injector: Injector, settings: Settings) -> AsyncIterator[str]:
    async with live_app(settings, real_injector) as url:
        yield url


async def logged_in(pg: Injector, server: str, who: object) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=server, timeout=WAIT)
    client.cookies.set("hypha_session", await session_token(pg, who))  # type: ignore[arg-type]
    return client


class Listener:
    """Reads /studio/events in the background, keeping the named events it receives."""

    def __init__(self, client: httpx.AsyncClient, names: set[str], headers: dict[str, str] | None = None) -> None:
        self.events: list[ServerSentEvent] = []
        self.connected = asyncio.Event()
        self._task = asyncio.create_task(self._read(client, names, headers or {}))

    async def _read(self, client: httpx.AsyncClient, names: set[str], headers: dict[str, str]) -> None:
        async with aconnect_sse(client, "GET", "/studio/events", headers=headers) as source:
            self.connected.set()
            async for event in source.aiter_sse():
                if event.event in names:
                    self.events.append(event)

    async def ready(self) -> None:
        await asyncio.wait_for(self.connected.wait(), WAIT)
        await asyncio.sleep(0.3)  # the subscription is in place once the stream has started

    async def wait_for(self, count: int) -> list[ServerSentEvent]:
        for _ in range(int(WAIT / 0.05)):
            if len(self.events) >= count:
                return self.events
            await asyncio.sleep(0.05)
        raise AssertionError(f"expected {count} events, got {[e.event for e in self.events]}")

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


async def test_the_strip_shows_the_creators_figures(pg: Injector, server: str) -> None:
    creator = await person(pg, "Mira", creator=True)
    viewer = await person(pg, "Sam")
    video = await price_and_publish(pg, creator.id, (await add_synthetic_video(pg, creator.id)).video)
    await fund(pg, viewer.id, 500)
    await pg.get(UnlockService).unlock(viewer.id, video.public_id, "rent_day", "dash-key-000000000001", "50")
    await pg.get(TipService).tip(viewer, video.public_id, 10, "Lovely light", "dash-key-000000000002")

    async with await logged_in(pg, server, creator) as http:
        strip = await http.get("/studio/dashboard", headers={"hx-request": "true"})
        assert strip.status_code == 200
        assert 'data-testid="sales-count">1<' in strip.text
        assert 'data-testid="sales-points">50<' in strip.text
        assert 'data-testid="balance">55<' in strip.text
        assert "Lovely light" in strip.text
        assert 'sse-swap="sale,tip,viewers,payout,bundle_sale"' in strip.text
        assert 'hx-get="/studio/offers/tile"' in strip.text  # the offers feature's tile loads itself
        page = await http.get("/studio/dashboard")
        assert page.text.count("sse-connect=") == 1
        studio = await http.get("/studio")
        assert studio.text.count("sse-connect=") == 1
        assert 'hx-get="/studio/dashboard"' in studio.text

    async with await logged_in(pg, server, viewer) as http:
        assert (await http.get("/studio/dashboard", headers={"hx-request": "true"})).status_code == 403


async def test_sales_tips_and_viewers_stream_to_their_creator_only(pg: Injector, server: str) -> None:
    creator, rival = await person(pg, "Mira", creator=True), await person(pg, "Rex", creator=True)
    viewer = await person(pg, "Sam")
    video = await price_and_publish(pg, creator.id, (await add_synthetic_video(pg, creator.id)).video)
    await fund(pg, viewer.id, 500)
    names = {"sale", "tip", "viewers"}

    async with await logged_in(pg, server, creator) as mine, await logged_in(pg, server, rival) as theirs:
        listener, rival_listener = Listener(mine, names), Listener(theirs, names)
        await listener.ready()
        await rival_listener.ready()

        await pg.get(UnlockService).unlock(viewer.id, video.public_id, "rent_day", "dash-key-000000000011", "50")
        seen = await listener.wait_for(1)
        sale = seen[0]
        assert sale.event == "sale"
        assert sale.id
        assert 'id="dash-today"' in sale.data
        assert 'hx-swap-oob="outerHTML"' in sale.data
        assert 'data-testid="sales-count">1<' in sale.data
        assert 'data-testid="balance">45<' in sale.data

        await pg.get(TipService).tip(viewer, video.public_id, 50, "Bravo! <b>x</b>", "dash-key-000000000012")
        await listener.wait_for(2)
        assert seen[1].event == "tip"
        assert "Bravo! &lt;b&gt;x&lt;/b&gt;" in seen[1].data  # a viewer's words are text, never markup
        assert 'data-testid="balance">95<' in seen[1].data

        await pg.get(PlaybackService).heartbeat(viewer.id, video.public_id, "session-dash-1", 4, client="127.0.0.1")
        assert await pg.get(DashboardService).refresh_viewers() == {creator.id: 1}
        await listener.wait_for(3)
        assert seen[2].event == "viewers"
        assert 'data-testid="viewers">1<' in seen[2].data

        await asyncio.sleep(0.3)
        assert rival_listener.events == []
        await listener.close()
        await rival_listener.close()

    # A browser that reconnects with the id of the last event it got is sent what it missed.
    first_id = await pg.get(Database).fetchval(
        "SELECT min(id) FROM event_log WHERE topic = $1 AND name = 'sale'", f"user:{creator.id}"
    )
    async with await logged_in(pg, server, creator) as again:
        replay = Listener(again, names, headers={"Last-Event-ID": str(first_id)})
        missed = await replay.wait_for(2)
        await replay.close()
        assert [e.event for e in missed] == ["tip", "viewers"]
        assert "Bravo!" in missed[0].data
        assert 'data-testid="balance">95<' in missed[0].data
