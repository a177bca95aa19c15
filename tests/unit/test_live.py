"""core.live on in-memory adapters: the parts and consumers the features declare, the studio's tile
part, and the retention job's schedule."""

from __future__ import annotations

from datetime import UTC, datetime

from croniter import croniter
from injector import Injector

from core.eventlog import Retention
from core.events import Event
from core.ids import uuid7
from core.live import LIVE, LiveParts
from features.bootstrap import HYPHA
from features.dashboard.service import DashboardService
from features.memberships.live import MembersTile
from features.offers.service import OffersLive
from features.studio.service import StudioService
from features.studio.service.live import TILE, LiveTiles
from features.wallet.live import WalletPill


def test_the_features_declare_the_live_parts_and_the_event_log_consumers(memory: Injector) -> None:
    assert LIVE in HYPHA.features
    parts = memory.get(LiveParts).resolve(memory)
    assert parts == [
        memory.get(LiveTiles),
        memory.get(WalletPill),
        memory.get(OffersLive),
        memory.get(MembersTile),
        memory.get(DashboardService),
    ]
    assert memory.get(Retention) == Retention(
        consumers=frozenset({"analytics", "notifications", "portability"}), keep_names=frozenset({"tip"})
    )


async def test_a_video_event_sends_its_owner_the_tile_and_nobody_else_anything(memory: Injector) -> None:
    owner, stranger = uuid7(), uuid7()
    video = await memory.get(StudioService).create_video(owner, "Night trains")
    tiles = memory.get(LiveTiles)

    [fragment] = await tiles.fragments(owner, Event(1, f"user:{owner}", "video", {"video_id": str(video.id)}))
    assert fragment.template == TILE
    assert fragment.context["tile"].video.id == video.id
    assert await tiles.fragments(stranger, Event(2, f"user:{stranger}", "video", {"video_id": str(video.id)})) == []
    assert await tiles.fragments(owner, Event(3, f"user:{owner}", "video", {"video_id": "not-an-id"})) == []
    assert await tiles.fragments(owner, Event(4, f"user:{owner}", "sale", {"video_id": str(video.id)})) == []


def test_the_event_log_is_pruned_every_fifteen_minutes() -> None:
    [spec] = LIVE.cron_jobs
    runs = croniter(spec.cron, datetime(2026, 3, 1, 12, 0, 3, tzinfo=UTC))
    first, second = runs.get_next(datetime), runs.get_next(datetime)
    assert (second - first).total_seconds() == 15 * 60
