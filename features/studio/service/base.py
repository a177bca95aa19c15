"""What every studio use case stands on: the repositories and the policy, the owner's topic, the
transcode job's key, and telling the owner's open pages what changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from core.clock import Clock
from core.events import EventBus
from core.jobs import JobQueue
from core.ratelimit import RateLimiter
from core.storage import BlobStorage
from core.uow import UnitOfWork
from features.studio.model import (
    IN_PROGRESS,
    Quota,
    Video,
    VideoLimits,
    VideoNotFound,
    VideoState,
)
from features.studio.ports import (
    QuotaRepository,
    Transcoder,
    UploadRepository,
    VideoRepository,
)

TRANSCODE_JOB = "transcode_video"
EVENT = "video"
REASON_MAX = 300

# Events worth a mail or a notice carry the title (the notifications feature reads them).
FINAL_NEWS = frozenset({VideoState.READY, VideoState.FAILED, VideoState.REJECTED})


DEFAULT_QUOTA = Quota(storage_bytes=50 * 1024**3, daily_upload_bytes=10 * 1024**3)


@dataclass(frozen=True)
class StudioPolicy:
    limits: VideoLimits
    work_root: Path
    job_timeout: int = 6 * 3600
    job_heartbeat: int = 120
    job_retries: int = 3
    progress_interval: float = 1.0
    stall_after: timedelta = timedelta(minutes=30)
    quota: Quota = DEFAULT_QUOTA
    videos_per_hour: int = 30  # videos one creator may create per hour (abuse limit)
    upload_expiry: timedelta = timedelta(hours=24)


def job_key_for(video_id: UUID | str) -> str:
    """The key of the transcode job queued when this video entered the queue."""
    return f"transcode:{video_id}"


def topic_for(owner_id: UUID) -> str:
    return f"user:{owner_id}"


def short_reason(reason: str) -> str:
    reason = " ".join(reason.split())
    return reason if len(reason) <= REASON_MAX else reason[: REASON_MAX - 1] + "…"


class StudioBase:
    """The studio's collaborators and what its stories share; StudioService is made of the stories."""

    def __init__(
        self,
        videos: VideoRepository,
        uploads: UploadRepository,
        storage: BlobStorage,
        transcoder: Transcoder,
        jobs: JobQueue,
        bus: EventBus,
        uow: UnitOfWork,
        clock: Clock,
        policy: StudioPolicy,
        quotas: QuotaRepository,
        *,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.limiter = limiter
        self.videos = videos
        self.uploads = uploads
        self.storage = storage
        self.transcoder = transcoder
        self.jobs = jobs
        self.bus = bus
        self.uow = uow
        self.clock = clock
        self.policy = policy
        self.quotas = quotas

    # -- inside --------------------------------------------------------------------------------------

    async def _owned_for_update(self, owner_id: UUID, video_id: UUID) -> Video:
        video = await self.videos.get(video_id, for_update=True)
        if video is None or video.owner_id != owner_id:
            raise VideoNotFound()
        return video

    async def _announce(self, video: Video, *, upgrade: bool = False) -> None:
        """Tell the owner's open pages that this video changed (delivered only if the change commits).
        `upgrade`: the change is to a video that already played (a higher rendition published, the
        upgrade done or failed); it carries "upgrade" so it is not news again (no second "ready" mail)."""
        data: dict[str, Any] = {"video_id": str(video.id), "public_id": video.public_id, "state": video.state.name}
        if video.state in FINAL_NEWS or (upgrade and video.upgrade_failure):
            data["title"] = video.title
        if video.failure_reason:
            data["reason"] = video.failure_reason
        if video.progress is not None and (video.state in IN_PROGRESS or video.upgrading):
            data["percent"] = video.progress.percent
        if upgrade:
            data["upgrade"] = True
        if video.pending_renditions:
            data["pending"] = list(video.pending_renditions)
        if upgrade and video.upgrade_failure:  # news once, when it fails (a mail); not on later changes
            data["upgrade_failure"] = video.upgrade_failure
        await self.bus.publish(topic_for(video.owner_id), EVENT, data)

    async def _announce_queue(self, behind: Video | None = None) -> None:
        """The queue moved: tell the owners of waiting videos their new positions. A conversion that
        started moves every one up; a video that entered (`behind`) moves back those it went ahead
        of — fair order lets another creator's first upload pass a busy creator's waiting videos."""
        waiting = await self.videos.waiting()
        start = 0
        if behind is not None:
            ids = [v.id for v in waiting]
            if behind.id not in ids:
                return
            start = ids.index(behind.id) + 1
        for position, video in enumerate(waiting[start:], start=start):
            await self.bus.publish(
                topic_for(video.owner_id),
                EVENT,
                {"video_id": str(video.id), "state": video.state.name, "queue_position": position},
            )

    async def _remove_superseded(self, old: str | None, new: str | None) -> None:
        """After a new master playlist of a video committed: remove the one it replaced from the content
        store, unless some video still plays it (identical bytes share one CID). Every other file of
        the old master is in the new one, so nothing else is orphaned. A viewer who loaded the old
        master resolves its playlists and segments through the video's current manifest."""
        if old is None or old == new or await self.videos.masters_in_use([old]):
            return
        await self.transcoder.remove_published(old)

    async def _enqueue(self, video: Video) -> None:
        await self.jobs.enqueue(
            TRANSCODE_JOB,
            key=job_key_for(video.id),
            timeout=self.policy.job_timeout,
            heartbeat=self.policy.job_heartbeat,
            retries=self.policy.job_retries,
            video_id=str(video.id),
        )
