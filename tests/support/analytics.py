"""A hand-computed analytics fixture: one 100-second video, three people, known heartbeats and sales.

Worked out by hand (duration 100 s; the first heartbeat of a session stands for min(position, 10 s);
later ones add max(0, min(Δposition, Δwall clock)); reach = furthest position in 5 % steps, the last
second counting as 100 %):

  day 1 (2026-03-02)
    Ann,  session a1: 10 → 20 → 30 → 34 (pause) → 44 (4 min later)  watched 10+10+10+4+10 = 44 s, reach 40 %
    Ben,  session b1: 10 → 80 (seek) → 90 → 99.5                    watched 10+10+10+9.5 = 39.5 s, reach 100 %
    the creator, own session: 50                                    not counted
  day 2 (2026-03-03)
    Ann,  session a2: 10 → 5 (seek back) → 15                       watched 10+0+10 = 20 s, reach 15 %
    a visitor, session v1 (free preview): 10                        a preview play, not a view
    a visitor, session v2: 3                                        watched 3 s, reach 0 %

  views 2 + 2 = 4; unique viewers Ann, Ben, visitor v2 = 3 (day 1: 2, day 2: 2)
  watch time 83.5 s + 23 s = 106.5 s; average view 106.5 / 4 = 26.625 s
  retention: reached ≥0 %: 4 (100 %), ≥5–15 %: 3 (75 %), ≥20–40 %: 2 (50 %), ≥45–100 %: 1 (25 %)

  revenue: day 1 two sales, 50 (net 45) and 200 (net 180) → 225; day 2 a sale of 500 (net 450) and a
  tip of 10 → 460; a sale of another creator's video and a "video" event do not count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from injector import Injector

from core.clock import Clock
from core.db import Database
from core.di import get_port
from core.events import Event
from core.ids import public_id, uuid7
from features.playback.model import Heartbeat
from features.playback.ports import HeartbeatRepository
from features.studio.model import Video, VideoState
from features.studio.ports import VideoRepository

DAY1 = date(2026, 3, 2)
DAY2 = date(2026, 3, 3)
DURATION = 100.0
EXPECTED_RETENTION = [100, 75, 75, 75, 50, 50, 50, 50, 50] + [25] * 12


def at(day: date, hh: int, mm: int, ss: float) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=UTC) + timedelta(seconds=ss)


async def add_video(
    injector: Injector, owner_id: UUID, *, duration: float = DURATION, title: str = "Tides at dawn"
) -> Video:
    """A READY video straight into the studio's repository (no files: analytics needs none)."""
    now = get_port(injector, Clock).now()
    video = Video(
        id=uuid7(),
        public_id=public_id(),
        owner_id=owner_id,
        title=title,
        description="",
        state=VideoState.READY,
        created_at=now,
        updated_at=now,
        duration=duration,
    )
    await get_port(injector, VideoRepository).add(video)
    return video


@dataclass(frozen=True)
class People:
    creator: UUID
    ann: UUID
    ben: UUID
    other_creator: UUID


def people() -> People:
    return People(uuid7(), uuid7(), uuid7(), uuid7())


def fixture_beats(who: People, video: UUID) -> list[Heartbeat]:
    """The fixture's heartbeats in the order the server stores them."""

    def hb(viewer: UUID | None, session: str, when: datetime, position: float, preview: bool = False) -> Heartbeat:
        return Heartbeat(viewer, video, session, position, preview, when)

    return [
        hb(who.ann, "session-a1", at(DAY1, 10, 0, 10), 10),
        hb(who.ben, "session-b1", at(DAY1, 11, 0, 10), 10),
        hb(who.ann, "session-a1", at(DAY1, 10, 0, 20), 20),
        hb(who.creator, "session-own", at(DAY1, 10, 0, 25), 50),
        hb(who.ann, "session-a1", at(DAY1, 10, 0, 30), 30),
        hb(who.ben, "session-b1", at(DAY1, 11, 0, 20), 80),
        hb(who.ann, "session-a1", at(DAY1, 10, 0, 34), 34),
        hb(who.ben, "session-b1", at(DAY1, 11, 0, 30), 90),
        hb(who.ben, "session-b1", at(DAY1, 11, 0, 40), 99.5),
        hb(who.ann, "session-a1", at(DAY1, 10, 5, 0), 44),
        hb(who.ann, "session-a2", at(DAY2, 9, 0, 10), 10),
        hb(None, "session-v1", at(DAY2, 9, 30, 10), 10, preview=True),
        hb(who.ann, "session-a2", at(DAY2, 9, 0, 20), 5),
        hb(None, "session-v2", at(DAY2, 9, 40, 3), 3),
        hb(who.ann, "session-a2", at(DAY2, 9, 0, 30), 15),
    ]


def fixture_events(who: People, video: UUID, other_video: UUID) -> list[tuple[str, str, dict[str, object], datetime]]:
    """(topic, name, data, created_at) of the fixture's events, as the unlocks feature publishes them."""
    mine, theirs = f"user:{who.creator}", f"user:{who.other_creator}"
    v = str(video)

    def sale(points: int, net: int, offer: str) -> dict[str, object]:
        return {"video_id": v, "title": "Tides at dawn", "offer": offer, "points": points, "net": net}

    return [
        (mine, "sale", sale(50, 45, "rent_day"), at(DAY1, 12, 0, 0)),
        (mine, "video", {"video_id": v, "state": "PUBLISHED"}, at(DAY1, 12, 30, 0)),
        (mine, "sale", sale(200, 180, "rent_month"), at(DAY1, 13, 0, 0)),
        (
            theirs,
            "sale",
            {"video_id": str(other_video), "title": "Other", "offer": "lifetime", "points": 70, "net": 63},
            at(DAY1, 14, 0, 0),
        ),
        (mine, "sale", sale(500, 450, "lifetime"), at(DAY2, 8, 0, 0)),
        (
            mine,
            "tip",
            {
                "amount": 10,
                "from_name": "Ann",
                "message": "Lovely light",
                "video_title": "Tides at dawn",
                "video_id": v,
            },
            at(DAY2, 9, 1, 0),
        ),
    ]


async def store_beats(injector: Injector, beats: list[Heartbeat]) -> None:
    repository = get_port(injector, HeartbeatRepository)
    for beat in beats:
        await repository.add(beat)


def as_memory_events(rows: list[tuple[str, str, dict[str, object], datetime]], first_id: int = 1) -> list[Event]:
    return [Event(first_id + n, topic, name, data, when) for n, (topic, name, data, when) in enumerate(rows)]


async def store_events_in_log(injector: Injector, rows: list[tuple[str, str, dict[str, object], datetime]]) -> None:
    """The fixture's events straight into core's event_log, with their own times (PostgreSQL)."""
    db = injector.get(Database)
    for topic, name, data, when in rows:
        await db.execute(
            "INSERT INTO event_log (topic, name, data, created_at) VALUES ($1, $2, $3::jsonb, $4)",
            topic,
            name,
            json.dumps(data),
            when,
        )
