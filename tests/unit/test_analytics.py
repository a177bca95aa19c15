"""Analytics on in-memory adapters: the aggregation math against a hand-computed fixture (see
tests/support/analytics.py), folding in any number of batches, and the reports read from aggregates."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from injector import Injector

from core.clock import FrozenClock
from core.di import get_port
from core.events import EventBus, MemoryEventBus
from core.uow import UnitOfWork
from features.analytics.charts import compact, day_bars, nice_step, retention_chart, watch_time
from features.analytics.model import (
    Cursor,
    DateRange,
    InvalidRange,
    parse_range,
    reach_point,
    retention,
)
from features.analytics.ports import AnalyticsStore, EventJournal
from features.analytics.service import AnalyticsPolicy, AnalyticsService
from features.playback.service import PlaybackService
from features.studio.model import Video, VideoNotFound
from features.studio.service import StudioService
from tests.support.analytics import (
    DAY1,
    DAY2,
    EXPECTED_RETENTION,
    People,
    add_video,
    as_memory_events,
    fixture_beats,
    fixture_events,
    people,
    store_beats,
)

BOTH_DAYS = DateRange(DAY1, DAY2)


def service(memory: Injector, *, batch: int = 20_000, now: datetime | None = None) -> AnalyticsService:
    return AnalyticsService(
        get_port(memory, AnalyticsStore),
        get_port(memory, EventJournal),
        memory.get(PlaybackService),
        memory.get(StudioService),
        get_port(memory, UnitOfWork),
        FrozenClock(now or datetime(2026, 3, 3, 18, 0, tzinfo=UTC)),
        AnalyticsPolicy(batch=batch),
    )


async def load(memory: Injector) -> tuple[People, Video, Video]:
    who = people()
    video = await add_video(memory, who.creator)
    other = await add_video(memory, who.other_creator, title="Other")
    await store_beats(memory, fixture_beats(who, video.id))
    bus = get_port(memory, EventBus)
    assert isinstance(bus, MemoryEventBus)
    bus.events.extend(as_memory_events(fixture_events(who, video.id, other.id)))
    return who, video, other


# -- the math --------------------------------------------------------------------------------------------


def test_reach_counts_the_last_second_as_the_end() -> None:
    assert reach_point(0, 100_000) == 0
    assert reach_point(4_999, 100_000) == 0
    assert reach_point(5_000, 100_000) == 1
    assert reach_point(44_000, 100_000) == 8
    assert reach_point(98_999, 100_000) == 19
    assert reach_point(99_000, 100_000) == 20
    assert reach_point(10_000, None) == 0


def test_retention_counts_views_that_reached_each_point() -> None:
    reach = [0] * 21
    reach[0], reach[3], reach[8], reach[20] = 1, 1, 1, 1
    assert retention(reach) == [4, 3, 3, 3, 2, 2, 2, 2, 2] + [1] * 12


def test_a_cursor_waits_at_a_hole_then_steps_over_it() -> None:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    grace = timedelta(minutes=2)
    cursor = Cursor(3).advanced_over([4, 5, 7, 8], now, grace)
    assert cursor == Cursor(5, now)
    assert cursor.advanced_over([7, 8], now + timedelta(minutes=1), grace) == Cursor(5, now)
    assert cursor.advanced_over([6, 7, 8], now + timedelta(minutes=1), grace) == Cursor(8)
    assert cursor.advanced_over([7, 8], now + timedelta(minutes=3), grace) == Cursor(8)


async def test_the_fixture_folds_to_the_hand_computed_numbers(memory: Injector) -> None:
    who, video, _ = await load(memory)
    analytics = service(memory)
    report = await analytics.fold()
    assert report.heartbeats == 15
    assert report.events == 5  # four sales (one of another creator) and a tip; the "video" event is not one

    channel = await analytics.report(who.creator, BOTH_DAYS)
    t = channel.totals
    assert (t.views, t.preview_views, t.unique_viewers) == (4, 1, 3)
    assert t.watch_ms == 106_500
    assert t.average_view_ms == 26_625
    assert (t.sales, t.gross_points, t.net_points, t.tips, t.tip_points) == (3, 750, 675, 1, 10)
    assert t.revenue_points == 685

    day1, day2 = channel.days
    assert (day1.day, day1.totals.views, day1.totals.watch_ms, day1.totals.revenue_points) == (DAY1, 2, 83_500, 225)
    assert (day2.day, day2.totals.views, day2.totals.watch_ms, day2.totals.revenue_points) == (DAY2, 2, 23_000, 460)
    assert day2.totals.preview_views == 1

    [line] = [line for line in channel.videos if line.video_id == video.id]
    assert (line.totals.views, line.totals.unique_viewers, line.totals.watch_ms) == (4, 3, 106_500)

    detail = await analytics.video_report(who.creator, video.id, BOTH_DAYS)
    assert [round(p.share * 100) for p in detail.retention] == EXPECTED_RETENTION
    assert [p.percent for p in detail.retention] == list(range(0, 101, 5))
    assert [p.views for p in detail.retention][:2] == [4, 3]

    rows = await analytics.export_rows(who.creator, BOTH_DAYS)
    assert [
        (r.day, r.totals.views, r.totals.unique_viewers, r.totals.watch_ms, r.totals.revenue_points) for r in rows
    ] == [
        (DAY1, 2, 2, 83_500, 225),
        (DAY2, 2, 2, 23_000, 460),
    ]


async def test_one_day_alone_counts_its_own_viewers(memory: Injector) -> None:
    who, video, _ = await load(memory)
    analytics = service(memory)
    await analytics.fold()
    day2 = await analytics.video_report(who.creator, video.id, DateRange(DAY2, DAY2))
    assert (day2.totals.views, day2.totals.unique_viewers, day2.totals.watch_ms) == (2, 2, 23_000)
    assert [round(p.share * 100) for p in day2.retention][:5] == [100, 50, 50, 50, 0]


async def test_folding_in_small_batches_gives_the_same_numbers(memory: Injector) -> None:
    who, video, _ = await load(memory)
    analytics = service(memory, batch=2)
    await analytics.fold()
    channel = await analytics.report(who.creator, BOTH_DAYS)
    assert (channel.totals.views, channel.totals.unique_viewers, channel.totals.watch_ms) == (4, 3, 106_500)
    assert channel.totals.revenue_points == 685
    detail = await analytics.video_report(who.creator, video.id, BOTH_DAYS)
    assert [round(p.share * 100) for p in detail.retention] == EXPECTED_RETENTION


async def test_a_second_fold_with_nothing_new_changes_nothing(memory: Injector) -> None:
    who, _, _ = await load(memory)
    analytics = service(memory)
    await analytics.fold()
    again = await analytics.fold()
    assert (again.heartbeats, again.events) == (0, 0)
    channel = await analytics.report(who.creator, BOTH_DAYS)
    assert (channel.totals.views, channel.totals.watch_ms, channel.totals.revenue_points) == (4, 106_500, 685)


async def test_heartbeats_that_continue_a_folded_session_move_it_along(memory: Injector) -> None:
    who, video, _ = await load(memory)
    beats = fixture_beats(who, video.id)
    analytics = service(memory)
    await analytics.fold()
    # Ann's first session goes on from 44 s: 10 s more watched, and she now reached 50 %.
    await store_beats(memory, [replace(beats[9], position=54.0, at=beats[9].at + timedelta(seconds=10))])
    await analytics.fold()
    detail = await analytics.video_report(who.creator, video.id, BOTH_DAYS)
    assert detail.totals.views == 4
    assert detail.totals.watch_ms == 116_500
    assert [p.views for p in detail.retention][10] == 2  # Ann now reached 50 %, Ben the end


async def test_another_creator_sees_only_their_own_figures(memory: Injector) -> None:
    who, video, _ = await load(memory)
    analytics = service(memory)
    await analytics.fold()
    theirs = await analytics.report(who.other_creator, BOTH_DAYS)
    assert (theirs.totals.views, theirs.totals.sales, theirs.totals.revenue_points) == (0, 1, 63)
    assert video.id not in {line.video_id for line in theirs.videos}
    with pytest.raises(VideoNotFound):
        await analytics.video_report(who.other_creator, video.id, BOTH_DAYS)


async def test_today_adds_events_the_fold_has_not_reached(memory: Injector) -> None:
    who, _, _ = await load(memory)
    analytics = service(memory, now=datetime(2026, 3, 3, 18, 0, tzinfo=UTC))
    before = await analytics.today(who.creator)
    assert (before.sales, before.net_points, before.tips, before.tip_points) == (1, 450, 1, 10)
    await analytics.fold()
    after = await analytics.today(who.creator)
    assert after == before
    tips = await analytics.recent_tips(who.creator)
    assert [(t.amount, t.from_name, t.message) for t in tips] == [(10, "Ann", "Lovely light")]


# -- ranges and charts -----------------------------------------------------------------------------------


def test_a_range_is_a_preset_or_two_dates() -> None:
    today = date(2026, 3, 10)
    assert parse_range("7d", "", "", today) == DateRange(date(2026, 3, 4), today, "7d")
    assert parse_range("", "", "", today).length == 28
    assert parse_range("", "2026-03-01", "2026-03-02", today) == DateRange(date(2026, 3, 1), date(2026, 3, 2))
    for preset, start, end in [
        ("1y", "", ""),
        ("", "2026-03-05", "2026-03-01"),
        ("", "march", "2026-03-01"),
        ("", "2026-03-01", "2026-03-11"),
        ("", "2024-01-01", "2026-03-01"),
    ]:
        with pytest.raises(InvalidRange):
            parse_range(preset, start, end, today)


def test_charts_have_round_axes_and_a_tooltip_per_mark() -> None:
    assert [nice_step(v) for v in (0, 1, 1.25, 7, 13, 240, 2600)] == [1, 1, 2, 10, 20, 500, 5000]
    assert [compact(v) for v in (0, 950, 1200, 2_500_000)] == ["0", "950", "1.2k", "2.5M"]
    chart = day_bars([DAY1, DAY2], [[6, 1], [2, 0]], ["day one", "day two"], ["a", "b"])
    assert [t.label for t in chart.y_ticks] == ["0", "2", "4", "6", "8"]
    assert [b.title for b in chart.bars] == ["day one", "day two"]
    assert sum(s.height for s in chart.bars[0].segments) == pytest.approx(chart.bottom - chart.top)
    assert [s.css for s in chart.bars[1].segments] == ["a"]
    line = retention_chart([(k * 5, 1 - k / 20, 20 - k) for k in range(21)])
    assert line.line.startswith("M")
    assert len(line.points) == 21
    assert "100% still watching at 0%" in line.points[0].title
    assert watch_time(106_500) == "1 min 46 s"
    assert watch_time(3 * 3600 * 1000 + 5 * 60_000) == "3 h 05 min"


async def test_a_session_quiet_for_two_days_starts_a_new_view(memory: Injector) -> None:
    who, video, _ = await load(memory)
    analytics = service(memory)
    await analytics.fold()
    beats = fixture_beats(who, video.id)
    later = beats[-1].at + timedelta(days=3)
    await store_beats(memory, [replace(beats[0], at=later, position=20.0)])  # Ann's session a1, days later
    await analytics.fold()
    channel = await analytics.report(who.creator, DateRange(DAY1, later.date()))
    assert channel.totals.views == 5
    assert channel.totals.watch_ms == 106_500 + 10_000
