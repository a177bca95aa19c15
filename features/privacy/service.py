"""Privacy use cases: build a person's data export, hand it to them alone, and delete their account.

Other features are read and changed only through their services (accounts, wallet, unlocks, tips,
preferences, playback, payouts, studio, ledger, notifications); the rules are in `model`.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from core.clock import Clock
from core.events import EventBus
from core.ids import uuid7
from core.jobs import JobQueue
from core.paging import Cursor
from core.ratelimit import RateLimiter
from core.storage import BlobStorage
from core.uow import UnitOfWork
from features.accounts.model import User
from features.accounts.service import AccountService
from features.gifts.service import GiftService
from features.ledger.model import AccountRef, Entry, InsufficientPoints, Leg
from features.ledger.service import LedgerService
from features.memberships.service import MembershipService
from features.notifications.service import FORMER_MEMBER, NotificationService
from features.offers.service import OffersService
from features.payouts.service import PayoutService
from features.playback.service import PlaybackService
from features.preferences.service import VideoPreferenceService
from features.privacy.archive import ArchiveWriter
from features.privacy.model import (
    DeletionPlan,
    Erasure,
    Export,
    ExportExpired,
    ExportNotFound,
    ExportNotReady,
    ExportStatus,
    NotConfirmed,
    StaffAccount,
    TooManyAttempts,
    WrongPassword,
)
from features.privacy.ports import ErasureRepository, EventScrubber, ExportRepository
from features.studio.service import StudioService
from features.unlocks.service import PricingService, TipService, UnlockService
from features.wallet.service import WalletService

log = logging.getLogger(__name__)

EXPORT_JOB = "build_export"
EXPORT_EVENT = "export"
STATEMENT_COLUMNS = ("entry_id", "created_at", "kind", "amount", "balance_after", "counterparty", "memo", "transfer_id")
PAGE = 500
REMOVED_MESSAGE = "(message removed)"
MIN_REDACTED = 3  # shorter tip messages ("hi") are not looked for in mail: they would match inside words


def topic_for(user_id: UUID) -> str:
    return f"user:{user_id}"


EXPORT_WORK_PREFIX = "hypha-export-"  # a build's work folder under PrivacyPolicy.work_dir


def _remove_left_folders(work: Path, prefix: str, cutoff: float) -> int:
    """Remove the folders `prefix*` in `work` in which nothing (the folder or anything inside) changed
    after `cutoff` (a time.time() value); returns how many."""
    removed = 0
    for folder in work.glob(f"{prefix}*"):
        if folder.is_symlink() or not folder.is_dir():
            continue
        try:
            newest = max([folder.stat().st_mtime, *(p.lstat().st_mtime for p in folder.rglob("*"))])
        except OSError:  # removed meanwhile (the build finished)
            continue
        if newest < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


@dataclass(frozen=True)
class PrivacyPolicy:
    export_ttl: timedelta = timedelta(hours=72)
    content_grace: timedelta = timedelta(days=30)
    # A new export may be asked for once the last one is this old (or failed, or expired).
    export_interval: timedelta = timedelta(minutes=10)
    # A PENDING export unchanged this long may have lost its job (the process that asked died before
    # queueing it, or its worker was killed more often than the job's retries): the cron queues it again.
    export_stall: timedelta = timedelta(minutes=10)
    # ... and gives it up (FAILED: the person may ask again) once it was asked for this long ago.
    export_give_up: timedelta = timedelta(hours=6)
    # A build's work folder in which nothing moved for this long was left by a killed build (a live one
    # writes its ZIP as it goes, and its job times out after 30 minutes): the cron removes it.
    work_left_after: timedelta = timedelta(hours=2)
    work_dir: Path | None = None  # where the ZIP is written before it goes to blob storage
    # Password tries on the deletion form, per account and window (a stolen session cannot guess on).
    password_attempts: int = 5
    password_window_seconds: int = 900


@dataclass(frozen=True)
class Download:
    export: Export
    chunks: AsyncIterator[bytes]
    filename: str


def export_key(export_id: UUID) -> str:
    """Blob key of an export's ZIP: built from the export's random id only."""
    return f"privacy/exports/{export_id}.zip"


def statement_row(entry: Entry) -> dict[str, Any]:
    return {
        "entry_id": entry.id,
        "created_at": entry.created_at,
        "kind": entry.kind,
        "amount": entry.amount,
        "balance_after": entry.balance_after,
        "counterparty": entry.counterparty.label,
        "memo": entry.memo,
        "transfer_id": entry.transfer_id,
        "details": dict(entry.metadata),
    }


class ExportService:
    """GDPR art. 15/20: everything Hypha holds about a person, as a ZIP only they can download."""

    def __init__(
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
    ) -> None:
        self.memberships = memberships
        self.offers = offers
        self.gifts = gifts
        self.exports = exports
        self.accounts = accounts
        self.wallet = wallet
        self.unlocks = unlocks
        self.tips = tips
        self.pricing = pricing
        self.preferences = preferences
        self.playback = playback
        self.payouts = payouts
        self.studio = studio
        self.ledger = ledger
        self.storage = storage
        self.jobs = jobs
        self.bus = bus
        self.uow = uow
        self.clock = clock
        self.policy = policy

    # -- asking and downloading ---------------------------------------------------------------------

    async def request(self, user_id: UUID) -> Export:
        """Ask for an export: a new one is queued, unless one is still being prepared or was asked for
        less than `export_interval` ago (then that one is returned: a double click queues one job)."""
        now = self.clock.now()
        for export in await self.exports.for_user(user_id, limit=1):
            recent = now - export.requested_at < self.policy.export_interval
            if export.status is ExportStatus.PENDING or (recent and export.status is ExportStatus.READY):
                return export
        export = Export(uuid7(), user_id, ExportStatus.PENDING, now, now)
        async with self.uow.atomic():
            await self.exports.add(export)
        # A process dying here leaves a PENDING export without a job: `resume_pending` queues it again.
        await self._enqueue(export)
        return export

    async def _enqueue(self, export: Export) -> None:
        """Queue the export's job; the key is the export's, so a job still queued or running is not doubled."""
        await self.jobs.enqueue(
            EXPORT_JOB,
            key=f"privacy-export:{export.id}",
            timeout=1800,
            heartbeat=0,
            retries=3,
            export_id=str(export.id),
        )

    async def exports_of(self, user_id: UUID) -> list[Export]:
        """The person's latest exports, newest first, with expired ones marked as such."""
        now = self.clock.now()
        found = await self.exports.for_user(user_id)
        return [e.expire(now) if e.expired(now) and e.status is ExportStatus.READY else e for e in found]

    async def download(self, user_id: UUID, export_id: UUID) -> Download:
        """The export's ZIP, for the person it was made for only (anyone else: ExportNotFound, as if it
        did not exist). Raises ExportExpired after `expires_at` (the file is gone or about to go) and
        ExportNotReady while it is being prepared (or failed)."""
        export = await self.exports.get(export_id)
        if export is None or export.user_id != user_id:
            raise ExportNotFound()
        now = self.clock.now()
        if export.expired(now):
            raise ExportExpired()
        if not export.downloadable(now) or export.blob_key is None:
            raise ExportNotReady()
        if not await self.storage.exists(export.blob_key):  # the expiry cron got there first
            raise ExportExpired()
        name = f"hypha-data-{export.requested_at:%Y-%m-%d}-{str(export.id)[:8]}.zip"
        return Download(export, self.storage.stream(export.blob_key), name)

    # -- the job and the cron -----------------------------------------------------------------------

    async def build(self, export_id: UUID) -> Export | None:
        """Write the ZIP, store it, mark the export READY and tell the person (a mail with the link).
        Idempotent: an export that is no longer PENDING is left as it is. Any error marks it FAILED
        (the person can ask again) and is logged without personal data."""
        export = await self.exports.get(export_id)
        if export is None or export.status is not ExportStatus.PENDING:
            return export
        user = await self.accounts.get_user(export.user_id)
        if user is None or user.erased:
            failed = export.failed("the account no longer exists", self.clock.now())
            await self.exports.save(failed)
            return failed
        key = export_key(export.id)
        try:
            with tempfile.TemporaryDirectory(prefix=EXPORT_WORK_PREFIX, dir=self.policy.work_dir) as tmp:
                path = Path(tmp) / "export.zip"
                await self.write_archive(user, path)
                size = await self.storage.write(key, _file_chunks(path))
        except Exception as error:
            log.exception("export %s failed", export.id)
            await self.storage.delete(key)
            failed = export.failed(f"the export could not be built ({type(error).__name__})", self.clock.now())
            await self.exports.save(failed)
            return failed
        now = self.clock.now()
        ready = export.ready(key, size, now, self.policy.export_ttl)
        assert ready.expires_at is not None
        async with self.uow.atomic():
            current = await self.exports.get(export.id)
            if current is None or current.status is not ExportStatus.PENDING:  # erased meanwhile
                await self.storage.delete(key)
                return current
            await self.exports.save(ready)
            expires = ready.expires_at.strftime("%d %B %Y, %H:%M UTC")
            await self.bus.publish(topic_for(user.id), EXPORT_EVENT, {"export_id": str(export.id), "expires": expires})
        return ready

    async def resume_pending(self, limit: int = 200) -> int:
        """Repair what a killed process left behind (the cron job): queue again the job of each export
        still PENDING `export_stall` after its last change — its job may never have been queued, or
        have run out of retries with its worker killed; a job still queued or running keeps its key, so
        nothing is doubled — and mark FAILED those asked for more than `export_give_up` ago (the person
        may ask again). Returns how many exports were touched."""
        now = self.clock.now()
        touched = 0
        for export in await self.exports.pending_since(now - self.policy.export_stall, limit):
            if now - export.requested_at > self.policy.export_give_up:
                log.warning("export %s given up: still not built after %s", export.id, self.policy.export_give_up)
                async with self.uow.atomic():
                    current = await self.exports.get(export.id)
                    if current is not None and current.status is ExportStatus.PENDING:
                        await self.exports.save(current.failed("the export was interrupted; ask again", now))
            else:
                await self._enqueue(export)
            touched += 1
        return touched

    async def sweep_work_folders(self) -> int:
        """Remove the work folders (`hypha-export-*` under `work_dir`) that builds killed mid-ZIP left
        behind: those in which nothing changed for `work_left_after`. Returns how many were removed."""
        work = self.policy.work_dir
        if work is None:
            return 0
        cutoff = time.time() - self.policy.work_left_after.total_seconds()
        return await asyncio.to_thread(_remove_left_folders, work, EXPORT_WORK_PREFIX, cutoff)

    async def expire_due(self, limit: int = 200) -> int:
        """Delete the files of exports past their expiry and mark them EXPIRED; returns how many."""
        now = self.clock.now()
        done = 0
        for export in await self.exports.expiring(now, limit):
            if export.blob_key:
                await self.storage.delete(export.blob_key)
            await self.exports.save(export.expire(now))
            done += 1
        return done

    # -- what goes into the ZIP ---------------------------------------------------------------------

    async def write_archive(self, user: User, path: Path) -> dict[str, int]:
        """Write the person's ZIP to `path`; returns each entry's number of rows."""
        zip_file = ArchiveWriter(path)
        try:
            await self._write(zip_file, user)
        finally:
            zip_file.close()
        return zip_file.entries

    async def _write(self, out: ArchiveWriter, user: User) -> None:
        uid = user.id
        out.text("README.txt", README.format(created=self.clock.now().strftime("%d %B %Y, %H:%M UTC")))
        out.document(
            "profile.json",
            {
                "id": uid,
                "email": user.email,
                "display_name": user.display_name,
                "is_creator": user.is_creator,
                "is_staff": user.is_staff,
                "created_at": user.created_at,
            },
        )
        sessions = await self.accounts.sessions_of(uid)
        await out.json_rows(
            "sessions.json", ({"created_at": s.created_at, "expires_at": s.expires_at} for s in sessions)
        )
        # Money: JSON with every detail, CSV for spreadsheets.
        purchases = [
            {
                "payment_ref": p.payment_ref,
                "pack": p.pack_id,
                "points": p.points,
                "amount_minor": p.amount_minor,
                "currency": p.currency,
                "status": p.status,
                "created_at": p.created_at,
                "updated_at": p.updated_at,
            }
            for p in await self.wallet.purchases_of(uid)
        ]
        await out.json_rows("money/point_purchases.json", purchases)
        await out.csv_rows(
            "money/point_purchases.csv", list(purchases[0]) if purchases else PURCHASE_COLUMNS, purchases
        )
        await out.json_rows("money/wallet_statement.json", self._statement(AccountRef.wallet(uid)))
        await out.csv_rows("money/wallet_statement.csv", STATEMENT_COLUMNS, self._statement(AccountRef.wallet(uid)))

        bought = await self.unlocks.purchases_of(uid)
        entitlements = await self.unlocks.entitlements_of(uid)
        sent = await self.tips.sent_by(uid)
        titles = await self._titles(
            {u.video_id for u in bought} | {e.video_id for e in entitlements} | {t.video_id for t in sent}
        )
        unlock_rows = [
            {
                "id": u.id,
                "created_at": u.created_at,
                "video_id": u.video_id,
                "video_title": titles.get(u.video_id, ""),
                "offer": u.offer,
                "points": u.points,
                "fee": u.fee,
                "transfer_id": u.transfer_id,
            }
            for u in bought
        ]
        await out.json_rows("money/video_purchases.json", unlock_rows)
        await out.csv_rows("money/video_purchases.csv", UNLOCK_COLUMNS, unlock_rows)
        await out.json_rows(
            "entitlements.json",
            (
                {
                    "video_id": e.video_id,
                    "video_title": titles.get(e.video_id, ""),
                    "offer": e.offer,
                    "granted_at": e.granted_at,
                    "expires_at": e.expires_at,  # of a rental not played yet: the deadline to start it
                    "started_at": e.started_at,  # a first-play rental's first play
                    "waits_for_first_play": e.waiting is not None,
                }
                for e in entitlements
            ),
        )
        tip_rows = [
            {
                "id": t.id,
                "created_at": t.created_at,
                "video_id": t.video_id,
                "video_title": titles.get(t.video_id, ""),
                "creator_id": t.creator_id,
                "amount": t.amount,
                "message": t.message,
            }
            for t in sent
        ]
        await out.json_rows("money/tips_sent.json", tip_rows)
        await out.csv_rows("money/tips_sent.csv", TIP_COLUMNS, tip_rows)
        received = [
            {"id": t.id, "created_at": t.created_at, "video_id": t.video_id, "amount": t.amount, "message": t.message}
            for t in await self.tips.received_by(uid)
        ]
        await out.json_rows("money/tips_received.json", received)
        await out.csv_rows("money/tips_received.csv", ("id", "created_at", "video_id", "amount", "message"), received)

        await self._write_offers(out, uid)

        await out.json_rows("favourites.json", self._favourites(uid))
        picks = await self.preferences.get_picks(uid, limit=100)
        await out.json_rows(
            "picks.json",
            ({"public_id": c.public_id, "title": c.video.title, "creator": c.creator_name} for c in picks.items),
        )
        await out.json_rows("viewing_heartbeats.json", self._heartbeats(uid))

        if user.is_creator or await self.studio.list_for_owner(uid, limit=1):
            await out.json_rows("creator/videos.json", self._videos(uid))
            await out.json_rows("creator/earnings_statement.json", self._statement(AccountRef.earnings(uid)))
            await out.csv_rows(
                "creator/earnings_statement.csv", STATEMENT_COLUMNS, self._statement(AccountRef.earnings(uid))
            )
            payouts = [
                {
                    "id": p.id,
                    "requested_at": p.requested_at,
                    "points": p.points,
                    "amount_minor": p.amount_minor,
                    "currency": p.currency,
                    "state": p.state,
                    "trigger": p.trigger,
                    "paid_at": p.paid_at,
                    "failure_reason": p.failure_reason,
                }
                for p in await self.payouts.statement(uid)
            ]
            await out.json_rows("creator/payouts.json", payouts)
            await out.csv_rows("creator/payouts.csv", PAYOUT_COLUMNS, payouts)

    async def _write_offers(self, out: ArchiveWriter, uid: UUID) -> None:
        """Memberships with their charges, bundles bought, promo codes used, gifts sent and received."""
        memberships = await self.memberships.charges_of_viewer(uid)
        tiers = {m.tier_id: await self.memberships.tier(m.tier_id) for m, _ in memberships}
        creators = await self.accounts.users_by_id([m.creator_id for m, _ in memberships])
        await out.json_rows(
            "money/memberships.json",
            (
                {
                    "id": m.id,
                    "creator_id": m.creator_id,
                    "creator": creators[m.creator_id].display_name if m.creator_id in creators else "",
                    "tier_id": m.tier_id,
                    "tier": tier.name if (tier := tiers.get(m.tier_id)) else "",
                    "monthly_price": m.price,
                    "state": m.state,
                    "joined_at": m.joined_at,
                    "period_start": m.period_start,
                    "period_end": m.period_end,
                    "grace_until": m.grace_until,
                    "ended_at": m.ended_at,
                    "charges": [
                        {
                            "id": c.id,
                            "created_at": c.created_at,
                            "kind": c.kind,
                            "period_start": c.period_start,
                            "points": c.points,
                            "fee": c.fee,
                            "transfer_id": c.transfer_id,
                        }
                        for c in charges
                    ],
                }
                for m, charges in memberships
            ),
        )
        charge_rows = [
            {
                "id": c.id,
                "created_at": c.created_at,
                "membership_id": m.id,
                "tier": tier.name if (tier := tiers.get(c.tier_id) or tiers.get(m.tier_id)) else "",
                "kind": c.kind,
                "period_start": c.period_start,
                "points": c.points,
                "fee": c.fee,
                "transfer_id": c.transfer_id,
            }
            for m, charges in memberships
            for c in charges
        ]
        await out.csv_rows("money/membership_charges.csv", MEMBERSHIP_CHARGE_COLUMNS, charge_rows)

        bundles = await self.offers.purchases_of_viewer(uid)
        redemptions = await self.offers.redemptions_of_viewer(uid)
        titles = await self.offers.bundle_titles({p.bundle_id for p in bundles})
        codes = await self.offers.code_names(
            {p.code_id for p in bundles if p.code_id} | {r.code_id for r in redemptions}
        )
        bundle_rows = [
            {
                "id": p.id,
                "created_at": p.created_at,
                "bundle_id": p.bundle_id,
                "bundle_title": titles.get(p.bundle_id, ""),
                "creator_id": p.creator_id,
                "list_price": p.list_price,
                "discount": p.discount,
                "points": p.points,
                "fee": p.fee,
                "code": codes.get(p.code_id, "") if p.code_id else "",
                "transfer_id": p.transfer_id,
            }
            for p in bundles
        ]
        await out.json_rows("money/bundle_purchases.json", bundle_rows)
        await out.csv_rows("money/bundle_purchases.csv", BUNDLE_COLUMNS, bundle_rows)
        code_rows = [
            {
                "id": r.id,
                "created_at": r.created_at,
                "code": codes.get(r.code_id, ""),
                "for": r.target_kind,
                "target_id": r.target_id,
                "creator_id": r.creator_id,
                "list_price": r.list_price,
                "discount": r.discount,
                "points": r.points,
                "transfer_id": r.transfer_id,
            }
            for r in redemptions
        ]
        await out.json_rows("money/code_redemptions.json", code_rows)
        await out.csv_rows("money/code_redemptions.csv", CODE_COLUMNS, code_rows)

        await out.json_rows(
            "money/gifts_sent.json",
            (
                {
                    "id": g.id,
                    "created_at": g.created_at,
                    "to": g.recipient_email,
                    "amount": g.amount,
                    "message": g.message,
                    "state": g.state,
                    "returns_at": g.expires_at,
                    "settled_at": g.settled_at,
                }
                for g in await self.gifts.sent_by(uid, limit=100_000)
            ),
        )
        await out.json_rows(
            "money/gifts_received.json",
            (
                {
                    "id": g.id,
                    "sent_at": g.created_at,
                    "received_at": g.settled_at,
                    "amount": g.amount,
                    "message": g.message,
                }
                for g in await self.gifts.received_by(uid)
            ),
        )

    async def _statement(self, account: AccountRef) -> AsyncIterator[dict[str, Any]]:
        before: str | None = None
        while True:
            page = await self.ledger.statement(account, before=before, limit=200)
            for entry in page.entries:
                yield statement_row(entry)
            if page.next_before is None:
                return
            before = page.next_before

    async def _heartbeats(self, viewer_id: UUID) -> AsyncIterator[dict[str, Any]]:
        after = 0
        while True:
            beats = await self.playback.heartbeats_of(viewer_id, after, PAGE)
            for beat in beats:
                yield {
                    "at": beat.at,
                    "video_id": beat.video_id,
                    "position_seconds": beat.position,
                    "preview": beat.preview,
                    "player_session": beat.session_id,
                }
            if len(beats) < PAGE:
                return
            after = beats[-1].id

    async def _favourites(self, viewer_id: UUID) -> AsyncIterator[dict[str, Any]]:
        cursor: Cursor | None = None
        while True:
            page = await self.preferences.get_favourites(viewer_id, cursor, limit=100)
            for entry in page.items:
                yield {
                    "added_at": entry.favourite.created_at,
                    "video_id": entry.favourite.video_id,
                    "public_id": entry.card.public_id,
                    "title": entry.card.video.title,
                    "creator": entry.card.creator_name,
                }
            if page.next is None:
                return
            cursor = page.next

    async def _videos(self, owner_id: UUID) -> AsyncIterator[dict[str, Any]]:
        offset = 0
        while True:
            videos = await self.studio.list_for_owner(owner_id, limit=100, offset=offset)
            for video in videos:
                pricing = await self.pricing.pricing_for(video.id)
                yield {
                    "id": video.id,
                    "public_id": video.public_id,
                    "title": video.title,
                    "description": video.description,
                    "state": video.state,
                    "duration_seconds": video.duration,
                    "created_at": video.created_at,
                    "updated_at": video.updated_at,
                    "prices": {
                        "free": pricing.free,
                        **{offer.value: points for offer, points in pricing.prices.items()},
                        "preview_seconds": pricing.preview_seconds,
                    },
                }
            if len(videos) < 100:
                return
            offset += len(videos)

    async def _titles(self, video_ids: set[UUID]) -> Mapping[UUID, str]:
        summaries = await self.studio.summaries_by_id(video_ids)
        return {video_id: summary.title for video_id, summary in summaries.items()}


PURCHASE_COLUMNS = ("payment_ref", "pack", "points", "amount_minor", "currency", "status", "created_at", "updated_at")
UNLOCK_COLUMNS = ("id", "created_at", "video_id", "video_title", "offer", "points", "fee", "transfer_id")
MEMBERSHIP_CHARGE_COLUMNS = (
    "id",
    "created_at",
    "membership_id",
    "tier",
    "kind",
    "period_start",
    "points",
    "fee",
    "transfer_id",
)
BUNDLE_COLUMNS = (
    "id",
    "created_at",
    "bundle_id",
    "bundle_title",
    "creator_id",
    "list_price",
    "discount",
    "points",
    "fee",
    "code",
    "transfer_id",
)
CODE_COLUMNS = (
    "id",
    "created_at",
    "code",
    "for",
    "target_id",
    "creator_id",
    "list_price",
    "discount",
    "points",
    "transfer_id",
)
TIP_COLUMNS = ("id", "created_at", "video_id", "video_title", "creator_id", "amount", "message")
PAYOUT_COLUMNS = (
    "id",
    "requested_at",
    "points",
    "amount_minor",
    "currency",
    "state",
    "trigger",
    "paid_at",
    "failure_reason",
)

README = """Your data at Hypha, as of {created}
=====================================================

profile.json                  your account: e-mail, display name, roles, when you joined
sessions.json                 the log-ins that are open (when they started and end)
money/point_purchases.*       the point packs you bought (amounts in minor units: cents)
money/wallet_statement.*      every movement of your points, newest first, with the balance after it
money/video_purchases.*       the videos you rented or bought, and what you paid
entitlements.json             what you may watch, and until when
money/tips_sent.*             tips you gave; money/tips_received.* tips you were given
money/memberships.json        the creators' tiers you joined, their periods, and every charge of each
money/membership_charges.csv  those charges, one a line
money/bundle_purchases.*      the bundles you bought (list price, discount, code, what you paid)
money/code_redemptions.*      the promo codes you used, and on what
money/gifts_sent.json         the points you gave by e-mail, and whether they were received or returned
money/gifts_received.json     the points given to you
favourites.json, picks.json   the videos you keep, and what Hypha suggests to you
viewing_heartbeats.json       where your player was, every ~10 seconds, while you watched
creator/                      (creators) your videos with their prices, your earnings statement and payouts

Points are whole numbers. Times are UTC (ISO 8601). CSV files are UTF-8 with a header line.
"""


async def _file_chunks(path: Path, size: int = 1024 * 1024) -> AsyncIterator[bytes]:
    handle = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(handle.read, size):
            yield chunk
    finally:
        handle.close()


class ErasureService:
    """GDPR art. 17: delete an account. The rules are in `features.privacy.model`."""

    def __init__(
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
    ) -> None:
        self.memberships = memberships
        self.gifts = gifts
        self.limiter = limiter
        self.erasures = erasures
        self.exports = exports
        self.scrubber = scrubber
        self.accounts = accounts
        self.unlocks = unlocks
        self.tips = tips
        self.payouts = payouts
        self.studio = studio
        self.ledger = ledger
        self.notifications = notifications
        self.storage = storage
        self.uow = uow
        self.clock = clock
        self.policy = policy

    async def plan(self, user_id: UUID) -> DeletionPlan:
        """What deleting the account would do now (for the confirmation page)."""
        user = await self.accounts.get_user(user_id)
        is_creator = bool(user and user.is_creator)
        balances = await self.ledger.balances([AccountRef.wallet(user_id), AccountRef.earnings(user_id)])
        rentals = await self.unlocks.running_rentals_of_creator(user_id)
        videos = await self.studio.list_for_owner(user_id, limit=200)
        members, member_points, member_share = await self.memberships.closure_preview(user_id)
        return DeletionPlan(
            is_creator=is_creator,
            is_staff=bool(user and user.is_staff),
            wallet_points=balances[AccountRef.wallet(user_id)],
            earnings_points=balances[AccountRef.earnings(user_id)],
            running_rentals=len(rentals),
            refund_points=sum(u.points for u in rentals),
            refund_share=sum(u.points - u.fee for u in rentals),
            pending_payouts=len(await self.payouts.pending(user_id)),
            videos=len(videos),
            grace_days=self.policy.content_grace.days,
            running_memberships=members,
            membership_refund_points=member_points,
            membership_refund_share=member_share,
        )

    async def delete_account(self, user_id: UUID, password: str, confirmed: bool) -> Erasure:
        """Delete the account after checking the password, all in one transaction (see the rules in
        `features.privacy.model`). Raises TooManyAttempts (more than `password_attempts` tries in the
        window), WrongPassword, NotConfirmed, StaffAccount or PayoutPending, and then nothing changes.
        Returns what the erasure did."""
        attempts = await self.limiter.hit(
            f"privacy:delete:{user_id}", self.policy.password_attempts, self.policy.password_window_seconds
        )
        if not attempts.allowed:
            raise TooManyAttempts(retry_after=attempts.retry_after)
        if not await self.accounts.verify_password(user_id, password):
            raise WrongPassword()
        if not confirmed:
            raise NotConfirmed()
        user = await self.accounts.get_user(user_id)
        if user is None or user.erased:
            raise WrongPassword()
        if user.is_staff:
            raise StaffAccount()
        now = self.clock.now()
        async with self.uow.atomic():
            await self.memberships.close_to_new_members(user_id)  # joins being charged commit first
            await self.payouts.close_for_erasure(user_id)  # refuses while a payout is on its way
            # Off the catalog first: each video's row lock waits for a purchase that read it (unlocks hold
            # it until they commit), so that sale is among the rentals refunded next, not missed.
            unpublished = await self.studio.unpublish_all_of(user_id)
            refunds = await self.unlocks.refund_running_rentals(user_id)
            member_refunds = await self.memberships.refund_for_closed_creator(user_id)
            await self.memberships.end_for_closed_member(user_id)
            await self.gifts.forget_recipient(user.email)
            await self.gifts.forget_sender(user_id)
            settled = await self._settle_earnings(user_id, "")
            forfeited = await self._forfeit_wallet(user_id)
            sent = await self.tips.sent_by(user_id)
            tipped = {tip.creator_id for tip in sent}
            await self.tips.erase_messages_of(user_id)
            said = {tip.message: REMOVED_MESSAGE for tip in sent if len(tip.message) >= MIN_REDACTED}
            said[user.display_name] = FORMER_MEMBER
            await self.notifications.forget_person(user_id, user.email, said, tipped)
            await self.scrubber.scrub_tipper(user_id, user.display_name, tipped, FORMER_MEMBER)
            old_exports = await self.exports.delete_for_user(user_id)
            has_content = user.is_creator or unpublished > 0 or bool(await self.studio.list_for_owner(user_id, limit=1))
            erasure = Erasure(
                user_id=user_id,
                was_creator=user.is_creator,
                erased_at=now,
                refunded_rentals=len(refunds),
                refunded_points=sum(sum(leg.amount for leg in t.legs) for t in refunds),
                refunded_memberships=len(member_refunds),
                refunded_membership_points=sum(sum(leg.amount for leg in t.legs) for t in member_refunds),
                forfeited_wallet_points=forfeited,
                settled_earnings_points=settled,
                purge_after=now + self.policy.content_grace if has_content else None,
            )
            await self.erasures.add(erasure)
            await self.accounts.erase_account(user_id)
        for export in old_exports:
            if export.blob_key:
                await self.storage.delete(export.blob_key)
        log.info("account %s erased (%s rentals, %s memberships refunded)", user_id, len(refunds), len(member_refunds))
        return erasure

    async def purge_due(self, limit: int = 50) -> int:
        """Remove the content of erased creators whose grace period has passed; returns how many
        accounts were purged. Earnings that arrived after the erasure (a sale that was committing at
        that moment) are settled to the platform too."""
        done = 0
        for erasure in await self.erasures.due(self.clock.now(), limit):
            await self.studio.remove_content_of(erasure.user_id)
            async with self.uow.atomic():
                await self._settle_earnings(erasure.user_id, ":purge")
                await self.erasures.mark_purged(erasure.user_id, self.clock.now())
            done += 1
        return done

    async def erasure_of(self, user_id: UUID) -> Erasure | None:
        return await self.erasures.get(user_id)

    async def _settle_earnings(self, user_id: UUID, suffix: str) -> int:
        """Bring the earnings account to zero against the platform's revenue: a positive balance is
        forfeited to the platform, a negative one (refunds above what was left) is borne by it. The
        ledger holds the account's lock from the refunds (or this transfer) until the caller commits."""
        earnings = AccountRef.earnings(user_id)
        balance = await self.ledger.balance(earnings)
        if balance == 0:
            return 0
        if balance > 0:
            leg = Leg(earnings, AccountRef.platform_revenue(), balance)
        else:
            leg = Leg(AccountRef.platform_revenue(), earnings, -balance)
        metadata = {"memo": "Account closed: earnings settled with the platform"}
        await self.ledger.transfer(f"account-closed:earnings:{user_id}{suffix}", "account_closure", [leg], metadata)
        return balance

    async def _forfeit_wallet(self, user_id: UUID) -> int:
        """Move the wallet's unspent points to the platform. A spend from another tab that commits between
        the read and the transfer makes the transfer larger than what is left; the ledger refuses it
        having locked the wallet (in the caller's transaction until it commits), so the balance read
        again is the last word and the second transfer cannot be refused so."""
        wallet = AccountRef.wallet(user_id)
        try:
            return await self._forfeit(wallet, await self.ledger.balance(wallet))
        except InsufficientPoints:
            return await self._forfeit(wallet, await self.ledger.balance(wallet))

    async def _forfeit(self, wallet: AccountRef, balance: int) -> int:
        if balance <= 0:
            return 0
        metadata = {"memo": "Account closed: unspent points forfeited"}
        leg = Leg(wallet, AccountRef.platform_revenue(), balance)
        await self.ledger.transfer(f"account-closed:wallet:{wallet.owner_id}", "account_closure", [leg], metadata)
        return balance
