"""Moderation: what people report, what staff decide, and the append-only record of every decision."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from core.errors import Forbidden, InvalidInput, NotFound, TooManyRequests

MAX_DETAILS = 2000
MAX_STAFF_REASON = 500


class SubjectKind(StrEnum):
    VIDEO = "video"
    CREATOR = "creator"


# The reasons a person may pick when reporting, in the order the form lists them.
REASONS: dict[str, str] = {
    "spam": "Spam or misleading",
    "sexual": "Sexual or explicit content",
    "violence": "Violence or dangerous acts",
    "hate": "Hate speech or harassment",
    "copyright": "Copyright infringement",
    "scam": "Scam or fraud",
    "other": "Something else",
}


class Action(StrEnum):
    DISMISS = "dismiss"
    TAKE_DOWN = "take_down"
    RESTORE = "restore"
    SUSPEND = "suspend"
    UNSUSPEND = "unsuspend"
    STAFF_ADD = "staff_add"
    STAFF_REMOVE = "staff_remove"

    @property
    def label(self) -> str:
        return _ACTION_LABELS[self]


_ACTION_LABELS = {
    Action.DISMISS: "Dismissed the reports",
    Action.TAKE_DOWN: "Took the video down",
    Action.RESTORE: "Restored the video",
    Action.SUSPEND: "Suspended the account",
    Action.UNSUSPEND: "Lifted the suspension",
    Action.STAFF_ADD: "Made staff",
    Action.STAFF_REMOVE: "Removed from staff",
}


class InvalidReport(InvalidInput):
    """A report form that does not validate; `errors` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


class ReportsThrottled(TooManyRequests):
    message = "You have sent many reports today. Please try again tomorrow."


class NothingToReport(NotFound):
    message = "We could not find what you want to report."


class SubjectNotFound(NotFound):
    message = "We could not find that video or account."


class InvalidDecision(InvalidInput):
    message = "Give a reason (at most 500 characters)."


class NotOnYourself(Forbidden):
    message = "Staff cannot suspend their own account."


def check_report(reason: str, details: str) -> dict[str, str]:
    """The errors of a report form, per field (empty: valid)."""
    errors: dict[str, str] = {}
    if reason not in REASONS:
        errors["reason"] = "Choose a reason from the list."
    if len(details) > MAX_DETAILS:
        errors["details"] = f"Use at most {MAX_DETAILS} characters."
    if reason == "other" and not details.strip():
        errors["details"] = "Tell us what is wrong."
    return errors


def check_staff_reason(reason: str, *, required: bool) -> str:
    reason = " ".join(reason.split())
    if len(reason) > MAX_STAFF_REASON or (required and not reason):
        raise InvalidDecision()
    return reason


@dataclass(frozen=True)
class Report:
    id: UUID
    reporter_id: UUID
    subject_kind: SubjectKind
    subject_id: UUID
    reason: str
    details: str
    created_at: datetime
    open: bool = True
    closed_at: datetime | None = None

    @property
    def reason_label(self) -> str:
        return REASONS.get(self.reason, self.reason)


@dataclass(frozen=True)
class QueueRow:
    """One reported item with open reports: how many, since when, and for which reasons."""

    subject_kind: SubjectKind
    subject_id: UUID
    open_reports: int
    first_at: datetime
    last_at: datetime
    reasons: tuple[str, ...]

    @property
    def reason_labels(self) -> list[str]:
        return [REASONS.get(r, r) for r in self.reasons]


@dataclass(frozen=True)
class AuditEntry:
    """One staff action, as the audit log keeps it forever. `staff_id` is None for the command line."""

    staff_id: UUID | None
    staff_email: str
    action: Action
    subject_kind: str
    subject_id: UUID
    subject_label: str
    reason: str
    created_at: datetime
    details: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
