"""Moderation use cases: people report videos and creators; staff work the queue (dismiss, take a video
down, suspend an account, and reverse each), and every staff action lands in the append-only audit log.

Other features are reached only through their services: StudioService (take_down / restore / hide_owner),
AccountService (suspend / unsuspend / set_staff), UnlockService (refund_purchases). Mail goes out through
notifications: a "moderation" event on the person's topic (see features/notifications/service.py).

A reversal (restore, unsuspend) does not claw back the refunds a take-down gave: the buyers keep them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from core.clock import Clock
from core.events import EventBus
from core.identity import Principal
from core.ids import uuid7
from core.ratelimit import RateLimiter
from core.uow import UnitOfWork
from features.accounts.model import User
from features.accounts.service import AccountService
from features.moderation.model import (
    Action,
    AuditEntry,
    InvalidReport,
    NothingToReport,
    NotOnYourself,
    QueueRow,
    Report,
    ReportsThrottled,
    SubjectKind,
    SubjectNotFound,
    check_report,
    check_staff_reason,
)
from features.moderation.ports import AuditLog, ReportRepository
from features.offers.service import OffersService
from features.studio.model import Video, VideoState
from features.studio.service import StudioService
from features.unlocks.service import UnlockService

MODERATION_EVENT = "moderation"
CLI_STAFF = "command line"


@dataclass(frozen=True)
class ModerationPolicy:
    reports_per_day: int = 20
    refund_window: timedelta = timedelta(days=30)


@dataclass(frozen=True)
class Subject:
    """A reported item as staff see it: what it is, where it lives, and its moderation state."""

    kind: SubjectKind
    id: UUID
    label: str
    link: str
    owner_id: UUID | None
    owner_label: str
    taken_down: bool = False
    suspended: bool = False
    exists: bool = True


@dataclass(frozen=True)
class QueueItem:
    row: QueueRow
    subject: Subject


@dataclass(frozen=True)
class Case:
    subject: Subject
    reports: list[Report]
    history: list[AuditEntry]

    @property
    def open_reports(self) -> int:
        return sum(1 for r in self.reports if r.open)


@dataclass(frozen=True)
class TakeDownOutcome:
    video: Video
    refunded: int
    refunded_points: int


def _topic(user_id: UUID) -> str:
    return f"user:{user_id}"


class ModerationService:
    def __init__(
        self,
        reports: ReportRepository,
        audit: AuditLog,
        accounts: AccountService,
        studio: StudioService,
        unlocks: UnlockService,
        bus: EventBus,
        limiter: RateLimiter,
        uow: UnitOfWork,
        clock: Clock,
        policy: ModerationPolicy,
        offers: OffersService,
    ) -> None:
        self.offers = offers
        self.reports = reports
        self.audit = audit
        self.accounts = accounts
        self.studio = studio
        self.unlocks = unlocks
        self.bus = bus
        self.limiter = limiter
        self.uow = uow
        self.clock = clock
        self.policy = policy

    # -- reporting ---------------------------------------------------------------------------------------

    async def report(self, reporter: Principal, kind: str, target: str, reason: str, details: str) -> Report:
        """File a report on a video (`target`: its public id) or a creator (`target`: their user id).

        Raises NothingToReport (404) for something that does not exist or that the reporter cannot see,
        InvalidReport (422, errors per field), and ReportsThrottled (429) past `reports_per_day` reports
        of this person in the current day window (counted in the shared limiter). Nothing is stored
        when it raises."""
        subject_kind, subject_id = await self._reportable(reporter, kind, target)
        details = details.strip()
        errors = check_report(reason, details)
        if errors:
            raise InvalidReport(errors)
        allowance = await self.limiter.hit(f"reports:user:{reporter.id}", self.policy.reports_per_day, 86400)
        if not allowance.allowed:
            hours = max(1, (allowance.retry_after + 3599) // 3600)
            raise ReportsThrottled(
                f"You have sent {self.policy.reports_per_day} reports today, the most allowed. "
                f"Please try again in {hours} hour{'s' if hours > 1 else ''}.",
                retry_after=allowance.retry_after,
            )
        report = Report(uuid7(), reporter.id, subject_kind, subject_id, reason, details, self.clock.now())
        async with self.uow.atomic():
            await self.reports.add(report)
        return report

    async def reportable(self, reporter: Principal, kind: str, target: str) -> Subject:
        """What the report form is about (for its heading). Raises NothingToReport."""
        subject_kind, subject_id = await self._reportable(reporter, kind, target)
        return await self.subject(subject_kind, subject_id)

    async def _reportable(self, reporter: Principal, kind: str, target: str) -> tuple[SubjectKind, UUID]:
        if kind == SubjectKind.VIDEO.value:
            video = await self.studio.video_by_public_id(target[:64])
            if video is None or video.hidden or video.state is not VideoState.PUBLISHED:
                raise NothingToReport()
            return SubjectKind.VIDEO, video.id
        if kind == SubjectKind.CREATOR.value:
            try:
                user_id = UUID(target)
            except ValueError as error:
                raise NothingToReport() from error
            user = await self.accounts.get_user(user_id)
            if user is None or not user.is_creator or user.suspended:
                raise NothingToReport()
            return SubjectKind.CREATOR, user.id
        raise NothingToReport()

    # -- the staff queue ---------------------------------------------------------------------------------

    async def queue(self, limit: int = 100) -> list[QueueItem]:
        """Items with open reports, the longest-waiting first, with what each is."""
        rows = await self.reports.queue(limit)
        return [QueueItem(row, await self.subject(row.subject_kind, row.subject_id)) for row in rows]

    async def case(self, kind: str, subject_id: UUID) -> Case:
        """An item, every report on it and every staff action on it. Raises SubjectNotFound."""
        subject_kind = _kind(kind)
        subject = await self.subject(subject_kind, subject_id)
        if not subject.exists:
            raise SubjectNotFound()
        reports = await self.reports.for_subject(subject_kind, subject_id)
        history = await self.audit.for_subject(subject_kind.value, subject_id)
        return Case(subject, reports, history)

    async def subject(self, kind: SubjectKind, subject_id: UUID) -> Subject:
        if kind is SubjectKind.VIDEO:
            video = await self.studio.get_video(subject_id)
            if video is None:
                return Subject(kind, subject_id, "(a deleted video)", "", None, "", exists=False)
            owner = await self.accounts.get_user(video.owner_id)
            return Subject(
                kind,
                video.id,
                video.title,
                f"/v/{video.public_id}",
                video.owner_id,
                owner.display_name if owner else "",
                taken_down=video.taken_down_reason is not None,
                suspended=bool(owner and owner.suspended),
            )
        user = await self.accounts.get_user(subject_id)
        if user is None:
            return Subject(kind, subject_id, "(a deleted account)", "", None, "", exists=False)
        return Subject(kind, user.id, user.display_name, f"/c/{user.id}", user.id, user.email, suspended=user.suspended)

    async def audit_page(self, before_id: int | None = None, limit: int = 50) -> list[AuditEntry]:
        return await self.audit.page(before_id, max(1, min(limit, 200)))

    # -- staff actions -----------------------------------------------------------------------------------

    async def dismiss(self, staff: Principal, kind: str, subject_id: UUID, note: str = "") -> int:
        """Close the item's open reports without acting on it; how many were closed. Audited."""
        subject_kind = _kind(kind)
        note = check_staff_reason(note, required=False)
        subject = await self.subject(subject_kind, subject_id)
        async with self.uow.atomic():
            closed = await self.reports.close_open(subject_kind, subject_id, self.clock.now())
            await self._audit(staff, Action.DISMISS, subject, note, {"reports_closed": closed})
        return closed

    async def take_down(self, staff: Principal, video_id: UUID, reason: str) -> TakeDownOutcome:
        """Hide the video everywhere (see StudioService.take_down), close its reports, mail its creator
        the reason (once: a video already down is not mailed about again), and refund in points every
        purchase of it made within the refund window (each once, ever: a repeated take-down refunds
        nothing twice). Audited with the refund figures. Raises InvalidDecision (no reason) or
        SubjectNotFound."""
        reason = check_staff_reason(reason, required=True)
        video = await self.studio.get_video(video_id)
        if video is None:
            raise SubjectNotFound()
        subject = await self.subject(SubjectKind.VIDEO, video_id)
        # One transaction: the take-down, its refunds, the mail's event and the audit entry all happen
        # or none does (a crash half-way leaves nothing to reconcile; staff simply act again).
        async with self.uow.atomic():
            already_down = video.taken_down_reason is not None
            video = await self.studio.take_down(video_id, reason)
            await self.reports.close_open(SubjectKind.VIDEO, video_id, self.clock.now())
            since = self.clock.now() - self.policy.refund_window
            refunds = await self.unlocks.refund_purchases(video, since, reason)
            bundles, bundle_points = await self.offers.refund_bundle_shares(video, since, reason)
            if not already_down:  # one mail per take-down, not per click
                await self.bus.publish(
                    _topic(video.owner_id),
                    MODERATION_EVENT,
                    {"state": "TAKEN_DOWN", "title": video.title, "reason": reason, "video_id": str(video.id)},
                )
            details = {
                "refunded_purchases": refunds.refunded,
                "refunded_points": refunds.points,
                "refunded_bundle_purchases": bundles,
                "refunded_bundle_points": bundle_points,
                "refund_window_days": self.policy.refund_window.days,
            }
            await self._audit(staff, Action.TAKE_DOWN, subject, reason, details)
        return TakeDownOutcome(video, refunds.refunded + bundles, refunds.points + bundle_points)

    async def restore(self, staff: Principal, video_id: UUID, note: str = "") -> Video:
        """Undo a take-down (refunds are not clawed back). Audited. Raises SubjectNotFound."""
        note = check_staff_reason(note, required=False)
        subject = await self.subject(SubjectKind.VIDEO, video_id)
        if not subject.exists:
            raise SubjectNotFound()
        async with self.uow.atomic():
            video = await self.studio.restore(video_id)
            await self._audit(staff, Action.RESTORE, subject, note, {})
        return video

    async def suspend(self, staff: Principal, user_id: UUID, reason: str) -> User:
        """Suspend the account: its sessions end, log-in is refused with a message, its videos are
        hidden and its payouts held; its reports are closed and the person is mailed the reason.
        Audited. Raises InvalidDecision, SubjectNotFound, NotOnYourself."""
        reason = check_staff_reason(reason, required=True)
        if user_id == staff.id:
            raise NotOnYourself()
        subject = await self.subject(SubjectKind.CREATOR, user_id)
        if not subject.exists:
            raise SubjectNotFound()
        async with self.uow.atomic():
            user = await self.accounts.suspend(user_id, reason)
            hidden = await self.studio.hide_owner(user_id, True)
            await self.reports.close_open(SubjectKind.CREATOR, user_id, self.clock.now())
            await self.bus.publish(_topic(user_id), MODERATION_EVENT, {"state": "SUSPENDED", "reason": reason})
            await self._audit(staff, Action.SUSPEND, subject, reason, {"videos_hidden": hidden})
        return user

    async def unsuspend(self, staff: Principal, user_id: UUID, note: str = "") -> User:
        """Lift a suspension: log-in works again, the videos show again (those taken down stay down),
        payouts resume. Audited. Raises SubjectNotFound."""
        note = check_staff_reason(note, required=False)
        subject = await self.subject(SubjectKind.CREATOR, user_id)
        if not subject.exists:
            raise SubjectNotFound()
        async with self.uow.atomic():
            user = await self.accounts.unsuspend(user_id)
            shown = await self.studio.hide_owner(user_id, False)
            await self._audit(staff, Action.UNSUSPEND, subject, note, {"videos_shown": shown})
        return user

    async def set_staff(self, email: str, is_staff: bool) -> User:
        """`hypha staff add/remove EMAIL`: grant or take away the staff role. Audited (by the command
        line). Raises UnknownAccount."""
        async with self.uow.atomic():
            user = await self.accounts.set_staff(email, is_staff)
            subject = Subject(SubjectKind.CREATOR, user.id, user.display_name, f"/c/{user.id}", user.id, user.email)
            await self._audit(None, Action.STAFF_ADD if is_staff else Action.STAFF_REMOVE, subject, "", {})
        return user

    async def _audit(
        self, staff: Principal | None, action: Action, subject: Subject, reason: str, details: dict[str, Any]
    ) -> AuditEntry:
        entry = AuditEntry(
            staff_id=staff.id if staff else None,
            staff_email=staff.email if staff else CLI_STAFF,
            action=action,
            subject_kind=subject.kind.value,
            subject_id=subject.id,
            subject_label=subject.label if not subject.owner_label else f"{subject.label} ({subject.owner_label})",
            reason=reason,
            created_at=self.clock.now(),
            details=details,
        )
        return await self.audit.append(entry)


def _kind(kind: str) -> SubjectKind:
    try:
        return SubjectKind(kind)
    except ValueError as error:
        raise SubjectNotFound() from error
