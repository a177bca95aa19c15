"""The studio's background jobs (saq): thin — fetch the service from the injector and call it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from core.worker import injector_from
from features.studio.model import ProcessingProgress
from features.studio.service import StudioService


async def transcode_video(ctx: dict[str, Any], *, video_id: str) -> None:
    """Convert one uploaded video. saq retries it on failure; the last attempt leaves it FAILED."""
    service = injector_from(ctx).get(StudioService)
    job = ctx.get("job")
    last_attempt = job is None or job.attempts >= job.retries

    async def report(figure: ProcessingProgress) -> None:
        if job is not None:
            await job.update(progress=figure.percent / 100)

    async with _heartbeat(job):
        await service.process(UUID(video_id), last_attempt=last_attempt, on_progress=report)


async def sweep_studio(ctx: dict[str, Any]) -> int:
    """Re-queue videos whose job went missing; fail conversions that stopped responding."""
    return await injector_from(ctx).get(StudioService).sweep()


async def expire_uploads(ctx: dict[str, Any]) -> int:
    """Delete abandoned tus uploads with their bytes, and forget finished ones, once they expire."""
    return await injector_from(ctx).get(StudioService).expire_uploads()


@contextlib.asynccontextmanager
async def _heartbeat(job: Any) -> AsyncIterator[None]:
    """Touch the job while it runs: saq sweeps a job whose heartbeat lapses, even mid-unit."""
    interval = (getattr(job, "heartbeat", 0) or 0) / 4
    if job is None or interval <= 0:
        yield
        return

    async def beat() -> None:
        while True:
            await asyncio.sleep(interval)
            await job.update()

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
