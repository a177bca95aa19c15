"""Privacy: what an export and an erasure are, the rules they follow, and the errors they raise.

The rules (stated on the pages and in docs/privacy.md):

- An export is a ZIP of everything Hypha holds about the person, built in a background job. The link
  is mailed to them and works for their own logged-in session only, until it expires
  (PRIVACY_EXPORT_TTL_HOURS); then the file is deleted and the link says it expired.
- Deleting an account needs the current password. It is refused while a payout is on its way, and for
  staff accounts. Otherwise, at once and in one transaction: every rental of the creator's videos that
  is still running is refunded in full to the viewer's wallet, and every running membership of the
  creator's ends with the unused part of its paid period refunded pro rata (bundles, bought for
  lifetime like a lifetime purchase, are not refunded); the creator's earnings are settled to
  zero against the platform (what is left is forfeited: request a payout first; a shortfall after the
  refunds is borne by the platform); a viewer's unspent points are forfeited (points are not cash);
  the person's own memberships end (nothing refunded); gifts still pending for their address go back
  to their senders and the address is erased from every gift; their own gifts' messages are erased
  (their pending gifts stay claimable, then are forfeited to the platform);
  published videos are unpublished; every session ends; the e-mail, display name, tip messages and the
  mail kept for the person are erased. Ledger entries stay: they point to the account's id, which no
  longer leads to a person. The videos' content is removed from storage after the grace period
  (PRIVACY_CONTENT_GRACE_DAYS).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from core.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound, TooManyRequests
from features.payouts.model import PayoutPending


class ExportStatus(StrEnum):
    PENDING = "PENDING"
    READY = "READY"
    FAILED = "FAILED"
    EXPIRED = "EXPIRED"


class ExportNotFound(NotFound):
    message = "There is no such export."


class ExportExpired(Gone):
    message = "This download link has expired and the file was deleted. Ask for a new export."


class ExportNotReady(Conflict):
    message = "This export is still being prepared. You will get an e-mail when it is ready."


class WrongPassword(InvalidInput):
    message = "That is not your current password. Nothing was deleted."


class TooManyAttempts(TooManyRequests):
    message = "Too many wrong passwords. Please wait a few minutes and try again. Nothing was deleted."


class NotConfirmed(InvalidInput):
    message = "Tick the box to confirm that you understand what deletion does."


class StaffAccount(Forbidden):
    message = "Staff accounts cannot delete themselves: another administrator closes them."


@dataclass(frozen=True)
class Export:
    id: UUID
    user_id: UUID
    status: ExportStatus
    requested_at: datetime
    updated_at: datetime
    blob_key: str | None = None
    size_bytes: int | None = None
    ready_at: datetime | None = None
    expires_at: datetime | None = None
    failure: str = ""

    def expired(self, now: datetime) -> bool:
        return self.status is ExportStatus.EXPIRED or (
            self.status is ExportStatus.READY and self.expires_at is not None and self.expires_at <= now
        )

    def downloadable(self, now: datetime) -> bool:
        return self.status is ExportStatus.READY and not self.expired(now)

    def ready(self, blob_key: str, size: int, now: datetime, ttl: timedelta) -> Export:
        return replace(
            self,
            status=ExportStatus.READY,
            blob_key=blob_key,
            size_bytes=size,
            ready_at=now,
            expires_at=now + ttl,
            updated_at=now,
        )

    def failed(self, reason: str, now: datetime) -> Export:
        return replace(self, status=ExportStatus.FAILED, failure=reason[:500], updated_at=now)

    def expire(self, now: datetime) -> Export:
        return replace(self, status=ExportStatus.EXPIRED, blob_key=None, updated_at=now)


@dataclass(frozen=True)
class Erasure:
    """What deleting one account did; `purge_after` is set for creators (content removal)."""

    user_id: UUID
    was_creator: bool
    erased_at: datetime
    refunded_rentals: int = 0
    refunded_points: int = 0  # of the rentals
    refunded_memberships: int = 0
    refunded_membership_points: int = 0  # the unused part of running membership periods
    forfeited_wallet_points: int = 0
    settled_earnings_points: int = 0  # > 0: forfeited to the platform; < 0: a shortfall the platform bore
    purge_after: datetime | None = None
    purged_at: datetime | None = None


@dataclass(frozen=True)
class DeletionPlan:
    """What deleting the account would do right now, for the confirmation page."""

    is_creator: bool
    is_staff: bool
    wallet_points: int
    earnings_points: int
    running_rentals: int
    refund_points: int
    refund_share: int  # the part of the refunds taken back from the creator's earnings (the rest: fees)
    pending_payouts: int
    videos: int
    grace_days: int
    running_memberships: int = 0  # memberships with unused paid days, refunded pro rata
    membership_refund_points: int = 0
    membership_refund_share: int = 0  # the part of those refunds taken back from the earnings

    @property
    def blocked_reason(self) -> str:
        """Why the account cannot be deleted right now ("" when it can)."""
        if self.is_staff:
            return StaffAccount.message
        if self.pending_payouts:
            return PayoutPending.message
        return ""

    @property
    def earnings_forfeited(self) -> int:
        """Earnings left once the refunds took the creator's share back: they go to the platform."""
        return max(0, self.earnings_points - self.refund_share - self.membership_refund_share)
