"""The event-log retention job with the real wiring: the consumers the features register (analytics'
revenue fold, notifications, portability's roots) hold `event_log` back until both have read it, the resume window keeps
what a reconnecting browser may ask for, and the tips the dashboard reads back are kept."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

from injector import Injector

from core.db import Database
from core.eventlog import RESUME_WINDOW, Retention
from core.live import prune_events
from core.postgres import PostgresEventBus
from features.analytics.service import AnalyticsService
from features.notifications.service import NotificationService
from features.portability.service import PortabilityService


async def stored(db: Database) -> list[str]:
    rows = await db.fetch("SELECT name FROM event_log ORDER BY id")
    return [r["name"] for r in rows]


async def test_old_events_go_once_every_registered_consumer_has_read_them(pg: Injector) -> None:
    assert pg.get(Retention).consumers == {"analytics", "notifications", "portability"}
    db = pg.get(Database)
    bus = PostgresEventBus(db)
    topic = f"user:{uuid4()}"
    for percent in (10, 50, 90):
        await bus.publish(topic, "video", {"video_id": "v", "state": "CONVERTING", "percent": percent})
    await bus.publish(topic, "tip", {"amount": 5, "from_name": "Ann", "video_id": str(uuid4())})
    await db.execute("UPDATE event_log SET created_at = created_at - $1::interval", RESUME_WINDOW + timedelta(hours=1))
    await bus.publish(topic, "video", {"video_id": "v", "state": "CONVERTING", "percent": 95})
    ctx = {"injector": pg}

    await pg.get(NotificationService).process_new_events()
    assert await prune_events(ctx) == 0  # analytics has not folded them yet
    assert len(await stored(db)) == 5

    await pg.get(AnalyticsService).fold_revenue()
    assert await prune_events(ctx) == 0  # portability has not read them yet
    assert await pg.get(PortabilityService).record_new_roots() == 0  # no video became ready here
    assert await prune_events(ctx) == 3  # the old progress ticks
    assert await stored(db) == ["tip", "video"]  # the tip is read back by the dashboard; the last tick is recent
    await bus.close()
