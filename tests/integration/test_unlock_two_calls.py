"""A click in two database calls (migrations/2200_unlock_two_calls.sql, `UnlockService._unlock_as_read`)
keeps every guarantee of the click decided under the lock, on real PostgreSQL.

The click reads without the purchase lock, decides in Python, then sells only if what it read is
unchanged once the lock is held. Each race below is made to happen exactly between the read and the
sale: the service is given a repository that, after the real read, lets "another tab", the creator or a
moderator act (a hand-written wrapper of the PostgreSQL adapter, not a mock). Without the check under
the lock each of them would charge what the page did not show, or twice, or for a removed video.
The `pg` fixture verifies the ledger after each test.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from injector import Injector

from core.db import Database
from core.di import get_port
from core.events import EventBus
from core.identity import Principal
from core.ratelimit import RateLimiter
from features.ledger.model import AccountRef, InsufficientPoints, Transfer
from features.ledger.service import LedgerService
from features.studio.model import Video
from features.studio.service import StudioService
from features.unlocks.adapters import PostgresUnlockRepository
from features.unlocks.model import (
    NothingToExtend,
    Offer,
    OpenedPurchase,
    PriceChanged,
    PurchasesThrottled,
    RecordedSale,
    Unlock,
    VideoRemoved,
)
from features.unlocks.ports import MembershipAccess, TipRepository
from features.unlocks.service import PricingService, UnlockPolicy, UnlockService
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish

Meanwhile = Callable[[], Awaitable[None]]


class ActsBetweenReadAndSale(PostgresUnlockRepository):
    """The PostgreSQL repository, with `meanwhile` run once right after a click's first call (the read)
    and before its second (the sale under the lock); it keeps what each sale answered."""

    def __init__(self, db: Database, bus: EventBus, limiter: RateLimiter) -> None:
        super().__init__(db, bus, limiter)
        self.meanwhile: Meanwhile | None = None
        self.sales: list[str] = []

    async def open_purchase(
        self, video_id: UUID, viewer_id: UUID, key: str, limit_key: str | None, limit: int, window: int, now: datetime
    ) -> OpenedPurchase | None:
        opened = await super().open_purchase(video_id, viewer_id, key, limit_key, limit, window, now)
        action, self.meanwhile = self.meanwhile, None
        if action is not None:
            await action()
        return opened

    async def sell_as_read(
        self,
        opened: OpenedPurchase,
        video: Video,
        transfer: Transfer,
        unlock: Unlock,
        fresh_expiry: datetime | None,
        waiting: timedelta | None,
        events: Sequence[tuple[str, str, Mapping[str, Any]]],
    ) -> RecordedSale:
        recorded = await super().sell_as_read(opened, video, transfer, unlock, fresh_expiry, waiting, events)
        self.sales.append(recorded.status)
        return recorded


def service_with(
    pg: Injector, unlocks: PostgresUnlockRepository, purchases_per_minute: int = 1000, *, limited: bool = True
) -> UnlockService:
    """The application's UnlockService, but on `unlocks` (and without an abuse limit unless `limited`)."""
    app = pg.get(UnlockService)
    return UnlockService(
        unlocks,
        get_port(pg, TipRepository),
        pg.get(PricingService),
        pg.get(StudioService),
        app.accounts,
        pg.get(LedgerService),
        get_port(pg, EventBus),
        app.uow,
        app.clock,
        UnlockPolicy(fee_percent=10, purchases_per_minute=purchases_per_minute),
        limiter=get_port(pg, RateLimiter) if limited else None,
        membership=get_port(pg, MembershipAccess),
    )


@pytest.fixture
def racy(pg: Injector) -> ActsBetweenReadAndSale:
    return ActsBetweenReadAndSale(pg.get(Database), get_port(pg, EventBus), get_port(pg, RateLimiter))


async def on_sale(pg: Injector, day: int = 50) -> tuple[Principal, Video]:
    creator = await person(pg, "Creator", creator=True)
    video = (await add_synthetic_video(pg, creator.id, title="Tides at dawn")).video
    return creator, await price_and_publish(pg, creator.id, video, rent_day=day, lifetime=500)


async def wallet(pg: Injector, user: UUID) -> int:
    return await pg.get(LedgerService).balance(AccountRef.wallet(user))


async def counted_clicks(pg: Injector, viewer: UUID) -> int:
    """The viewer's clicks in the current window of the abuse limit."""
    key = f"purchases:viewer:{viewer}"
    return int(await pg.get(Database).fetchval("SELECT hits FROM rate_limits WHERE key = $1", key))


async def purchases(pg: Injector, viewer: UUID) -> int:
    return int(await pg.get(Database).fetchval("SELECT count(*) FROM unlocks WHERE viewer_id = $1", viewer))


async def test_a_plain_click_is_sold_in_the_two_calls(pg: Injector, racy: ActsBetweenReadAndSale) -> None:
    _, video = await on_sale(pg)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 200)
    outcome = await service_with(pg, racy).unlock(viewer.id, video.public_id, "rent_day", "key-plain-0001-0", "50")
    assert not outcome.result.replayed
    assert outcome.panel.access.entitlement is not None
    assert racy.sales == ["posted"]
    assert await wallet(pg, viewer.id) == 150
    assert await purchases(pg, viewer.id) == 1


async def test_without_an_abuse_limit_a_click_is_sold_in_the_two_calls_and_counted_nowhere(
    pg: Injector, racy: ActsBetweenReadAndSale
) -> None:
    _, video = await on_sale(pg)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 200)
    service = service_with(pg, racy, limited=False)
    await service.unlock(viewer.id, video.public_id, "rent_day", "key-unlimited-001", "50")
    assert racy.sales == ["posted"]
    assert await wallet(pg, viewer.id) == 150
    assert await pg.get(Database).fetchval("SELECT count(*) FROM rate_limits") == 0


async def test_a_price_raised_between_the_read_and_the_lock_charges_nothing(
    pg: Injector, racy: ActsBetweenReadAndSale
) -> None:
    creator, video = await on_sale(pg, day=50)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 1_000)

    async def creator_raises_the_price() -> None:
        await pg.get(PricingService).set_prices(
            creator.id, video.public_id, free=False, prices={Offer.RENT_DAY: "80", Offer.LIFETIME: "500"}, preview=""
        )

    racy.meanwhile = creator_raises_the_price
    with pytest.raises(PriceChanged) as refused:
        await service_with(pg, racy).unlock(viewer.id, video.public_id, "rent_day", "key-price-0001-0", "50")
    assert refused.value.price == 80
    assert racy.sales == ["stale"]
    assert await wallet(pg, viewer.id) == 1_000
    assert await purchases(pg, viewer.id) == 0


async def test_access_bought_in_another_tab_between_the_read_and_the_lock_is_not_charged_again(
    pg: Injector, racy: ActsBetweenReadAndSale
) -> None:
    _, video = await on_sale(pg)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 1_000)

    async def the_other_tab_buys() -> None:
        await pg.get(UnlockService).unlock(viewer.id, video.public_id, "rent_day", "key-other-tab-01", "50")

    racy.meanwhile = the_other_tab_buys
    with pytest.raises(NothingToExtend):
        await service_with(pg, racy).unlock(viewer.id, video.public_id, "rent_day", "key-this-tab-001", "50")
    assert racy.sales == ["stale"]
    assert await wallet(pg, viewer.id) == 950
    assert await purchases(pg, viewer.id) == 1


async def test_a_video_taken_down_between_the_read_and_the_lock_is_not_sold(
    pg: Injector, racy: ActsBetweenReadAndSale
) -> None:
    _, video = await on_sale(pg)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 1_000)

    async def moderators_take_it_down() -> None:
        await pg.get(StudioService).take_down(video.id, "Copyright claim")

    racy.meanwhile = moderators_take_it_down
    with pytest.raises(VideoRemoved):
        await service_with(pg, racy).unlock(viewer.id, video.public_id, "rent_day", "key-takedown-0001", "50")
    assert racy.sales == ["stale"]
    assert await wallet(pg, viewer.id) == 1_000
    assert await purchases(pg, viewer.id) == 0


async def test_the_same_key_committed_between_the_read_and_the_lock_replays_the_first_purchase(
    pg: Injector, racy: ActsBetweenReadAndSale
) -> None:
    _, video = await on_sale(pg)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 1_000)
    first: list[Unlock] = []

    async def the_retry_wins() -> None:
        bought = await pg.get(UnlockService).unlock(viewer.id, video.public_id, "rent_day", "key-retried-0001", "50")
        first.append(bought.result.unlock)

    racy.meanwhile = the_retry_wins
    outcome = await service_with(pg, racy).unlock(viewer.id, video.public_id, "rent_day", "key-retried-0001", "50")
    assert outcome.result.replayed
    assert outcome.result.unlock == first[0]
    assert racy.sales == ["stale"]
    assert await wallet(pg, viewer.id) == 950
    assert await purchases(pg, viewer.id) == 1


async def test_a_retried_click_replays_the_first_purchase_without_a_sale(
    pg: Injector, racy: ActsBetweenReadAndSale
) -> None:
    _, video = await on_sale(pg)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 1_000)
    service = service_with(pg, racy)
    first = await service.unlock(viewer.id, video.public_id, "rent_day", "key-replay-00001", "50")
    again = await service.unlock(viewer.id, video.public_id, "rent_day", "key-replay-00001", "50")
    assert (first.result.replayed, again.result.replayed) == (False, True)
    assert again.result.unlock == first.result.unlock
    assert racy.sales == ["posted"]  # the retry read the purchase and sold nothing
    assert await wallet(pg, viewer.id) == 950


async def test_a_click_the_wallet_cannot_pay_charges_nothing(pg: Injector, racy: ActsBetweenReadAndSale) -> None:
    _, video = await on_sale(pg)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 30)
    with pytest.raises(InsufficientPoints):
        await service_with(pg, racy).unlock(viewer.id, video.public_id, "rent_day", "key-poor-00000001", "50")
    assert racy.sales == ["insufficient"]
    assert await wallet(pg, viewer.id) == 30
    assert await purchases(pg, viewer.id) == 0


async def test_refused_clicks_count_on_the_abuse_limit(pg: Injector, racy: ActsBetweenReadAndSale) -> None:
    """Clicks refused for a wrong price (decided from the first call's read) still count: the count is
    committed by that call, whatever the click becomes."""
    _, video = await on_sale(pg)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 1_000)
    service = service_with(pg, racy, purchases_per_minute=3)
    for n in range(3):
        with pytest.raises(PriceChanged):
            await service.unlock(viewer.id, video.public_id, "rent_day", f"key-wrong-price-{n:04d}", "49")
    with pytest.raises(PurchasesThrottled):
        await service.unlock(viewer.id, video.public_id, "rent_day", "key-right-price-1", "50")
    assert racy.sales == []
    assert await wallet(pg, viewer.id) == 1_000
    assert await counted_clicks(pg, viewer.id) == 4


async def test_the_abuse_limit_is_counted_once_per_click_when_the_general_path_decides(
    pg: Injector, racy: ActsBetweenReadAndSale
) -> None:
    _, video = await on_sale(pg)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 1_000)

    async def the_other_tab_buys() -> None:
        await pg.get(UnlockService).unlock(viewer.id, video.public_id, "rent_day", "key-other-tab-02", "50")

    racy.meanwhile = the_other_tab_buys
    with pytest.raises(NothingToExtend):
        await service_with(pg, racy).unlock(viewer.id, video.public_id, "rent_day", "key-this-tab-002", "50")
    assert await counted_clicks(pg, viewer.id) == 2  # the other tab and this one (counted once)
