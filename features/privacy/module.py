"""Wiring for privacy: records, the event-log scrubber, services, jobs and routes."""

from __future__ import annotations

from datetime import timedelta

from injector import Binder, Module, provider, singleton

from core.clock import Clock
from core.db import Database, tables_in
from core.di import bind_port
from core.events import EventBus, MemoryEventBus
from core.feature import CronSpec, Feature
from core.jobs import JobQueue
from core.ratelimit import RateLimiter
from core.settings import Settings
from core.storage import BlobStorage
from core.uow import UnitOfWork
from features.accounts.service import AccountService
from features.gifts.service import GiftService
from features.ledger.service import LedgerService
from features.memberships.service import MembershipService
from features.notifications.service import NotificationService
from features.offers.service import OffersService
from features.payouts.service import PayoutService
from features.playback.service import PlaybackService
from features.preferences.service import VideoPreferenceService
from features.privacy import tables as privacy_tables
from features.privacy.adapters import (
    MemoryErasureRepository,
    MemoryEventScrubber,
    MemoryExportRepository,
    PiccoloExportRepository,
    PostgresErasureRepository,
    PostgresEventScrubber,
)
from features.privacy.controller import PrivacyController
from features.privacy.jobs import build_export, expire_exports, purge_erased_content
from features.privacy.ports import ErasureRepository, EventScrubber, ExportRepository
from features.privacy.service import ErasureService, ExportService, PrivacyPolicy
from features.studio.service import StudioService
from features.unlocks.service import PricingService, TipService, UnlockService
from features.wallet.service import WalletService


def privacy_policy(settings: Settings) -> PrivacyPolicy:
    work_dir = settings.data_path / "tmp"
    work_dir.mkdir(parents=True, exist_ok=True)
    return PrivacyPolicy(
        export_ttl=timedelta(hours=settings.privacy_export_ttl_hours),
        content_grace=timedelta(days=settings.privacy_content_grace_days),
        work_dir=work_dir,
    )


class _PrivacyServiceModule(Module):
    @singleton
    @provider
    def policy(self, settings: Settings) -> PrivacyPolicy:
        return privacy_policy(settings)

    @singleton
    @provider
    def export_service(
        self,
        exports: ExportRepository,
        accounts: AccountService,
        wallet: WalletService,
        unlocks: UnlockService,
        tips: TipService,
        pricing: PricingService,
        preferences: VideoPreferenceService,
        playback: PlaybackService,
        payouts: PayoutService,
        studio: StudioService,
        ledger: LedgerService,
        storage: BlobStorage,
        jobs: JobQueue,
        bus: EventBus,
        uow: UnitOfWork,
        clock: Clock,
        policy: PrivacyPolicy,
        memberships: MembershipService,
        offers: OffersService,
        gifts: GiftService,
    ) -> ExportService:
        return ExportService(
            exports,
            accounts,
            wallet,
            unlocks,
            tips,
            pricing,
            preferences,
            playback,
            payouts,
            studio,
            ledger,
            storage,
            jobs,
            bus,
            uow,
            clock,
            policy,
            memberships,
            offers,
            gifts,
        )

    @singleton
    @provider
    def erasure_service(
        self,
        erasures: ErasureRepository,
        exports: ExportRepository,
        scrubber: EventScrubber,
        accounts: AccountService,
        unlocks: UnlockService,
        tips: TipService,
        payouts: PayoutService,
        studio: StudioService,
        ledger: LedgerService,
        notifications: NotificationService,
        storage: BlobStorage,
        limiter: RateLimiter,
        uow: UnitOfWork,
        clock: Clock,
        policy: PrivacyPolicy,
        memberships: MembershipService,
        gifts: GiftService,
    ) -> ErasureService:
        return ErasureService(
            erasures,
            exports,
            scrubber,
            accounts,
            unlocks,
            tips,
            payouts,
            studio,
            ledger,
            notifications,
            storage,
            limiter,
            uow,
            clock,
            policy,
            memberships,
            gifts,
        )


class PrivacyModule(_PrivacyServiceModule):
    def configure(self, binder: Binder) -> None:
        bind_port(binder, ExportRepository, PiccoloExportRepository())

    @singleton
    @provider
    def erasures(self, db: Database) -> ErasureRepository:
        return PostgresErasureRepository(db)

    @singleton
    @provider
    def scrubber(self, db: Database) -> EventScrubber:
        return PostgresEventScrubber(db)


class MemoryPrivacyModule(_PrivacyServiceModule):
    def configure(self, binder: Binder) -> None:
        bind_port(binder, ExportRepository, MemoryExportRepository())
        bind_port(binder, ErasureRepository, MemoryErasureRepository())

    @singleton
    @provider
    def scrubber(self, bus: EventBus) -> EventScrubber:
        assert isinstance(bus, MemoryEventBus)
        return MemoryEventScrubber(bus)


FEATURE = Feature(
    name="privacy",
    module=PrivacyModule,
    memory_module=MemoryPrivacyModule,
    route_handlers=[PrivacyController],
    jobs=[build_export],
    cron_jobs=[
        CronSpec(expire_exports, "*/10 * * * *", timeout=300),
        CronSpec(purge_erased_content, "7 * * * *", timeout=1800),
    ],
    me_panels=["privacy/_me_panel.html"],
    tables=tables_in(privacy_tables),
)
