"""Videos for catalog and preferences tests: put straight into the studio's repository in any state,
at a chosen time, with no media (lists never read media)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

from injector import Injector

from core.di import get_port
from core.ids import public_id, uuid7
from features.playback.model import Heartbeat
from features.playback.ports import HeartbeatRepository
from features.studio.model import Video, VideoState
from features.studio.ports import VideoRepository

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def shelve(
    injector: Injector,
    owner_id: UUID,
    title: str = "A film",
    *,
    at: datetime = T0,
    state: VideoState = VideoState.PUBLISHED,
    cover: bool = True,
    video_id: UUID | None = None,
) -> Video:
    """A video in `state`, created at `at` (newest-first lists order by it)."""
    video = Video(
        id=video_id or uuid7(),
        public_id=public_id(),
        owner_id=owner_id,
        title=title,
        description="",
        state=state,
        created_at=at,
        updated_at=at,
        duration=62.0,
        fallback_cover_image="fake-cover-x" if cover else None,
    )
    await get_port(injector, VideoRepository).add(video)
    return video


async def shelve_many(injector: Injector, owner_id: UUID, count: int, *, prefix: str = "Film") -> list[Video]:
    """`count` published videos a minute apart; the last one is the newest."""
    return [await shelve(injector, owner_id, f"{prefix} {i:02d}", at=T0 + timedelta(minutes=i)) for i in range(count)]


async def watch(injector: Injector, viewer_id: UUID, video: Video) -> None:
    """The viewer's player reported from the video (what playback calls watched)."""
    beat = Heartbeat(viewer_id, video.id, "session-1", 3.0, False, T0)
    await get_port(injector, HeartbeatRepository).add(beat)
