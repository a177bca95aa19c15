"""A purchase is refunded at most once, whichever refunds reach it at the same moment: a take-down's
(`UnlockService.refund_purchases`) and its creator's account closure's (`refund_running_rentals`) each
check that the other has not refunded it — under the purchase's own lock, so two at once cannot both
find it unrefunded (on real PostgreSQL, concurrent connections)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from injector import Injector

from core.clock import Clock
from core.di import get_port
from features.ledger.model import AccountRef
from features.ledger.service import LedgerService
from features.unlocks.service import UnlockService
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish

KEYS = iter(f"refund-race-{n:08d}-key" for n in range(10_000))


async def test_a_take_down_and_the_creators_closure_at_once_refund_a_rental_once(pg: Injector) -> None:
    unlocks = pg.get(UnlockService)
    ledger = pg.get(LedgerService)
    now = get_port(pg, Clock).now()
    for _ in range(6):  # a race either side may win: several rounds
        creator = await person(pg, "Creator", creator=True)
        videos = [
            await price_and_publish(pg, creator.id, (await add_synthetic_video(pg, creator.id)).video) for _ in range(2)
        ]
        viewers = []
        for _ in range(3):
            viewer = await person(pg, "Viewer")
            await fund(pg, viewer.id, 1000)
            for video in videos:
                await unlocks.unlock(viewer.id, video.public_id, "rent_day", next(KEYS), "50")
            viewers.append(viewer)
        await asyncio.gather(
            *(unlocks.refund_purchases(video, now - timedelta(hours=1), "spam") for video in videos),
            unlocks.refund_running_rentals(creator.id),
        )
        for viewer in viewers:
            assert await ledger.balance(AccountRef.wallet(viewer.id)) == 1000
        assert await ledger.balance(AccountRef.earnings(creator.id)) == 0
