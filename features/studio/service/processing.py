"""Processing a video: the fair queue, converting it through the transcoder, its progress figure,
failures, retries, and the sweep that repairs what a crash leaves behind."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from uuid import UUID

from core.pipeline import Progress, UnitFailed
from features.studio.model import (
    IN_PROGRESS,
    PLAYABLE,
    ProcessingProgress,
    Transcoded,
    Video,
    VideoState,
)
from features.studio.ports import (
    SubtitleFile,
    TranscodeOrder,
)
from features.studio.service.base import (
    EVENT,
    StudioBase,
    short_reason,
    topic_for,
)

JobProgress = Callable[[ProcessingProgress], Awaitable[None]]


class ProcessingUseCases(StudioBase):
    """Converting uploaded videos, one fair-queue job at a time."""

    async def process(
        self, video_id: UUID, *, last_attempt: bool = True, on_progress: JobProgress | None = None
    ) -> Video | None:
        """Convert an UPLOADED video into published HLS: CONVERTING → READY as soon as its first
        rendition is published, then upgrading until every rendition is (see Video.publish_rendition).

        Safe to run again for the same video (jobs are delivered at least once): a video already
        converting resumes where the pipeline's checkpoints say, one already done is left alone.
        When a unit fails: on the last attempt the video becomes FAILED with the reason; before it,
        UnitFailed is raised again so the queue retries. Returns the video, or None if there was
        nothing to do.
        """
        now = self.clock.now()
        async with self.uow.atomic():
            video = await self.videos.get(video_id, for_update=True)
            if video is None or not (video.state in IN_PROGRESS or video.upgrading) or video.source_key is None:
                return None
            was_waiting = video.state is VideoState.UPLOADED
            video.start_converting(now)
            await self.videos.save(video)
            await self._announce(video)
        return await self._convert(video, was_waiting, last_attempt, on_progress)

    async def process_next(
        self, job_key: str, *, last_attempt: bool = True, on_progress: JobProgress | None = None
    ) -> Video | None:
        """Convert the next video in fair order — what every transcode job does.

        The queue is start-time fair: each video entering it gets a tag, max(virtual time, its owner's
        last waiting-or-converting tag + 1), and jobs take the lowest tag (then the oldest). A creator
        with many waiting videos thus takes turns with everyone else: another creator's first upload
        is picked after at most one more of theirs. A job is not bound to the video it was queued for:
        there is one job per waiting video, and each converts one. The claimed video remembers the
        job's key, so a retried or re-delivered job (a killed worker) resumes that same video.
        Returns the video, or None when nothing was waiting.
        """
        async with self.uow.atomic():
            video = await self.videos.claim_next(job_key)
            if video is None or video.source_key is None:
                return None
            was_waiting = video.state is VideoState.UPLOADED
            video.start_converting(self.clock.now())
            await self.videos.save(video)
            await self._announce(video)
        return await self._convert(video, was_waiting, last_attempt, on_progress)

    async def _convert(
        self, video: Video, was_waiting: bool, last_attempt: bool, on_progress: JobProgress | None
    ) -> Video | None:
        video_id = video.id
        if was_waiting:
            await self._announce_queue()
        try:
            result = await self._transcode(video, on_progress)
        except UnitFailed as error:
            if not last_attempt and not error.permanent:
                raise
            return await self._fail(video_id, f"{error.unit}: {error.reason}")
        except Exception as error:
            if last_attempt:
                await self._fail(video_id, f"Processing stopped unexpectedly ({type(error).__name__}).")
            raise
        async with self.uow.atomic():
            done = await self.videos.get(video_id, for_update=True)
            if done is None or not (done.state is VideoState.CONVERTING or done.state in PLAYABLE):
                return done
            upgraded = done.state in PLAYABLE
            superseded = done.playlist
            done.finish_converting(result, self.clock.now())
            await self.videos.save(done)
            await self._announce(done, upgrade=upgraded)
        await self._remove_superseded(superseded, done.playlist)
        return done

    async def _transcode(self, video: Video, on_progress: JobProgress | None) -> Transcoded:
        assert video.source_key is not None
        sink = _ProgressSink(self, video, on_progress)
        async with AsyncExitStack() as stack:
            source = await stack.enter_async_context(self.storage.local_copy(video.source_key))
            subtitles = []
            for subtitle in video.subtitle_sources:
                path = await stack.enter_async_context(self.storage.local_copy(subtitle.key))
                subtitles.append(SubtitleFile(path, subtitle.language, subtitle.label))
            order = TranscodeOrder(
                run_id=str(video.id),
                source=source,
                work_dir=self.policy.work_root / str(video.id),
                subtitles=tuple(subtitles),
                key_uri=f"/v/{video.public_id}/key",
            )
            return await self.transcoder.transcode(
                order, sink, lambda result: self._publish_rendition(video.id, result)
            )

    async def _publish_rendition(self, video_id: UUID, result: Transcoded) -> None:
        """The pipeline published the video as far as `result` says: the first publication makes it
        READY (playable, sellable, publishable) while the rest converts; each later one swaps in the
        new master playlist and manifest in one row update."""
        async with self.uow.atomic():
            video = await self.videos.get(video_id, for_update=True)
            if video is None or not video.converting:
                return
            first = video.state is VideoState.CONVERTING
            superseded = video.playlist
            video.publish_rendition(result, self.clock.now())
            await self.videos.save(video)
            await self._announce(video, upgrade=not first)
        await self._remove_superseded(superseded, video.playlist)

    async def _fail(self, video_id: UUID, reason: str) -> Video | None:
        async with self.uow.atomic():
            video = await self.videos.get(video_id, for_update=True)
            if video is None or not (video.upgrading or video.can(VideoState.FAILED)):
                return video
            upgrade = video.upgrading  # a playable video keeps playing: only its upgrade fails
            video.fail(short_reason(reason), self.clock.now())
            await self.videos.save(video)
            await self._announce(video, upgrade=upgrade)
        return video

    async def record_progress(self, video: Video, progress: Progress) -> ProcessingProgress | None:
        """Store and publish the processing figure; None if the video is no longer converting."""
        figure = self.figure_of(progress)
        if not await self.videos.record_progress(video.id, figure):
            return None
        await self.bus.publish(
            topic_for(video.owner_id),
            EVENT,
            {
                "video_id": str(video.id),
                "state": VideoState.CONVERTING.name,  # a progress figure, never news (even while upgrading)
                "percent": figure.percent,
                "step": figure.step,
                "eta": figure.eta_seconds,
            },
        )
        return figure

    def figure_of(self, progress: Progress) -> ProcessingProgress:
        """The stored, published shape of a pipeline progress report."""
        return ProcessingProgress(
            percent=round(min(max(progress.percent, 0.0), 100.0), 1),
            step=progress.unit,
            step_index=progress.step,
            steps=progress.steps,
            eta_seconds=None if progress.eta_seconds is None else round(progress.eta_seconds, 1),
            updated_at=self.clock.now(),
        )

    async def retry(self, owner_id: UUID, video_id: UUID) -> Video:
        """Queue a FAILED video (or the failed upgrade of a playable one) again; processing resumes from
        its last completed step. Raises VideoNotFound, IllegalVideoTransition or Conflict."""
        async with self.uow.atomic():
            video = await self._owned_for_update(owner_id, video_id)
            if video.state in PLAYABLE:
                video.retry_upgrade(self.clock.now())
                await self.videos.save(video)
                await self._announce(video, upgrade=True)
                await self._enqueue(video)
                return video
            video.retry(self.clock.now())
            video.fair_tag = await self.videos.next_fair_tag(video.owner_id)
            await self.videos.save(video)
            await self._announce(video)
        await self._enqueue(video)
        await self._announce_queue(behind=video)
        return video

    async def sweep(self) -> int:
        """Repair what a crash can leave behind; returns how many videos it touched.

        UPLOADED videos waiting longer than `stall_after` are queued again (the job key keeps this
        from doubling a queued job); CONVERTING videos without progress for that long are FAILED so
        their creator can retry, and so are the upgrades of playable videos (which keep playing).
        Upload-allowance records older than 24 hours (which no longer count)
        are dropped.
        """
        await self.quotas.prune_allowance(self.clock.now() - timedelta(hours=24))
        cutoff = self.clock.now() - self.policy.stall_after
        touched = 0
        for video in await self.videos.stalled(frozenset({VideoState.UPLOADED}), cutoff):
            await self._enqueue(video)
            touched += 1
        for video in await self.videos.stalled(frozenset({VideoState.CONVERTING}), cutoff):
            await self._fail(video.id, "Processing stopped responding. Try again.")
            touched += 1
        for video in await self.videos.stalled_upgrades(cutoff):
            await self._fail(video.id, "Processing of the higher qualities stopped responding. Try again.")
            touched += 1
        return touched


class _ProgressSink:
    """Turns the pipeline's progress reports into stored, published figures — at most one a second
    per step, so a fast unit does not flood the database and the browsers."""

    def __init__(self, service: ProcessingUseCases, video: Video, on_progress: JobProgress | None) -> None:
        self.service = service
        self.video = video
        self.on_progress = on_progress
        self.last_step = -1
        self.last_at: datetime | None = None

    async def __call__(self, progress: Progress) -> None:
        now = self.service.clock.now()
        interval = timedelta(seconds=self.service.policy.progress_interval)
        due = self.last_at is None or now - self.last_at >= interval
        if not (progress.finished or progress.step != self.last_step or due):
            return
        self.last_step, self.last_at = progress.step, now
        figure = await self.service.record_progress(self.video, progress)
        if self.on_progress is not None:  # the job's own figure, even once the video stopped taking them
            await self.on_progress(figure or self.service.figure_of(progress))
