"""Analytics: what viewers watched and what it earned, per video per day, folded in incrementally.

Watching — from playback heartbeats (a player reports its position every 10 s while playing, and on
pause and end). A *view* is one playback session (one page load of the player); its day is the UTC
day of its first heartbeat, and everything the session does counts on that day. Per session:

  watch time   the first heartbeat stands for min(position, 10 s) of watching (the player beats 10 s
               after it starts); each later heartbeat adds max(0, min(Δposition, Δwall clock)) — a
               pause adds nothing, a seek forward adds at most the time that passed, a seek back adds 0
  reach        the furthest position reported; the session counts toward every 5 % point of the
               duration up to there (the last second counts as the end, 100 %)

A session silent for two days does not go on: its next heartbeat starts a new view.

A video's *retention* at k × 5 % is the share of its views that reached that point (so 0 % is always
100 % of views). *Unique viewers* are distinct logged-in viewers (a visitor counts once per session).
Heartbeats of the video's own creator and of free-preview sessions do not count as views; preview
sessions are counted apart (`preview_views`). Times are kept in whole milliseconds, so folding the same
heartbeats in one batch or in many gives exactly the same numbers.

Revenue — from the events published to the creator's topic in the same transaction as the ledger
transfers that move their earnings (an event is stored if and only if its transfer committed), so a
creator's revenue over any days equals what those transfers added to (and took from) their earnings:

  "sale"         an unlock: `points` paid, `net` the creator keeps (the price less the platform fee)
  "tip"          its whole `amount`
  "bundle_sale"  a bundle (features/offers): its `points` and `net` shared among the videos it held
                 (`video_ids`), the odd points to the first ones so the shares add up exactly; it counts
                 as a sale of each video
  "refund"       staff took a video down and gave a purchase (or a bundle's share of it) back:
                 `points` off what was sold, `net` (what came out of the creator's earnings) off the
                 earnings, on the day of the refund; the sale stays counted

revenue = net + tips. Days are UTC days of the event.

Incremental: each source is read with a cursor on its ids. The cursor only moves over an unbroken run
of ids (a hole may be a transaction still committing); a hole still open after a grace period is taken
for a rolled-back insert and stepped over.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Self, cast
from uuid import UUID

from core.errors import InvalidInput
from core.events import Event, LogCursor
from core.numbers import whole_or_none
from features.playback.model import Heartbeat

STEPS = 20  # retention every 5 %
POINTS = STEPS + 1  # 0 %, 5 %, … 100 %
BEAT_MS = 10_000  # the player's heartbeat interval: what a session's first heartbeat may stand for
END_SLACK_MS = 1_000  # within this of the end counts as watched to the end
SESSION_GAP = timedelta(days=2)  # a session silent this long does not go on: its next heartbeat starts a view

HEARTBEATS = "heartbeats"  # the log of heartbeat ids, in core's cursor store
CONSUMER = "analytics"  # this feature's cursor in each log it reads
REVENUE_CONSUMER = CONSUMER  # its name among the event log's consumers
SALE = "sale"
TIP = "tip"
BUNDLE_SALE = "bundle_sale"
REFUND = "refund"
REVENUE_EVENTS = frozenset({SALE, TIP, BUNDLE_SALE, REFUND})
TOPIC = re.compile(r"^user:([0-9a-fA-F-]{36})$")

MAX_RANGE_DAYS = 366
PRESETS: dict[str, int] = {"7d": 7, "28d": 28, "90d": 90, "365d": 365}
DEFAULT_PRESET = "28d"


class InvalidRange(InvalidInput):
    message = "Choose a start and an end date, at most a year apart."


def to_ms(seconds: float) -> int:
    return round(seconds * 1000)


def day_of(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


# -- cursors ----------------------------------------------------------------------------------------


Cursor = LogCursor  # read positions in the heartbeats and the event log


# -- watching ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoFacts:
    """What the fold needs to know about a video: whose it is and how long it runs."""

    video_id: UUID
    owner_id: UUID
    duration_ms: int | None


SessionKey = tuple[UUID, str]  # (video id, playback session id)


@dataclass(frozen=True)
class Session:
    """One playback session as folded so far."""

    video_id: UUID
    session_id: str
    owner_id: UUID
    day: date
    viewer_key: str
    preview: bool
    last_at: datetime
    last_position_ms: int
    max_position_ms: int
    watched_ms: int

    @property
    def key(self) -> SessionKey:
        return (self.video_id, self.session_id)


def reach_point(max_position_ms: int, duration_ms: int | None) -> int:
    """The furthest 5 % point (0 … 20) a session reached."""
    if not duration_ms or duration_ms <= 0:
        return 0
    if max_position_ms >= duration_ms - END_SLACK_MS:
        return STEPS
    return max(0, min(STEPS - 1, max_position_ms * STEPS // duration_ms))


def no_reach() -> tuple[int, ...]:
    return (0,) * POINTS


@dataclass(frozen=True)
class WatchDay:
    """A video's watching on one day — or, in a fold, the change to add to it.

    `reach[k]` counts the views whose furthest point was k × 5 % (see `retention`)."""

    video_id: UUID
    owner_id: UUID
    day: date
    views: int = 0
    preview_views: int = 0
    watch_ms: int = 0
    reach: tuple[int, ...] = field(default_factory=no_reach)

    def plus(self, other: WatchDay) -> WatchDay:
        return replace(
            self,
            views=self.views + other.views,
            preview_views=self.preview_views + other.preview_views,
            watch_ms=self.watch_ms + other.watch_ms,
            reach=tuple(a + b for a, b in zip(self.reach, other.reach, strict=True)),
        )


@dataclass(frozen=True)
class ViewerDay:
    video_id: UUID
    day: date
    owner_id: UUID
    viewer_key: str


@dataclass
class WatchFold:
    """What folding a batch of heartbeats changes: sessions to store, day totals to add, viewers seen."""

    sessions: dict[SessionKey, Session] = field(default_factory=dict)
    days: dict[tuple[UUID, date], WatchDay] = field(default_factory=dict)
    viewers: set[ViewerDay] = field(default_factory=set)


def viewer_key(beat: Heartbeat) -> str:
    return str(beat.viewer_id) if beat.viewer_id else f"session:{beat.session_id}"


class _Change:
    """A day's change, added up in place while folding (a fold touches it once per heartbeat)."""

    __slots__ = ("day", "preview_views", "reach", "video", "views", "watch_ms")

    def __init__(self, video: VideoFacts, day: date) -> None:
        self.video, self.day = video, day
        self.views = self.preview_views = self.watch_ms = 0
        self.reach = [0] * POINTS

    def frozen(self) -> WatchDay:
        v = self.video
        return WatchDay(
            v.video_id, v.owner_id, self.day, self.views, self.preview_views, self.watch_ms, tuple(self.reach)
        )


class _Running:
    """A session while folding: mutable, with its day's change at hand."""

    __slots__ = ("change", "last_at", "last_position_ms", "max_position_ms", "reach", "session", "watched_ms")

    def __init__(self, session: Session, change: _Change, duration_ms: int | None) -> None:
        self.session, self.change = session, change
        self.last_at = session.last_at
        self.last_position_ms = session.last_position_ms
        self.max_position_ms = session.max_position_ms
        self.watched_ms = session.watched_ms
        self.reach = reach_point(session.max_position_ms, duration_ms)

    def frozen(self) -> Session:
        return Session(
            self.session.video_id,
            self.session.session_id,
            self.session.owner_id,
            self.session.day,
            self.session.viewer_key,
            self.session.preview,
            self.last_at,
            self.last_position_ms,
            self.max_position_ms,
            self.watched_ms,
        )


def fold_heartbeats(
    beats: Iterable[Heartbeat],
    known: Mapping[SessionKey, Session],
    videos: Mapping[UUID, VideoFacts],
) -> WatchFold:
    """Fold heartbeats (in id order) into the sessions they belong to and the per-day totals.

    `known` holds the stored state of the sessions these heartbeats continue; heartbeats of videos
    missing from `videos` (deleted) and of the video's own creator are skipped.
    """
    changes: dict[tuple[UUID, date], _Change] = {}
    running: dict[SessionKey, _Running] = {}
    viewers: set[ViewerDay] = set()

    def change_for(video: VideoFacts, day: date) -> _Change:
        found = changes.get((video.video_id, day))
        if found is None:
            found = changes[(video.video_id, day)] = _Change(video, day)
        return found

    for beat in beats:
        video = videos.get(beat.video_id)
        if video is None or beat.viewer_id == video.owner_id:
            continue
        key = (beat.video_id, beat.session_id)
        position = max(0, round(beat.position * 1000))
        state = running.get(key)
        if state is None:
            stored = known.get(key)
            if stored is not None:
                state = running[key] = _Running(stored, change_for(video, stored.day), video.duration_ms)
        if state is None or beat.at - state.last_at > SESSION_GAP:
            day = day_of(beat.at)
            session = Session(
                beat.video_id,
                beat.session_id,
                video.owner_id,
                day,
                viewer_key(beat),
                beat.preview,
                beat.at,
                position,
                position,
                min(position, BEAT_MS),
            )
            state = running[key] = _Running(session, change_for(video, day), video.duration_ms)
            change = state.change
            if session.preview:
                change.preview_views += 1
            else:
                change.views += 1
                change.watch_ms += session.watched_ms
                change.reach[state.reach] += 1
                viewers.add(ViewerDay(video.video_id, day, video.owner_id, session.viewer_key))
            continue
        wall_ms = max(0, round((beat.at - state.last_at).total_seconds() * 1000))
        watched = max(0, min(position - state.last_position_ms, wall_ms))
        state.max_position_ms = max(state.max_position_ms, position)
        if not state.session.preview:
            state.change.watch_ms += watched
            reach = reach_point(state.max_position_ms, video.duration_ms)
            if reach != state.reach:
                state.change.reach[state.reach] -= 1
                state.change.reach[reach] += 1
                state.reach = reach
        state.last_at = max(state.last_at, beat.at)
        state.last_position_ms = position
        state.watched_ms += watched

    return WatchFold(
        sessions={key: state.frozen() for key, state in running.items()},
        days={slot: change.frozen() for slot, change in changes.items() if _changed(change)},
        viewers=viewers,
    )


def _changed(change: _Change) -> bool:
    return bool(change.views or change.preview_views or change.watch_ms or any(change.reach))


def retention(reach: Sequence[int]) -> list[int]:
    """Views that reached each 5 % point: `out[k]` = views whose furthest point is ≥ k × 5 %."""
    out = [0] * POINTS
    running = 0
    for k in range(POINTS - 1, -1, -1):
        running += reach[k] if k < len(reach) else 0
        out[k] = running
    return out


# -- revenue ----------------------------------------------------------------------------------------


TAKINGS = ("sales", "gross_points", "net_points", "tips", "tip_points")


class Takings:
    """Sales and tips counted in points; the dataclasses below carry the fields, this their sums."""

    sales: int
    gross_points: int
    net_points: int
    tips: int
    tip_points: int

    @property
    def revenue_points(self) -> int:
        """What the creator earned: sales after the fee, plus tips."""
        return self.net_points + self.tip_points

    def plus(self, other: Takings) -> Self:
        sums = {name: getattr(self, name) + getattr(other, name) for name in TAKINGS}
        return cast(Self, replace(cast(Any, self), **sums))


@dataclass(frozen=True)
class RevenueDay(Takings):
    """A video's sales and tips on one day (or, in a fold, the change to add). Points are integers."""

    video_id: UUID
    owner_id: UUID
    day: date
    sales: int = 0
    gross_points: int = 0  # what viewers paid for unlocks
    net_points: int = 0  # what of it the creator keeps (after the platform fee)
    tips: int = 0
    tip_points: int = 0


def _whole(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return whole_or_none(value)
    return None


def owner_of_topic(topic: str) -> UUID | None:
    match = TOPIC.match(topic)
    return UUID(match.group(1)) if match else None


def shares(total: int, parts: int) -> list[int]:
    """`total` split into `parts` whole shares that add up to it exactly (the odd units to the first)."""
    base, odd = divmod(total, parts)
    return [base + (1 if n < odd else 0) for n in range(parts)]


def revenue_of(event: Event) -> list[RevenueDay]:
    """A revenue event as the changes it makes, one per video; empty for any other or malformed event."""
    owner = owner_of_topic(event.topic)
    if owner is None:
        return []
    day = day_of(event.created_at)
    if event.name == BUNDLE_SALE:
        points, net = _whole(event.data.get("points")), _whole(event.data.get("net"))
        videos = event.data.get("video_ids")
        if points is None or net is None or not isinstance(videos, list) or not videos:
            return []
        try:
            video_ids = [UUID(str(v)) for v in videos]
        except ValueError:
            return []
        return [
            RevenueDay(video_id, owner, day, sales=1, gross_points=gross, net_points=kept)
            for video_id, gross, kept in zip(
                video_ids, shares(points, len(video_ids)), shares(net, len(video_ids)), strict=True
            )
        ]
    try:
        video_id = UUID(str(event.data.get("video_id")))
    except ValueError:
        return []
    if event.name in (SALE, REFUND):
        points, net = _whole(event.data.get("points")), _whole(event.data.get("net"))
        if points is None or net is None:
            return []
        if event.name == REFUND:
            return [RevenueDay(video_id, owner, day, gross_points=-points, net_points=-net)]
        return [RevenueDay(video_id, owner, day, sales=1, gross_points=points, net_points=net)]
    if event.name == TIP:
        amount = _whole(event.data.get("amount"))
        if amount is None:
            return []
        return [RevenueDay(video_id, owner, day, tips=1, tip_points=amount)]
    return []


def fold_revenue(events: Iterable[Event]) -> dict[tuple[UUID, date], RevenueDay]:
    """Revenue events (sales, tips, bundle sales, refunds) added up per video per day."""
    days: dict[tuple[UUID, date], RevenueDay] = {}
    for event in events:
        for found in revenue_of(event):
            slot = (found.video_id, found.day)
            days[slot] = days[slot].plus(found) if slot in days else found
    return days


@dataclass(frozen=True)
class DaySales(Takings):
    """A creator's sales and tips of one day, for the live dashboard."""

    day: date
    sales: int = 0
    gross_points: int = 0
    net_points: int = 0
    tips: int = 0
    tip_points: int = 0


@dataclass(frozen=True)
class TipNote:
    """A tip as the creator's dashboard shows it."""

    event_id: int
    amount: int
    from_name: str
    message: str
    video_title: str
    at: datetime


def tip_note(event: Event) -> TipNote | None:
    amount = _whole(event.data.get("amount"))
    if event.name != TIP or amount is None:
        return None
    return TipNote(
        event.id,
        amount,
        str(event.data.get("from_name") or "Someone"),
        str(event.data.get("message") or ""),
        str(event.data.get("video_title") or ""),
        event.created_at,
    )


# -- reports ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateRange:
    """Whole UTC days from `start` to `end`, both included."""

    start: date
    end: date
    preset: str = ""

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]

    @property
    def length(self) -> int:
        return (self.end - self.start).days + 1


def _parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def parse_range(preset: str, start: str, end: str, today: date) -> DateRange:
    """A preset ("7d", "28d", "90d", "365d": that many days up to today) or two ISO dates.

    Raises InvalidRange for an unknown preset, unreadable dates, an end before the start, a range
    longer than a year, or days in the future."""
    if start or end:
        first, last = _parse_day(start), _parse_day(end)
        if first is None or last is None:
            raise InvalidRange("Enter dates as YYYY-MM-DD.")
        if last < first:
            raise InvalidRange("The end date is before the start date.")
        if last > today:
            raise InvalidRange("The end date is in the future.")
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            raise InvalidRange(f"Choose at most {MAX_RANGE_DAYS} days.")
        return DateRange(first, last)
    preset = preset or DEFAULT_PRESET
    if preset not in PRESETS:
        raise InvalidRange("Choose one of the ranges offered.")
    return DateRange(today - timedelta(days=PRESETS[preset] - 1), today, preset)


@dataclass(frozen=True)
class Totals:
    """Watching and revenue added up over some days (and videos)."""

    views: int = 0
    preview_views: int = 0
    watch_ms: int = 0
    unique_viewers: int = 0
    sales: int = 0
    gross_points: int = 0
    net_points: int = 0
    tips: int = 0
    tip_points: int = 0

    @property
    def revenue_points(self) -> int:
        return self.net_points + self.tip_points

    @property
    def average_view_ms(self) -> int:
        return self.watch_ms // self.views if self.views else 0

    def with_watch(self, row: WatchDay) -> Totals:
        return replace(
            self,
            views=self.views + row.views,
            preview_views=self.preview_views + row.preview_views,
            watch_ms=self.watch_ms + row.watch_ms,
        )

    def with_revenue(self, row: RevenueDay) -> Totals:
        return replace(
            self,
            sales=self.sales + row.sales,
            gross_points=self.gross_points + row.gross_points,
            net_points=self.net_points + row.net_points,
            tips=self.tips + row.tips,
            tip_points=self.tip_points + row.tip_points,
        )


@dataclass(frozen=True)
class ViewerCounts:
    """Distinct viewers over a range: in all, per video, and per video per day."""

    total: int = 0
    by_video: Mapping[UUID, int] = field(default_factory=dict)
    by_video_day: Mapping[tuple[UUID, date], int] = field(default_factory=dict)


@dataclass(frozen=True)
class RetentionPoint:
    percent: int  # 0, 5, … 100
    views: int  # views that reached it
    share: float  # of all views, 0.0 … 1.0 (a display figure, not money)


def retention_curve(reach: Sequence[int]) -> list[RetentionPoint]:
    reached = retention(reach)
    total = reached[0]
    return [RetentionPoint(k * 100 // STEPS, reached[k], reached[k] / total if total else 0.0) for k in range(POINTS)]


def add_reach(rows: Iterable[WatchDay]) -> tuple[int, ...]:
    total = [0] * POINTS
    for row in rows:
        for k, count in enumerate(row.reach):
            total[k] += count
    return tuple(total)
