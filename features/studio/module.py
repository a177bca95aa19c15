"""Wiring for the studio: ports to adapters, and what the composition root needs."""

from __future__ import annotations

from datetime import timedelta

from injector import Binder, InstanceProvider, Module, provider, singleton

from core.clock import Clock
from core.db import Database, tables_in
from core.di import bind_port
from core.events import EventBus
from core.feature import CronSpec, Feature, NavLink
from core.jobs import JobQueue
from core.ratelimit import RateLimiter
from core.settings import Settings
from core.storage import BlobStorage
from core.uow import UnitOfWork
from features.pipeline.service import TranscodeService
from features.studio import tables as studio_tables
from features.studio.adapters import (
    MemoryQuotaRepository,
    MemoryTranscoder,
    MemoryUploadRepository,
    MemoryVideoRepository,
    PiccoloUploadRepository,
    PiccoloVideoRepository,
    PipelineTranscoder,
    PostgresQuotaRepository,
)
from features.studio.adapters.chapters import MemoryChapterRepository, PiccoloChapterRepository
from features.studio.controller import StaffQuotaController, StudioController, TusController
from features.studio.controller.chapters import ChaptersController
from features.studio.jobs import expire_uploads, sweep_studio, transcode_video
from features.studio.model import Quota, VideoLimits
from features.studio.ports import ChapterRepository, QuotaRepository, Transcoder, UploadRepository, VideoRepository
from features.studio.service import StudioPolicy, StudioService
from features.studio.service.chapters import ChapterService
from features.studio.service.live import LiveTiles

EXPIRE_UPLOADS_CRON = "*/15 * * * *"  # abandoned tus uploads are deleted within 15 minutes of expiring


def policy_from(settings: Settings) -> StudioPolicy:
    return StudioPolicy(
        limits=VideoLimits(
            max_bytes=settings.max_upload_bytes,
            max_duration_seconds=settings.max_duration_seconds,
            max_width=settings.max_video_width,
            max_height=settings.max_video_height,
        ),
        work_root=settings.data_path / "work",
        job_timeout=settings.transcode_timeout_seconds,
        quota=Quota(storage_bytes=settings.quota_storage_bytes, daily_upload_bytes=settings.quota_daily_upload_bytes),
        videos_per_hour=settings.videos_per_creator_per_hour,
        upload_expiry=timedelta(seconds=settings.upload_expiry),
    )


class _StudioServiceModule(Module):
    @singleton
    @provider
    def live_tiles(self, studio: StudioService) -> LiveTiles:
        return LiveTiles(studio)

    @singleton
    @provider
    def studio_service(
        self,
        videos: VideoRepository,
        uploads: UploadRepository,
        storage: BlobStorage,
        transcoder: Transcoder,
        jobs: JobQueue,
        bus: EventBus,
        uow: UnitOfWork,
        clock: Clock,
        settings: Settings,
        quotas: QuotaRepository,
        limiter: RateLimiter,
    ) -> StudioService:
        return StudioService(
            videos, uploads, storage, transcoder, jobs, bus, uow, clock, policy_from(settings), quotas, limiter=limiter
        )

    @singleton
    @provider
    def chapter_service(self, videos: VideoRepository, chapters: ChapterRepository, uow: UnitOfWork) -> ChapterService:
        return ChapterService(videos, chapters, uow)


class StudioModule(_StudioServiceModule):
    @singleton
    @provider
    def chapters(self) -> ChapterRepository:
        return PiccoloChapterRepository()

    @singleton
    @provider
    def videos(self, db: Database) -> VideoRepository:
        return PiccoloVideoRepository(db)

    @singleton
    @provider
    def uploads(self, db: Database) -> UploadRepository:
        return PiccoloUploadRepository(db)

    @singleton
    @provider
    def quotas(self, db: Database) -> QuotaRepository:
        return PostgresQuotaRepository(db)

    @singleton
    @provider
    def transcoder(self, service: TranscodeService) -> Transcoder:
        return PipelineTranscoder(service)


class MemoryStudioModule(_StudioServiceModule):
    def configure(self, binder: Binder) -> None:
        super().configure(binder)
        transcoder = MemoryTranscoder()
        binder.bind(MemoryTranscoder, to=InstanceProvider(transcoder))
        bind_port(binder, Transcoder, transcoder)
        videos, uploads = MemoryVideoRepository(), MemoryUploadRepository()
        bind_port(binder, VideoRepository, videos)
        bind_port(binder, UploadRepository, uploads)
        bind_port(binder, QuotaRepository, MemoryQuotaRepository(videos, uploads))
        bind_port(binder, ChapterRepository, MemoryChapterRepository())


FEATURE = Feature(
    name="studio",
    module=StudioModule,
    memory_module=MemoryStudioModule,
    route_handlers=[StudioController, TusController, StaffQuotaController, ChaptersController],
    jobs=[transcode_video],
    cron_jobs=[
        CronSpec(sweep_studio, "*/10 * * * *", timeout=120),
        CronSpec(expire_uploads, EXPIRE_UPLOADS_CRON, timeout=300),
    ],
    nav=[NavLink("Studio", "/studio", "creator", order=20)],
    live_parts=[LiveTiles],
    tables=tables_in(studio_tables),
)
