"""The transcode job as saq runs it: thin over the service, retried until its last attempt."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pytest
from injector import Injector

from core.ids import uuid7
from core.pipeline import UnitFailed
from features.studio.adapters import MemoryTranscoder, fake_media
from features.studio.jobs import transcode_video
from features.studio.model import SourceMeta, VideoState
from features.studio.service import StudioService

HD = SourceMeta(12.0, 1280, 720, "h264", "aac", 2_000_000, 25.0, True)


@dataclass
class SaqJobStandIn:
    """The parts of saq's Job the task reads and writes: attempts, retries, heartbeat, update()."""

    attempts: int
    retries: int = 3
    heartbeat: float = 0
    updates: list[dict[str, Any]] = field(default_factory=list)

    async def update(self, **kwargs: Any) -> None:
        self.updates.append(kwargs)


async def uploaded(memory: Injector) -> str:
    studio = memory.get(StudioService)
    owner = uuid7()
    video = await studio.create_video(owner, "Job")
    data = fake_media(HD)
    upload = await studio.create_upload(owner, video.public_id, len(data))

    async def body() -> Any:
        yield data

    await studio.receive(owner, upload.id, 0, body())
    return str(video.id)


async def test_the_job_converts_the_video_and_reports_progress_to_saq(memory: Injector) -> None:
    video_id = await uploaded(memory)
    job = SaqJobStandIn(attempts=1)
    await transcode_video({"injector": memory, "job": job}, video_id=video_id)
    video = await memory.get(StudioService).get_video(UUID(video_id))
    assert video is not None
    assert video.state is VideoState.READY
    assert job.updates[-1] == {"progress": 1.0}


async def test_a_failure_before_the_last_attempt_is_raised_for_saq_to_retry(memory: Injector) -> None:
    memory.get(MemoryTranscoder).fail_next = ["boom", "boom"]
    video_id = await uploaded(memory)
    ctx = {"injector": memory}
    with pytest.raises(UnitFailed):
        await transcode_video({**ctx, "job": SaqJobStandIn(attempts=1)}, video_id=video_id)
    await transcode_video({**ctx, "job": SaqJobStandIn(attempts=3)}, video_id=video_id)
    video = await memory.get(StudioService).get_video(UUID(video_id))
    assert video is not None
    assert video.state is VideoState.FAILED
    assert video.failure_reason == "ConvertVideoTo480p: boom"


async def test_the_job_keeps_its_heartbeat_while_it_runs(memory: Injector) -> None:
    video_id = await uploaded(memory)
    memory.get(MemoryTranscoder).step_seconds = 0.1  # four steps: longer than the beat below
    job = SaqJobStandIn(attempts=1, heartbeat=0.4)
    await transcode_video({"injector": memory, "job": job}, video_id=video_id)
    assert {} in job.updates  # a bare update() touches the job between progress reports
