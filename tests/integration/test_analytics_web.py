"""Analytics on real PostgreSQL and over HTTP: incremental folding, the pages, the CSV export, who may
see what, and revenue that agrees with the ledger."""

from __future__ import annotations

import csv
import io
from uuid import UUID

import httpx
from injector import Injector

from core.db import Database
from features.analytics.model import DateRange
from features.analytics.service import AnalyticsService, Report
from features.ledger.model import AccountRef
from features.ledger.service import LedgerService
from features.unlocks.service import TipService, UnlockService
from tests.support.analytics import (
    DAY1,
    DAY2,
    People,
    add_video,
    fixture_beats,
    fixture_events,
    store_beats,
    store_events_in_log,
)
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish
from tests.support.web import post_form, sign_up

BOTH_DAYS = DateRange(DAY1, DAY2)
RANGE = f"start={DAY1}&end={DAY2}"


def figures(report: Report) -> tuple[object, ...]:
    t = report.totals
    days = [(d.day, d.totals.views, d.totals.watch_ms, d.totals.revenue_points) for d in report.days]
    videos = [(v.video_id, v.totals.views, v.totals.unique_viewers, v.totals.watch_ms) for v in report.videos]
    return (t.views, t.unique_viewers, t.watch_ms, t.preview_views, t.sales, t.net_points, t.tip_points, days, videos)


async def creator_id_of(pg: Injector, email: str) -> UUID:
    row = await pg.get(Database).fetchrow("SELECT id FROM users WHERE email = $1", email)
    assert row is not None
    return row["id"]  # type: ignore[no-any-return]


async def load(pg: Injector, who: People) -> tuple[UUID, UUID]:
    video = await add_video(pg, who.creator)
    other = await add_video(pg, who.other_creator, title="Someone else's")
    await store_beats(pg, fixture_beats(who, video.id))
    await store_events_in_log(pg, fixture_events(who, video.id, other.id))
    return video.id, other.id


async def test_folding_twice_gives_the_same_totals_as_folding_once(pg: Injector) -> None:
    creator, other = await person(pg, "Cleo", creator=True), await person(pg, "Otto", creator=True)
    ann, ben = await person(pg, "Ann"), await person(pg, "Ben")
    who = People(creator.id, ann.id, ben.id, other.id)
    video = await add_video(pg, who.creator)
    other_video = await add_video(pg, who.other_creator, title="Someone else's")
    beats, events = fixture_beats(who, video.id), fixture_events(who, video.id, other_video.id)
    analytics = pg.get(AnalyticsService)

    await store_beats(pg, beats[:7])
    await store_events_in_log(pg, events[:3])
    first = await analytics.fold()
    await store_beats(pg, beats[7:])
    await store_events_in_log(pg, events[3:])
    second = await analytics.fold()
    assert (first.heartbeats + second.heartbeats, first.events + second.events) == (15, 5)
    in_two = figures(await analytics.report(who.creator, BOTH_DAYS))
    retention_in_two = [p.views for p in (await analytics.video_report(who.creator, video.id, BOTH_DAYS)).retention]

    db = pg.get(Database)
    await db.execute(
        "TRUNCATE log_cursors, analytics_sessions, analytics_watch_days, analytics_viewer_days, analytics_revenue_days"
    )
    once = await analytics.fold()
    assert (once.heartbeats, once.events) == (15, 5)
    assert figures(await analytics.report(who.creator, BOTH_DAYS)) == in_two
    retention_once = [p.views for p in (await analytics.video_report(who.creator, video.id, BOTH_DAYS)).retention]
    assert retention_once == retention_in_two == [4, 3, 3, 3, 2, 2, 2, 2, 2] + [1] * 12
    assert in_two[:7] == (4, 3, 106_500, 1, 3, 675, 10)


async def test_the_pages_show_the_creators_figures_and_refuse_anyone_elses(
    pg: Injector, client: httpx.AsyncClient
) -> None:
    await sign_up(client, "cleo@example.com")
    assert (await post_form(client, "/me/creator", {})).status_code in (200, 303)
    creator = await creator_id_of(pg, "cleo@example.com")
    otto = await person(pg, "Otto", creator=True)
    ann, ben = await person(pg, "Ann"), await person(pg, "Ben")
    who = People(creator, ann.id, ben.id, otto.id)
    video, others_video = await load(pg, who)
    await pg.get(AnalyticsService).fold()

    page = await client.get(f"/studio/analytics?{RANGE}")
    assert page.status_code == 200
    assert 'data-testid="total-views">4<' in page.text
    assert 'data-testid="total-viewers">3<' in page.text
    assert 'data-testid="total-revenue">685<' in page.text
    assert "<svg" in page.text
    assert "<title>Mon 2 Mar: 2 views" in page.text
    assert "Someone else" not in page.text

    fragment = await client.get("/studio/analytics?preset=7d", headers={"hx-request": "true"})
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<section id="analytics-report"')
    bad = await client.get("/studio/analytics?start=2026-03-05&end=2026-03-01", headers={"hx-request": "true"})
    assert bad.status_code == 422
    assert "The end date is before the start date." in bad.text

    detail = await client.get(f"/studio/analytics/videos/{video}?{RANGE}")
    assert detail.status_code == 200
    assert 'data-testid="retention-chart"' in detail.text
    assert "75% still watching at 5%" in detail.text
    assert "25% still watching at 100%" in detail.text

    assert (await client.get(f"/studio/analytics/videos/{others_video}?{RANGE}")).status_code == 404

    viewer = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
    async with viewer:
        await sign_up(viewer, "vera@example.com")
        assert (await viewer.get("/studio/analytics")).status_code == 403
        assert (await viewer.get(f"/studio/analytics/export.csv?{RANGE}")).status_code == 403
        anonymous = httpx.AsyncClient(transport=client._transport, base_url=str(client.base_url))
        async with anonymous:
            refused = await anonymous.get("/studio/analytics", follow_redirects=False)
            assert refused.status_code in (303, 401)


async def test_the_csv_export_has_one_row_per_video_per_day(pg: Injector, client: httpx.AsyncClient) -> None:
    await sign_up(client, "cleo@example.com")
    assert (await post_form(client, "/me/creator", {})).status_code in (200, 303)
    creator = await creator_id_of(pg, "cleo@example.com")
    otto = await person(pg, "Otto", creator=True)
    ann, ben = await person(pg, "Ann"), await person(pg, "Ben")
    video, _ = await load(pg, People(creator, ann.id, ben.id, otto.id))
    await pg.get(AnalyticsService).fold()

    response = await client.get(f"/studio/analytics/export.csv?{RANGE}")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["date"], r["video_id"], r["title"]) for r in rows] == [
        (str(DAY1), str(video), "Tides at dawn"),
        (str(DAY2), str(video), "Tides at dawn"),
    ]
    day1, day2 = rows
    assert (day1["views"], day1["unique_viewers"], day1["watch_seconds"], day1["average_view_seconds"]) == (
        "2",
        "2",
        "83",
        "41",
    )
    assert (day1["sales"], day1["gross_points"], day1["net_points"], day1["revenue_points"]) == (
        "2",
        "250",
        "225",
        "225",
    )
    assert (day2["views"], day2["preview_views"], day2["tips"], day2["tip_points"], day2["revenue_points"]) == (
        "2",
        "1",
        "1",
        "10",
        "460",
    )
    assert (await client.get("/studio/analytics/export.csv?preset=forever")).status_code == 422


async def test_revenue_folded_from_sales_and_tips_matches_the_ledger(pg: Injector) -> None:
    creator, viewer = await person(pg, "Cleo", creator=True), await person(pg, "Vic")
    synthetic = await add_synthetic_video(pg, creator.id)
    video = await price_and_publish(pg, creator.id, synthetic.video, rent_day=50, lifetime=505)
    await fund(pg, viewer.id, 1000)
    unlocks = pg.get(UnlockService)
    await unlocks.unlock(viewer.id, video.public_id, "rent_day", "key-analytics-000000001", "50")
    await unlocks.unlock(viewer.id, video.public_id, "lifetime", "key-analytics-000000002", "505")
    await pg.get(TipService).tip(viewer, video.public_id, 50, "Thanks!", "key-analytics-000000003")

    analytics = pg.get(AnalyticsService)
    live = await analytics.today(creator.id)
    await analytics.fold()
    folded = await analytics.today(creator.id)
    earnings = await pg.get(LedgerService).balance(AccountRef.earnings(creator.id))
    assert live == folded
    assert (folded.sales, folded.gross_points, folded.tips, folded.tip_points) == (2, 555, 1, 50)
    assert folded.revenue_points == earnings == 45 + 455 + 50
    today = DateRange(folded.day, folded.day)
    report = await analytics.report(creator.id, today)
    assert report.totals.revenue_points == earnings
    [line] = report.videos
    assert (line.video_id, line.totals.revenue_points) == (video.id, earnings)
    assert [t.message for t in await analytics.recent_tips(creator.id)] == ["Thanks!"]
