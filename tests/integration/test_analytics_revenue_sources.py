"""A creator's earnings in analytics equal the ledger's movements of their earnings, whatever brought
them: unlocks and tips, but also bundles (each video gets its share) and the refunds staff make when
they take a video down. The same figures on the channel page, the video rows, the CSV export and the
dashboard's "today" tile. Checked on PostgreSQL, the figures read over HTTP."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from injector import Injector

from core.identity import Principal
from core.settings import Settings
from core.web import SESSION_COOKIE
from features.analytics.model import DateRange
from features.analytics.service import AnalyticsService
from features.ledger.model import AccountRef
from features.ledger.service import LedgerService
from features.moderation.service import ModerationService
from features.offers.service import OffersService
from features.studio.model import Video
from features.unlocks.service import UnlockService
from tests.conftest import app_client
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish, session_token, staff_person
from tests.support.web import csrf_token


@asynccontextmanager
async def browser_of(pg: Injector, settings: Settings, who: Principal) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(pg, settings) as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, who))
        await csrf_token(client, "/login")
        yield client


async def video_of(pg: Injector, creator: Principal, title: str) -> Video:
    video = (await add_synthetic_video(pg, creator.id, title=title)).video
    return await price_and_publish(pg, creator.id, video, lifetime=500)


async def earnings(pg: Injector, creator: Principal) -> int:
    return await pg.get(LedgerService).balance(AccountRef.earnings(creator.id))


async def shown(pg: Injector, settings: Settings, creator: Principal) -> tuple[int, dict[str, int], int, int]:
    """(channel total earned, earned per video title, the CSV's revenue summed, the today tile's points)
    after the fold, as the creator's pages show them."""
    analytics = pg.get(AnalyticsService)
    await analytics.fold()
    day = (await analytics.today(creator.id)).day
    span = DateRange(day, day)
    report = await analytics.report(creator.id, span)
    per_video = {line.title: line.totals.revenue_points for line in report.videos}
    async with browser_of(pg, settings, creator) as client:
        page = await client.get(f"/studio/analytics?start={day}&end={day}")
        assert page.status_code == 200
        assert f'data-testid="total-revenue">{report.totals.revenue_points:,}<' in page.text
        export = await client.get(f"/studio/analytics/export.csv?start={day}&end={day}")
        assert export.status_code == 200
        rows = list(csv.DictReader(io.StringIO(export.text)))
    today = await analytics.today(creator.id)
    return report.totals.revenue_points, per_video, sum(int(r["revenue_points"]) for r in rows), today.revenue_points


async def test_a_bundle_sale_counts_in_the_creators_earnings_shared_among_its_videos(
    pg: Injector, settings: Settings
) -> None:
    creator = await person(pg, "Creator", creator=True)
    first, second, third = [await video_of(pg, creator, title) for title in ("One", "Two", "Three")]
    offers = pg.get(OffersService)
    bundle = await offers.create_bundle(creator.id, "The set", "", "701")
    for video in (first, second, third):
        await offers.add_video(creator.id, bundle.public_id, video.public_id)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 1000)
    await offers.buy_bundle(viewer.id, bundle.public_id, "key-bundle-analytics-0001", "701")

    earned = await earnings(pg, creator)
    assert earned == 701 - 70
    total, per_video, in_csv, today = await shown(pg, settings, creator)
    assert (total, in_csv, today) == (earned, earned, earned)
    assert sum(per_video.values()) == earned
    assert sorted(per_video.values()) == [210, 210, 211]  # 631 shared out, the odd point to one video


async def test_a_take_down_refund_is_taken_off_the_creators_earnings(pg: Injector, settings: Settings) -> None:
    creator = await person(pg, "Creator", creator=True)
    kept, removed = await video_of(pg, creator, "Kept"), await video_of(pg, creator, "Removed")
    offers = pg.get(OffersService)
    bundle = await offers.create_bundle(creator.id, "Both", "", "800")
    for video in (kept, removed):
        await offers.add_video(creator.id, bundle.public_id, video.public_id)
    viewer, bundler = await person(pg, "Viewer"), await person(pg, "Bundler")
    await fund(pg, viewer.id, 1000)
    await fund(pg, bundler.id, 1000)
    unlocks = pg.get(UnlockService)
    await unlocks.unlock(viewer.id, removed.public_id, "lifetime", "key-refund-analytics-0001", "500")
    await unlocks.unlock(viewer.id, kept.public_id, "lifetime", "key-refund-analytics-0002", "500")
    await offers.buy_bundle(bundler.id, bundle.public_id, "key-refund-analytics-0003", "800")
    assert await earnings(pg, creator) == 450 + 450 + 720
    await pg.get(AnalyticsService).fold()  # the sales are folded before the refunds

    await pg.get(ModerationService).take_down(await staff_person(pg), removed.id, "Stolen footage")

    earned = await earnings(pg, creator)
    assert earned == 450 + 720 - 360  # the unlock of "Kept" and the bundle less the share of "Removed"
    total, per_video, in_csv, today = await shown(pg, settings, creator)
    assert (total, in_csv, today) == (earned, earned, earned)
    assert per_video == {"Kept": 450 + 360, "Removed": 0}
