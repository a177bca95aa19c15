"""The live dashboard on in-memory adapters: who is watching now, the "viewers" events that keep it live,
and which tiles each event of the creator's topic re-renders."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from croniter import croniter
from injector import Injector

from core.clock import Clock, FrozenClock
from core.di import get_port
from core.events import Event, EventBus, LiveFragment, MemoryEventBus
from core.ids import uuid7
from core.live import LiveParts
from core.settings import Settings
from features.analytics.module import FEATURE as ANALYTICS
from features.dashboard.model import Sighting, changed_counts, latest_sightings
from features.dashboard.module import FEATURE as DASHBOARD
from features.dashboard.service import DashboardService
from features.ledger.model import AccountRef, Leg
from features.ledger.service import LedgerService
from features.playback.model import Heartbeat
from tests.support.analytics import add_video, store_beats


def clock_of(memory: Injector) -> FrozenClock:
    clock = get_port(memory, Clock)
    assert isinstance(clock, FrozenClock)
    return clock


def viewer_events(memory: Injector) -> list[tuple[str, dict[str, object]]]:
    bus = get_port(memory, EventBus)
    assert isinstance(bus, MemoryEventBus)
    return [(e.topic, dict(e.data)) for e in bus.events if e.name == "viewers"]


def test_a_sighting_is_kept_once_per_viewer_and_video_at_its_latest() -> None:
    owner, video = uuid7(), uuid7()
    clock = FrozenClock()
    early, late = clock.now(), clock.now() + timedelta(seconds=10)
    found = latest_sightings(
        [
            Sighting(owner, video, "ann", late),
            Sighting(owner, video, "ann", early),
            Sighting(owner, video, "ben", early),
        ]
    )
    assert sorted((s.viewer_key, s.at) for s in found) == [("ann", late), ("ben", early)]


def test_only_changed_counts_are_published() -> None:
    a, b, c = uuid7(), uuid7(), uuid7()
    assert changed_counts({a: 2, b: 1}, {a: 2, c: 3}) == {b: 1, c: 0}
    assert changed_counts({}, {}) == {}


async def test_viewers_watching_now_are_counted_and_published_when_the_count_changes(memory: Injector) -> None:
    clock = clock_of(memory)
    creator, other_creator, ann, ben = uuid7(), uuid7(), uuid7(), uuid7()
    video = await add_video(memory, creator)
    second = await add_video(memory, creator, title="Second")
    theirs = await add_video(memory, other_creator, title="Theirs")
    now = clock.now()
    await store_beats(
        memory,
        [
            Heartbeat(ann, video.id, "session-ann-1", 10, False, now - timedelta(seconds=45)),  # too long ago
            Heartbeat(ann, video.id, "session-ann-1", 20, False, now - timedelta(seconds=5)),
            Heartbeat(ann, second.id, "session-ann-2", 10, False, now - timedelta(seconds=3)),  # same person
            Heartbeat(ben, video.id, "session-ben-1", 10, False, now - timedelta(seconds=2)),
            Heartbeat(None, video.id, "session-visitor", 4, True, now - timedelta(seconds=1)),  # a preview counts
            Heartbeat(creator, video.id, "session-own", 10, False, now),  # the creator's own playback does not
            Heartbeat(ben, theirs.id, "session-ben-2", 10, False, now),
        ],
    )
    dashboard = memory.get(DashboardService)
    assert await dashboard.refresh_viewers() == {creator: 3, other_creator: 1}
    assert await dashboard.viewers(creator) == 3
    assert sorted(viewer_events(memory)) == sorted(
        [(f"user:{creator}", {"viewers": 3}), (f"user:{other_creator}", {"viewers": 1})]
    )

    assert await dashboard.refresh_viewers() == {}  # nothing new, nothing published

    # 29.5 s on, only Ben has kept watching (he beats again); Ann and the visitor have gone quiet.
    clock.advance(timedelta(seconds=29.5))
    await store_beats(memory, [Heartbeat(ben, video.id, "session-ben-1", 30, False, clock.now())])
    assert await dashboard.refresh_viewers() == {creator: 1}
    assert viewer_events(memory)[-1] == (f"user:{creator}", {"viewers": 1})

    clock.advance(timedelta(seconds=31))
    assert await dashboard.refresh_viewers() == {creator: 0, other_creator: 0}
    assert await dashboard.viewers(creator) == 0


async def test_each_event_re_renders_the_tiles_it_changes(memory: Injector) -> None:
    creator, viewer = uuid7(), uuid7()
    video = await add_video(memory, creator)
    ledger = memory.get(LedgerService)
    await ledger.transfer("fund", "purchase", [Leg(AccountRef.vendor_clearing(), AccountRef.wallet(viewer), 500)])
    await ledger.transfer("sale", "unlock", [Leg(AccountRef.wallet(viewer), AccountRef.earnings(creator), 50)])
    bus = get_port(memory, EventBus)
    topic = f"user:{creator}"
    await bus.publish(topic, "sale", {"video_id": str(video.id), "points": 50, "net": 45, "offer": "rent_day"})
    await bus.publish(
        topic,
        "tip",
        {"video_id": str(video.id), "amount": 10, "from_name": "Ann", "message": "Bravo", "video_title": "T"},
    )
    dashboard = memory.get(DashboardService)
    assert dashboard in memory.get(LiveParts).resolve(memory)  # its tiles ride the live pages' stream

    def event(name: str) -> Event:
        return Event(99, topic, name, {})

    sale = await dashboard.fragments(creator, event("sale"))
    assert [f.template for f in sale] == ["dashboard/_today.html", "dashboard/_balance.html"]
    today = sale[0].context["today"]
    assert (today.sales, today.gross_points, today.net_points, today.tips, today.tip_points) == (1, 50, 45, 1, 10)
    earnings = sale[1].context["earnings"]
    assert (earnings.balance, earnings.available, earnings.on_hold, earnings.minimum) == (50, 0, 50, 2000)

    tip = await dashboard.fragments(creator, event("tip"))
    assert [f.template for f in tip] == ["dashboard/_today.html", "dashboard/_tips.html", "dashboard/_balance.html"]
    assert [(t.amount, t.from_name, t.message) for t in tip[1].context["tips"]] == [(10, "Ann", "Bravo")]

    assert [f.context for f in await dashboard.fragments(creator, event("viewers"))] == [{"viewers": 0}]
    assert [f.template for f in await dashboard.fragments(creator, event("payout"))] == ["dashboard/_balance.html"]
    assert await dashboard.fragments(creator, event("video")) == []

    snapshot = await dashboard.snapshot(creator)
    assert (snapshot.today.sales, snapshot.earnings.balance, snapshot.viewers, len(snapshot.tips)) == (1, 50, 0, 1)


def test_the_worker_counts_viewers_every_ten_seconds_and_folds_analytics_every_minute() -> None:
    start = datetime(2026, 3, 1, 12, 0, 3, tzinfo=UTC)
    for feature, seconds in [(DASHBOARD, 10), (ANALYTICS, 60)]:
        [spec] = feature.cron_jobs
        assert croniter.is_valid(spec.cron)
        runs = croniter(spec.cron, start)
        first, second = runs.get_next(datetime), runs.get_next(datetime)
        assert (second - first).total_seconds() == seconds


async def test_the_today_tile_says_refund_when_a_refund_changed_it_not_new_sale(
    memory: Injector, memory_settings: Settings
) -> None:
    """The tile's live-region text is what a screen reader hears when the tile changes: after a take-down's
    refund it must not announce a new sale."""
    from features.bootstrap import create_app

    creator = uuid7()
    video = await add_video(memory, creator)
    bus = get_port(memory, EventBus)
    topic = f"user:{creator}"
    await bus.publish(topic, "sale", {"video_id": str(video.id), "points": 50, "net": 45, "offer": "rent_day"})
    await bus.publish(topic, "sale", {"video_id": str(video.id), "points": 50, "net": 45, "offer": "rent_day"})
    await bus.publish(topic, "refund", {"video_id": str(video.id), "points": 50, "net": 45})
    engine = create_app(memory_settings, memory).template_engine
    assert engine is not None
    dashboard = memory.get(DashboardService)

    def announced(fragments: Sequence[LiveFragment]) -> str:
        html = engine.get_template(fragments[0].template).render(**fragments[0].context, oob=True, request=None)
        found = re.search(r'data-announce="([^"]*)"', html)
        assert found is not None
        return found[1]

    sale = announced(await dashboard.fragments(creator, Event(98, topic, "sale", {})))
    refund = announced(await dashboard.fragments(creator, Event(99, topic, "refund", {})))
    assert sale.startswith("New sale.")
    assert refund.startswith("A refund was taken off today's takings.")
    assert "New sale" not in refund
