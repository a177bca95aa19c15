"""A live stream (/studio/events) lives no longer than the session that opened it.

Found by reading core/live.py: the stream checked the session once, when it opened, and then carried
the person's live parts (their balance, their sales, tips and tip messages, their videos' progress)
for as long as the connection stayed open. A session ended by a log-out elsewhere, by "log out other
sessions", by a password change or reset, by a suspension or by the account's deletion kept its open
stream: whoever held a stolen session kept reading.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from injector import Injector

from core.settings import Settings
from features.accounts.service import AccountService
from features.ledger.model import WALLET_CHANGED_EVENT
from features.unlocks.service import TipService, UnlockService
from tests.integration.test_dashboard_live import Listener, logged_in
from tests.support.live import live_app
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish


@pytest.fixture(scope="module")
async def server(real_injector: Injector, settings: Settings) -> AsyncIterator[str]:
    async with live_app(settings, real_injector) as url:
        yield url


async def test_an_open_stream_ends_with_its_session(pg: Injector, server: str) -> None:
    creator, viewer = await person(pg, "Mira", creator=True), await person(pg, "Sam")
    video = await price_and_publish(pg, creator.id, (await add_synthetic_video(pg, creator.id)).video)
    await fund(pg, viewer.id, 500)
    async with await logged_in(pg, server, viewer) as stolen:
        listener = Listener(stolen, {WALLET_CHANGED_EVENT})
        await listener.ready()
        await pg.get(UnlockService).unlock(viewer.id, video.public_id, "rent_day", "live-key-000000000001", "50")
        await listener.wait_for(1)  # the stream works while the session does

        await pg.get(AccountService).end_all_sessions(viewer.id)  # e.g. "log out everywhere", a suspension
        await pg.get(TipService).tip(viewer, video.public_id, 10, "Secret words", "live-key-000000000002")
        await asyncio.sleep(1.0)
        received = [event.data for event in listener.events]
        ended = listener._task.done()
        await listener.close()
    assert len(received) == 1, "a stream of an ended session went on carrying the person's live parts"
    assert ended, "the stream of an ended session was left open"


async def test_a_stream_of_a_live_session_keeps_going(pg: Injector, server: str) -> None:
    creator, viewer = await person(pg, "Mira", creator=True), await person(pg, "Sam")
    video = await price_and_publish(pg, creator.id, (await add_synthetic_video(pg, creator.id)).video)
    await fund(pg, viewer.id, 500)
    async with await logged_in(pg, server, viewer) as mine:
        listener = Listener(mine, {WALLET_CHANGED_EVENT})
        await listener.ready()
        await pg.get(UnlockService).unlock(viewer.id, video.public_id, "rent_day", "live-key-000000000011", "50")
        await pg.get(TipService).tip(viewer, video.public_id, 10, "Nice", "live-key-000000000012")
        await listener.wait_for(2)
        await listener.close()
