"""Notifications: which events become mail, the mail itself, and the record that keeps it to one per event.

Pure rules only — no I/O. The service reads events, asks these rules what to send, and records
the outcome; adapters store and deliver.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from core.eventlog import EventSelection, LogPage
from core.events import Event, LogCursor

USER_TOPIC_PREFIX = "user:"
# One address, as SMTP carries it; no display names, no comments, no line breaks.
ADDRESS_PATTERN = re.compile(r"^[^@\s<>,;:\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z0-9-]{2,63}$")


class EmailDeliveryError(Exception):
    """Raised by an EmailService when a message was not accepted.

    `permanent` means retrying cannot help (the address is invalid or refused with a 5xx reply);
    otherwise the failure is temporary (server down, 4xx reply, timeout) and worth another try.
    """

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


@dataclass(frozen=True)
class EmailMessage:
    """One mail to one recipient, with a plain-text body and an HTML alternative."""

    to: str
    subject: str
    text: str
    html: str


def check_message(message: EmailMessage) -> EmailMessage:
    """Refuse what no adapter may send: a malformed address or a header with a line break.

    Raises EmailDeliveryError(permanent=True); every EmailService adapter applies this first.
    """
    if not ADDRESS_PATTERN.match(message.to):
        raise EmailDeliveryError(f"invalid recipient address {message.to!r}", permanent=True)
    if "\r" in message.subject or "\n" in message.subject:
        raise EmailDeliveryError("a subject may not contain line breaks", permanent=True)
    if not message.subject.strip():
        raise EmailDeliveryError("a message needs a subject", permanent=True)
    return message


@dataclass(frozen=True)
class StoredMail:
    """A message as the outbox keeps it."""

    id: int
    to: str
    subject: str
    text: str
    html: str
    created_at: datetime


@dataclass(frozen=True)
class MailPage:
    mails: Sequence[StoredMail]
    page: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.page > 1


# -- Which events are mail ------------------------------------------------------------------------


class MailKind(StrEnum):
    VIDEO_READY = "video_ready"
    VIDEO_FAILED = "video_failed"
    PURCHASE_RECEIPT = "purchase_receipt"
    TIP_RECEIVED = "tip_received"
    PAYOUT_PAID = "payout_paid"
    VIDEO_TAKEN_DOWN = "video_taken_down"
    ACCOUNT_SUSPENDED = "account_suspended"
    EXPORT_READY = "export_ready"
    MEMBERSHIP = "membership"  # a renewal soon, a lapse, an end (features/memberships)


MAIL_EVENTS = EventSelection(
    names=frozenset({"video", "purchase", "tip", "payout", "export", "moderation", "membership"}),
    states={
        "video": frozenset({"READY", "PUBLISHED", "FAILED"}),  # READY/PUBLISHED: only a failed upgrade
        "payout": frozenset({"PAID"}),
        "moderation": frozenset({"TAKEN_DOWN", "SUSPENDED"}),
        "membership": frozenset({"RENEWS_SOON", "LAPSED", "ENDED"}),
    },
    topic_prefix=USER_TOPIC_PREFIX,
)


class InvalidEvent(Exception):
    """An event this feature wants, but whose data is missing a field or has the wrong type."""


@dataclass(frozen=True)
class Notification:
    """What to tell whom: the mail kind, the recipient's user id and the facts the templates show."""

    event_id: int
    kind: MailKind
    user_id: UUID
    facts: Mapping[str, Any]


def _text(data: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if value is None:
        raise InvalidEvent(f"missing {key!r}")
    if not isinstance(value, str):
        raise InvalidEvent(f"{key!r} must be text")
    return value.strip()[:500]


def _count(data: Mapping[str, Any], key: str) -> int:
    value = data.get(key)
    # bool is an int in Python; a True amount is a bug in the publisher, not a 1.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidEvent(f"{key!r} must be a whole number >= 0")
    return value


def recipient_of(topic: str) -> UUID | None:
    """The user a `user:<uuid>` topic belongs to, or None for any other topic."""
    if not topic.startswith(USER_TOPIC_PREFIX):
        return None
    try:
        return UUID(topic.removeprefix(USER_TOPIC_PREFIX))
    except ValueError:
        return None


def notification_for(event: Event) -> Notification | None:
    """The mail an event calls for, or None when it calls for none.

    Raises InvalidEvent when the event is one this feature mails about but its data is unusable.
    """
    if not MAIL_EVENTS.wants(event.topic, event.name, event.data):
        return None
    user_id = recipient_of(event.topic)
    if user_id is None:
        return None
    data = event.data
    facts: dict[str, Any]
    if event.name == "video":
        facts = {"video_id": _text(data, "video_id"), "title": _text(data, "title", "") or "Untitled video"}
        if data.get("upgrade_failure"):  # a playable video's higher renditions failed: it still plays
            facts["reason"] = (
                f"The higher qualities could not be converted ({_text(data, 'upgrade_failure')}). "
                "The video still plays in the qualities already published; you can retry from the studio."
            )
            return Notification(event.id, MailKind.VIDEO_FAILED, user_id, facts)
        if data.get("state") == "PUBLISHED":
            return None
        if data.get("state") == "READY":
            if data.get("upgrade"):
                return None  # a higher rendition of a video already announced playable: not news again
            facts["public_id"] = _text(data, "public_id", "")
            return Notification(event.id, MailKind.VIDEO_READY, user_id, facts)
        facts["reason"] = _text(data, "reason", "")
        return Notification(event.id, MailKind.VIDEO_FAILED, user_id, facts)
    if event.name == "purchase":
        facts = {
            "points": _count(data, "points"),
            "amount_minor": _count(data, "amount_minor"),
            "currency": _text(data, "currency").upper(),
            "pack": _text(data, "pack", ""),
            "payment_ref": _text(data, "payment_ref", ""),
        }
        return Notification(event.id, MailKind.PURCHASE_RECEIPT, user_id, facts)
    if event.name == "tip":
        facts = {
            "amount": _count(data, "amount"),
            "from_name": _text(data, "from_name", "") or "A viewer",
            "message": _text(data, "message", ""),
            "video_title": _text(data, "video_title", ""),
        }
        return Notification(event.id, MailKind.TIP_RECEIVED, user_id, facts)
    if event.name == "moderation":
        facts = {"reason": _text(data, "reason", "") or "It breaks Hypha's rules."}
        if data.get("state") == "TAKEN_DOWN":
            facts["title"] = _text(data, "title", "") or "Untitled video"
            return Notification(event.id, MailKind.VIDEO_TAKEN_DOWN, user_id, facts)
        return Notification(event.id, MailKind.ACCOUNT_SUSPENDED, user_id, facts)
    if event.name == "membership":
        facts = {
            "state": _text(data, "state"),
            "tier": _text(data, "tier", "") or "your tier",
            "creator": _text(data, "creator", "") or "a creator",
            "creator_id": _text(data, "creator_id", ""),
            "points": _count(data, "points"),
            "renews_on": _text(data, "renews_on", ""),
            "grace_until": _text(data, "grace_until", ""),
        }
        return Notification(event.id, MailKind.MEMBERSHIP, user_id, facts)
    if event.name == "export":
        facts = {"export_id": _text(data, "export_id"), "expires": _text(data, "expires", "")}
        return Notification(event.id, MailKind.EXPORT_READY, user_id, facts)
    facts = {
        "points": _count(data, "points"),
        "amount_minor": _count(data, "amount_minor"),
        "currency": _text(data, "currency").upper(),
        "payout_id": str(data.get("payout_id", "")),
    }
    return Notification(event.id, MailKind.PAYOUT_PAID, user_id, facts)


def format_money(minor: int, currency: str) -> str:
    """Integer minor units as people read them: 1234 USD → $12.34."""
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency.upper(), currency.upper() + " ")
    return f"{symbol}{minor // 100:,}.{minor % 100:02d}"


def format_points(points: int) -> str:
    return f"{points:,} point{'' if points == 1 else 's'}"


def subject_for(notification: Notification) -> str:
    """The subject line: one line, at most 150 characters, whatever the publisher put in a title."""
    subject = " ".join(_subject(notification).split())
    return subject if len(subject) <= 150 else subject[:149] + "…"


def _subject(notification: Notification) -> str:
    facts = notification.facts
    match notification.kind:
        case MailKind.VIDEO_READY:
            return f"Your video is ready: {facts['title']}"
        case MailKind.VIDEO_FAILED:
            return f"Processing failed: {facts['title']}"
        case MailKind.PURCHASE_RECEIPT:
            return f"Your receipt: {format_points(facts['points'])}"
        case MailKind.TIP_RECEIVED:
            return f"You received a tip of {format_points(facts['amount'])}"
        case MailKind.PAYOUT_PAID:
            return f"Your payout was paid: {format_money(facts['amount_minor'], facts['currency'])}"
        case MailKind.VIDEO_TAKEN_DOWN:
            return f"Your video was taken down: {facts['title']}"
        case MailKind.ACCOUNT_SUSPENDED:
            return "Your Hypha account is suspended"
        case MailKind.EXPORT_READY:
            return "Your data export is ready"
        case MailKind.MEMBERSHIP:
            return _MEMBERSHIP_SUBJECTS.get(facts["state"], "Your membership").format(**facts)


_MEMBERSHIP_SUBJECTS = {
    "RENEWS_SOON": "Your membership of {creator} renews on {renews_on}",
    "LAPSED": "Your membership of {creator} could not be renewed",
    "ENDED": "Your membership of {creator} has ended",
}


# -- The delivery record: one per event, so a re-run never sends twice ---------------------------


class DeliveryStatus(StrEnum):
    PENDING = "PENDING"  # only ever seen inside the transaction that sends
    SENT = "SENT"
    FAILED = "FAILED"  # will be retried at `next_attempt_at`
    GAVE_UP = "GAVE_UP"  # never retried; `last_error` says why


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard to try: a temporary failure is retried after each delay in turn, then given up."""

    retry_delays: tuple[timedelta, ...] = (
        timedelta(minutes=1),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
    )
    # Mail about something that happened this long ago is noise; such events are passed over.
    stale_after: timedelta = timedelta(days=2)
    # How long a hole in the event ids may stay open before it is taken for a rolled-back insert.
    gap_timeout: timedelta = timedelta(minutes=2)

    @property
    def max_attempts(self) -> int:
        return len(self.retry_delays) + 1


@dataclass(frozen=True)
class Delivery:
    """What became of the mail for one event."""

    event_id: int
    user_id: UUID | None
    kind: str
    message: EmailMessage | None
    status: DeliveryStatus
    attempts: int = 0
    last_error: str = ""
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None

    def sent(self, now: datetime) -> Delivery:
        return replace(
            self,
            status=DeliveryStatus.SENT,
            attempts=self.attempts + 1,
            last_error="",
            next_attempt_at=None,
            sent_at=now,
        )

    def failed(self, error: EmailDeliveryError, now: datetime, policy: DeliveryPolicy) -> Delivery:
        """After a failed attempt: retry later, or give up when the failure is permanent or attempts ran out."""
        attempts = self.attempts + 1
        if error.permanent:
            return self.gave_up(f"refused: {error.reason}", attempts)
        if attempts >= policy.max_attempts:
            return self.gave_up(f"gave up after {attempts} attempts: {error.reason}", attempts)
        delay = policy.retry_delays[attempts - 1]
        return replace(
            self, status=DeliveryStatus.FAILED, attempts=attempts, last_error=error.reason, next_attempt_at=now + delay
        )

    def gave_up(self, reason: str, attempts: int | None = None) -> Delivery:
        return replace(
            self,
            status=DeliveryStatus.GAVE_UP,
            attempts=self.attempts if attempts is None else attempts,
            last_error=reason[:1000],
            next_attempt_at=None,
        )


# -- The read position in the event log -----------------------------------------------------------


FeedCursor = LogCursor  # events past a hole are mailed at once anyway; the delivery record keeps that to once

FeedPage = LogPage  # one read of the event log: every id read (to see holes), the selected events
