"""Analytics use cases: fold new heartbeats and sales/tip events into per-video per-day aggregates (a
saq cron job, every minute), and read reports for a creator's own videos from those aggregates only.

Sources (read, never written):
  heartbeats   `PlaybackService.heartbeats_after(id)` — cursor "analytics" of the log "heartbeats" in
               core's `CursorStore`
  sales, tips  core's `EventLog`, events "sale" and "tip" on `user:<creator>` — consumer "analytics"
               (registered with the feature, so retention keeps what it has not read). The unlocks
               feature publishes them inside the transaction of their ledger transfer, so the log
               holds exactly the committed sales and tips, with the ledger's amounts.

Each batch is folded in one transaction together with its cursor (locked while folding), so a batch
counts exactly once however often, and however concurrently, the job runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import TypeVar
from uuid import UUID

from core.clock import Clock
from core.eventlog import EVENT_LOG, CursorStore, EventLog, EventSelection
from core.uow import UnitOfWork
from features.analytics.model import (
    CONSUMER,
    HEARTBEATS,
    REVENUE_CONSUMER,
    REVENUE_EVENTS,
    SESSION_GAP,
    TIP,
    DateRange,
    DaySales,
    RetentionPoint,
    RevenueDay,
    TipNote,
    Totals,
    VideoFacts,
    WatchDay,
    add_reach,
    day_of,
    fold_heartbeats,
    fold_revenue,
    parse_range,
    retention_curve,
    revenue_of,
    tip_note,
    to_ms,
)
from features.analytics.ports import AnalyticsStore
from features.playback.service import PlaybackService
from features.studio.model import Video
from features.studio.service import StudioService

_FACTS_CACHED = 50_000
_OWNER_VIDEOS = 500
_REVENUE = EventSelection(REVENUE_EVENTS)


@dataclass(frozen=True)
class AnalyticsPolicy:
    batch: int = 20_000  # heartbeats or events per transaction
    gap_grace: timedelta = timedelta(minutes=2)  # how long a hole in the ids may be waited for


@dataclass(frozen=True)
class FoldReport:
    heartbeats: int
    events: int


@dataclass(frozen=True)
class VideoLine:
    """One video's figures over a range."""

    video_id: UUID
    title: str
    public_id: str | None
    duration: float | None
    totals: Totals


@dataclass(frozen=True)
class DayLine:
    day: date
    totals: Totals


@dataclass(frozen=True)
class Report:
    """A creator's channel over a range: totals, one line per day, one line per video."""

    range: DateRange
    totals: Totals
    days: list[DayLine]
    videos: list[VideoLine]


@dataclass(frozen=True)
class VideoReport:
    """One video over a range: totals, one line per day, and its retention curve."""

    range: DateRange
    video: Video
    totals: Totals
    days: list[DayLine]
    retention: list[RetentionPoint]


@dataclass(frozen=True)
class CsvRow:
    """One video on one day, as exported."""

    day: date
    video_id: UUID
    title: str
    totals: Totals


K = TypeVar("K")


def _add_watch(lines: dict[K, Totals], key: K, row: WatchDay) -> None:
    lines[key] = lines.get(key, Totals()).with_watch(row)


def _add_revenue(lines: dict[K, Totals], key: K, row: RevenueDay) -> None:
    lines[key] = lines.get(key, Totals()).with_revenue(row)


class AnalyticsService:
    def __init__(
        self,
        store: AnalyticsStore,
        events: EventLog,
        cursors: CursorStore,
        playback: PlaybackService,
        studio: StudioService,
        uow: UnitOfWork,
        clock: Clock,
        policy: AnalyticsPolicy | None = None,
    ) -> None:
        self.store = store
        self.events = events
        self.cursors = cursors
        self.playback = playback
        self.studio = studio
        self.uow = uow
        self.clock = clock
        self.policy = policy or AnalyticsPolicy()
        # Owner and duration never change once a video plays; nothing another process needs lives here.
        self._facts: dict[UUID, VideoFacts | None] = {}

    # -- folding ----------------------------------------------------------------------------------------

    async def fold(self) -> FoldReport:
        """Fold everything new (the every-minute job). Returns how many heartbeats and events counted."""
        return FoldReport(await self.fold_heartbeats(), await self.fold_revenue())

    async def fold_heartbeats(self) -> int:
        """Fold new heartbeats into sessions and per-video per-day watching, batch by batch."""
        folded = 0
        while True:
            async with self.uow.atomic():
                cursor = await self.cursors.locked(HEARTBEATS, CONSUMER)
                beats = await self.playback.heartbeats_after(cursor.position, self.policy.batch)
                moved = cursor.advanced_over([b.id for b in beats], self.clock.now(), self.policy.gap_grace)
                ready = [b for b in beats if b.id <= moved.position]
                if ready:
                    videos = await self._facts_for({b.video_id for b in ready})
                    known = await self.store.sessions({(b.video_id, b.session_id) for b in ready})
                    await self.store.apply_watch(fold_heartbeats(ready, known, videos))
                    # A session silent for SESSION_GAP will not go on: keep the state table small.
                    await self.store.forget_sessions(max(b.at for b in ready) - SESSION_GAP)
                if moved != cursor:
                    await self.cursors.save(HEARTBEATS, CONSUMER, moved)
            folded += len(ready)
            if len(beats) < self.policy.batch or moved.position == cursor.position:
                return folded

    async def fold_revenue(self) -> int:
        """Fold new sale and tip events into per-video per-day revenue."""
        folded = 0
        while True:
            now = self.clock.now()
            async with self.events.batch(
                REVENUE_CONSUMER, _REVENUE, self.policy.batch, self.policy.gap_grace, now
            ) as batch:
                if batch.events:
                    await self.store.apply_revenue(fold_revenue(batch.events))
            folded += len(batch.events)
            if batch.exhausted:
                return folded

    async def _facts_for(self, video_ids: Iterable[UUID]) -> dict[UUID, VideoFacts]:
        found: dict[UUID, VideoFacts] = {}
        for video_id in video_ids:
            if video_id not in self._facts:
                if len(self._facts) > _FACTS_CACHED:
                    self._facts.clear()
                video = await self.studio.get_video(video_id)
                self._facts[video_id] = (
                    VideoFacts(video.id, video.owner_id, to_ms(video.duration) if video.duration else None)
                    if video
                    else None
                )
            facts = self._facts[video_id]
            if facts is not None:
                found[video_id] = facts
        return found

    # -- live figures (the dashboard) --------------------------------------------------------------------

    async def today(self, owner_id: UUID) -> DaySales:
        """The creator's sales and tips today (UTC), exact to the last committed event: the folded day
        totals plus the creator's events the fold has not reached yet."""
        day = day_of(self.clock.now())
        topic = f"user:{owner_id}"
        for _ in range(5):
            before = (await self.cursors.get(EVENT_LOG, REVENUE_CONSUMER)).position
            rows = await self.store.revenue_days(owner_id, day, day)
            tail = await self.events.on_topic(topic, REVENUE_EVENTS, before, 10_000)
            if (await self.cursors.get(EVENT_LOG, REVENUE_CONSUMER)).position == before:  # no fold in between
                break
        sales = DaySales(day)
        for row in rows:
            sales = sales.plus(row)
        for event in tail:
            for found in revenue_of(event):
                if found.day == day:
                    sales = sales.plus(found)
        return sales

    async def recent_tips(self, owner_id: UUID, limit: int = 5) -> list[TipNote]:
        """The creator's latest tips with their messages, newest first."""
        events = await self.events.latest(f"user:{owner_id}", frozenset({TIP}), limit)
        return [note for note in (tip_note(e) for e in events) if note is not None]

    # -- reports ----------------------------------------------------------------------------------------

    def span(self, preset: str = "", start: str = "", end: str = "") -> DateRange:
        """The date range a report asks for, in UTC days up to today. Raises InvalidRange."""
        return parse_range(preset, start, end, day_of(self.clock.now()))

    def default_span(self) -> DateRange:
        return self.span()

    async def report(self, owner_id: UUID, span: DateRange) -> Report:
        """The creator's channel over the range, from the aggregates only."""
        watch = await self.store.watch_days(owner_id, span.start, span.end)
        revenue = await self.store.revenue_days(owner_id, span.start, span.end)
        viewers = await self.store.viewer_counts(owner_id, span.start, span.end)
        by_day: dict[date, Totals] = {}
        by_video: dict[UUID, Totals] = {}
        total = Totals(unique_viewers=viewers.total)
        for row in watch:
            _add_watch(by_day, row.day, row)
            _add_watch(by_video, row.video_id, row)
            total = total.with_watch(row)
        for item in revenue:
            _add_revenue(by_day, item.day, item)
            _add_revenue(by_video, item.video_id, item)
            total = total.with_revenue(item)
        videos = {v.id: v for v in await self.studio.list_for_owner(owner_id, limit=_OWNER_VIDEOS)}
        lines: list[VideoLine] = []
        for video_id in set(videos) | set(by_video):
            figures = by_video.get(video_id, Totals())
            figures = _with_viewers(figures, viewers.by_video.get(video_id, 0))
            video = videos.get(video_id)
            if video is None:
                found = await self.studio.get_video(video_id)
                video = found if found is not None and found.owner_id == owner_id else None
            lines.append(
                VideoLine(
                    video_id,
                    video.title if video else "A deleted video",
                    video.public_id if video else None,
                    video.duration if video else None,
                    figures,
                )
            )
        lines.sort(key=lambda line: (-line.totals.views, -line.totals.revenue_points, line.title.lower()))
        days = [DayLine(day, by_day.get(day, Totals())) for day in span.days]
        return Report(span, total, days, lines)

    async def video_report(self, owner_id: UUID, video_id: UUID, span: DateRange) -> VideoReport:
        """One of the creator's videos over the range. Raises VideoNotFound for anyone else's video."""
        video = await self.studio.owned_video(owner_id, video_id)
        watch = await self.store.watch_days(owner_id, span.start, span.end, video_id)
        revenue = await self.store.revenue_days(owner_id, span.start, span.end, video_id)
        viewers = await self.store.viewer_counts(owner_id, span.start, span.end, video_id)
        by_day: dict[date, Totals] = {}
        total = Totals(unique_viewers=viewers.total)
        for row in watch:
            _add_watch(by_day, row.day, row)
            total = total.with_watch(row)
        for item in revenue:
            _add_revenue(by_day, item.day, item)
            total = total.with_revenue(item)
        days = [DayLine(day, by_day.get(day, Totals())) for day in span.days]
        return VideoReport(span, video, total, days, retention_curve(add_reach(watch)))

    async def export_rows(self, owner_id: UUID, span: DateRange) -> list[CsvRow]:
        """One row per video per day with any activity in the range, by day then title."""
        watch = await self.store.watch_days(owner_id, span.start, span.end)
        revenue = await self.store.revenue_days(owner_id, span.start, span.end)
        viewers = await self.store.viewer_counts(owner_id, span.start, span.end)
        cells: dict[tuple[date, UUID], Totals] = {}
        for row in watch:
            _add_watch(cells, (row.day, row.video_id), row)
        for item in revenue:
            _add_revenue(cells, (item.day, item.video_id), item)
        titles = {v.id: v.title for v in await self.studio.list_for_owner(owner_id, limit=_OWNER_VIDEOS)}
        rows: list[CsvRow] = []
        for (day, video_id), figures in cells.items():
            figures = _with_viewers(figures, viewers.by_video_day.get((video_id, day), 0))
            rows.append(CsvRow(day, video_id, titles.get(video_id, "A deleted video"), figures))
        rows.sort(key=lambda r: (r.day, r.title.lower(), str(r.video_id)))
        return rows


def _with_viewers(totals: Totals, viewers: int) -> Totals:
    return replace(totals, unique_viewers=viewers)
