"""Notifications adapters: mail by SMTP, into the PostgreSQL outbox or into memory; delivery records
in PostgreSQL or in memory."""

from __future__ import annotations

import email.message
import email.utils
import html
import logging
import ssl
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import markupsafe
from piccolo.columns import Column
from piccolo.custom_types import Combinable

from core.clock import Clock, SystemClock
from core.db import Database
from features.accounts.model import AccountMail
from features.notifications.mails import MailComposer
from features.notifications.model import (
    Delivery,
    DeliveryStatus,
    EmailDeliveryError,
    EmailMessage,
    MailPage,
    StoredMail,
    check_message,
)
from features.notifications.ports import EmailService
from features.notifications.tables import DeliveryTable, OutboxMailTable

log = logging.getLogger(__name__)

# -- Sending mail --------------------------------------------------------------------------------


class AccountMailSender:
    """The accounts feature's AccountMailer: composes the mail from this feature's templates and
    sends it at once through the EmailService (SMTP, or the outbox). A refusal is logged without
    the mail's body (its link is a secret) and reported as False."""

    def __init__(self, email: EmailService, composer: MailComposer) -> None:
        self.email = email
        self.composer = composer

    async def send(self, mail: AccountMail) -> bool:
        try:
            await self.email.send(self.composer.compose_account(mail))
        except EmailDeliveryError as error:
            log.warning("account mail %s not sent: %s", mail.kind.value, error.reason)
            return False
        return True


class SmtpEmailService:
    """Delivers through an SMTP server with aiosmtplib: implicit TLS on port 465, otherwise STARTTLS
    whenever the server offers it, and AUTH when a username is configured."""

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        sender: str,
        username: str = "",
        password: str = "",
        timeout: float = 15.0,  # with the 40 s budget per run, stays inside the 60 s job timeout
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self.password = password
        self.timeout = timeout
        self.tls_context = tls_context
        address = email.utils.parseaddr(sender)[1]
        self.domain = address.rpartition("@")[2] or "localhost"

    def mime(self, message: EmailMessage) -> email.message.EmailMessage:
        mime = email.message.EmailMessage()
        mime["From"] = self.sender
        mime["To"] = message.to
        mime["Subject"] = message.subject
        mime["Date"] = email.utils.format_datetime(datetime.now(UTC))
        mime["Message-ID"] = email.utils.make_msgid(domain=self.domain)
        mime.set_content(message.text)
        mime.add_alternative(message.html, subtype="html")
        return mime

    async def send(self, message: EmailMessage) -> None:
        import aiosmtplib  # here, not at the top: ~0.3 s for every process that never sends a mail

        check_message(message)
        implicit_tls = self.port == 465
        try:
            await aiosmtplib.send(
                self.mime(message),
                hostname=self.host,
                port=self.port,
                username=self.username or None,
                password=self.password or None,
                use_tls=implicit_tls,
                start_tls=False if implicit_tls else None,  # None: upgrade when offered
                tls_context=self.tls_context,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [refusal.code for refusal in error.recipients]
            reason = "; ".join(f"{r.code} {r.message}" for r in error.recipients)
            raise EmailDeliveryError(f"recipient refused: {reason}", permanent=all(c >= 500 for c in codes)) from error
        except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as error:
            raise EmailDeliveryError(f"refused: {error.code} {error.message}", permanent=error.code >= 500) from error
        except aiosmtplib.SMTPResponseException as error:
            # Sender, HELO and AUTH refusals are this server's configuration, not this mail: retry.
            raise EmailDeliveryError(f"SMTP server said {error.code} {error.message}") from error
        except (aiosmtplib.SMTPException, OSError) as error:
            raise EmailDeliveryError(f"cannot reach the SMTP server {self.host}:{self.port}: {error}") from error


def _stored_mail(row: Any) -> StoredMail:
    return StoredMail(
        id=row["id"],
        to=row["to_address"],
        subject=row["subject"],
        text=row["text_body"],
        html=row["html_body"],
        created_at=row["created_at"],
    )


class PostgresOutbox:
    """Keeps mail in the `outbox_mail` table instead of sending it (local use, the default without
    SMTP). Inside a transaction the stored mail commits or rolls back with it. Each mail is stamped
    with the application's clock, the one accounts are stamped with (the outbox page compares them)."""

    def __init__(self, db: Database, clock: Clock | None = None) -> None:
        self.db = db
        self.clock = clock or SystemClock()

    async def send(self, message: EmailMessage) -> None:
        check_message(message)
        await OutboxMailTable.insert(
            OutboxMailTable(
                to_address=message.to,
                to_normalized=message.to.strip().lower(),
                subject=message.subject,
                text_body=message.text,
                html_body=message.html,
                created_at=self.clock.now(),
            )
        )

    async def page(self, recipient: str | None, page: int, per_page: int, since: datetime | None = None) -> MailPage:
        page = max(1, page)
        query = (
            OutboxMailTable.select()
            .order_by(OutboxMailTable.id, ascending=False)
            .limit(per_page + 1)
            .offset((page - 1) * per_page)
        )
        if recipient is not None:
            query = query.where(OutboxMailTable.to_normalized == recipient.strip().lower())
        if since is not None:
            query = query.where(OutboxMailTable.created_at >= since)
        rows = await query
        mails = [_stored_mail(row) for row in rows[:per_page]]
        return MailPage(mails, page, has_next=len(rows) > per_page)

    async def forget_recipient(self, address: str) -> int:
        mine = OutboxMailTable.to_normalized == address.strip().lower()
        return len(await OutboxMailTable.delete().where(mine).returning(OutboxMailTable.id))

    async def redact(self, recipients: Sequence[str], text: str, replacement: str) -> int:
        if not text or not recipients:
            return 0
        changed = 0
        for form in written_forms(text):
            # SQL: replace() and strpos() rewrite the text in place, in the database.
            status = await self.db.execute(
                "UPDATE outbox_mail SET subject = replace(subject, $2, $3), text_body = replace(text_body, $2, $3),"
                " html_body = replace(html_body, $2, $3)"
                " WHERE to_normalized = ANY($1::text[]) AND strpos(subject || text_body || html_body, $2) > 0",
                [r.strip().lower() for r in recipients],
                form,
                replacement,
            )
            changed += int(status.rsplit(" ", 1)[1])
        return changed


def written_forms(text: str) -> list[str]:
    """`text` as mail may hold it: as is, and HTML-escaped the ways our templates (Jinja2/markupsafe)
    and the standard library escape it; the escaped forms first (they contain no raw `&`)."""
    forms = [str(markupsafe.escape(text)), html.escape(text), text]
    return sorted(set(forms), key=lambda form: (form == text, forms.index(form)))


class MemoryOutbox:
    """Mail kept in a list (tests). `refuse` maps an address to the error sending to it raises, so
    tests can make one address fail without mocks."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self.mails: list[StoredMail] = []
        self.refuse: dict[str, EmailDeliveryError] = {}

    @property
    def sent(self) -> list[EmailMessage]:
        return [EmailMessage(m.to, m.subject, m.text, m.html) for m in self.mails]

    async def send(self, message: EmailMessage) -> None:
        check_message(message)
        refusal = self.refuse.get(message.to.strip().lower())
        if refusal is not None:
            raise refusal
        number = len(self.mails) + 1
        self.mails.append(StoredMail(number, message.to, message.subject, message.text, message.html, self.clock.now()))

    async def page(self, recipient: str | None, page: int, per_page: int, since: datetime | None = None) -> MailPage:
        page = max(1, page)
        wanted = recipient.strip().lower() if recipient is not None else None
        mails = [
            m
            for m in reversed(self.mails)
            if (wanted is None or m.to.strip().lower() == wanted) and (since is None or m.created_at >= since)
        ]
        start = (page - 1) * per_page
        return MailPage(mails[start : start + per_page], page, has_next=len(mails) > start + per_page)

    async def forget_recipient(self, address: str) -> int:
        wanted = address.strip().lower()
        kept = [m for m in self.mails if m.to.strip().lower() != wanted]
        forgotten = len(self.mails) - len(kept)
        self.mails = kept
        return forgotten

    async def redact(self, recipients: Sequence[str], text: str, replacement: str) -> int:
        wanted = {r.strip().lower() for r in recipients}
        changed = 0
        for index, mail in enumerate(self.mails):
            if mail.to.strip().lower() in wanted and text:
                redacted = replace(
                    mail,
                    subject=_redacted(mail.subject, text, replacement),
                    text=_redacted(mail.text, text, replacement),
                    html=_redacted(mail.html, text, replacement),
                )
                if redacted != mail:
                    self.mails[index] = redacted
                    changed += 1
        return changed


def _redacted(value: str, text: str, replacement: str) -> str:
    for form in written_forms(text):
        value = value.replace(form, replacement)
    return value


# -- Delivery records ------------------------------------------------------------------------------


def _delivery(row: Any) -> Delivery:
    message = None
    if row["to_address"] is not None:
        message = EmailMessage(row["to_address"], row["subject"], row["text_body"], row["html_body"])
    return Delivery(
        event_id=row["event_id"],
        user_id=row["user_id"],
        kind=row["kind"],
        message=message,
        status=DeliveryStatus(row["status"]),
        attempts=row["attempts"],
        last_error=row["last_error"],
        next_attempt_at=row["next_attempt_at"],
        sent_at=row["sent_at"],
    )


def _delivery_row(delivery: Delivery) -> DeliveryTable:
    message = delivery.message
    return DeliveryTable(
        event_id=delivery.event_id,
        user_id=delivery.user_id,
        kind=delivery.kind,
        to_address=message.to if message else None,
        subject=message.subject if message else None,
        text_body=message.text if message else None,
        html_body=message.html if message else None,
        status=delivery.status.value,
        attempts=delivery.attempts,
        last_error=delivery.last_error,
        next_attempt_at=delivery.next_attempt_at,
        sent_at=delivery.sent_at,
    )


def _failed_due(now: datetime) -> Combinable:
    return (DeliveryTable.status == DeliveryStatus.FAILED.value) & (DeliveryTable.next_attempt_at <= now)


# What a saved delivery overwrites (its event_id and created_at stay).
_SAVED: list[Column] = [
    column
    for column in DeliveryTable._meta.columns
    if column._meta.name not in {"event_id", "created_at", "updated_at"}
]


class PostgresDeliveryLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def known(self, event_ids: Sequence[int]) -> set[int]:
        if not event_ids:
            return set()
        rows = await DeliveryTable.select(DeliveryTable.event_id).where(DeliveryTable.event_id.is_in(list(event_ids)))
        return {row["event_id"] for row in rows}

    async def reserve(self, delivery: Delivery) -> bool:
        query = DeliveryTable.insert(_delivery_row(delivery))
        return bool(await query.on_conflict(target=DeliveryTable.event_id, action="DO NOTHING"))

    async def claim_due(self, event_id: int, now: datetime) -> Delivery | None:
        row = (
            await DeliveryTable.select()
            .where(_failed_due(now) & (DeliveryTable.event_id == event_id))
            .lock_rows("UPDATE", skip_locked=True)
            .first()
        )
        return _delivery(row) if row else None

    async def due(self, now: datetime, limit: int) -> list[int]:
        rows = (
            await DeliveryTable.select(DeliveryTable.event_id)
            .where(_failed_due(now))
            .order_by(DeliveryTable.next_attempt_at, DeliveryTable.event_id)
            .limit(limit)
        )
        return [row["event_id"] for row in rows]

    async def save(self, delivery: Delivery) -> None:
        changed: list[Column | tuple[Column, Any]] = [*_SAVED, (DeliveryTable.updated_at, datetime.now(UTC))]
        await DeliveryTable.insert(_delivery_row(delivery)).on_conflict(
            target=DeliveryTable.event_id, action="DO UPDATE", values=changed
        )

    async def get(self, event_id: int) -> Delivery | None:
        row = await DeliveryTable.select().where(DeliveryTable.event_id == event_id).first()
        return _delivery(row) if row else None

    async def forget_user(self, user_id: UUID, reason: str) -> int:
        return await _postgres_forget_user(self.db, user_id, reason)

    async def redact(self, user_ids: Collection[UUID], kind: str, text: str, replacement: str) -> int:
        return await _postgres_redact(self.db, user_ids, kind, text, replacement)


# SQL: CASE keeps what was sent and gives up what was not, in one statement.
_FORGET_USER = """
    UPDATE notification_deliveries SET to_address = NULL, subject = NULL, text_body = NULL, html_body = NULL,
        status = CASE WHEN status = 'SENT' THEN status ELSE 'GAVE_UP' END,
        last_error = CASE WHEN status = 'SENT' THEN '' ELSE $2 END,
        next_attempt_at = CASE WHEN status = 'SENT' THEN next_attempt_at ELSE NULL END,
        updated_at = now()
    WHERE user_id = $1
"""


async def _postgres_forget_user(db: Database, user_id: UUID, reason: str) -> int:
    status = await db.execute(_FORGET_USER, user_id, reason)
    return int(status.rsplit(" ", 1)[1])


async def _postgres_redact(db: Database, user_ids: Collection[UUID], kind: str, text: str, replacement: str) -> int:
    if not text or not user_ids:
        return 0
    changed = 0
    for form in written_forms(text):
        # SQL: replace() and strpos() rewrite the text in place, in the database.
        status = await db.execute(
            "UPDATE notification_deliveries SET subject = replace(subject, $3, $4),"
            " text_body = replace(text_body, $3, $4), html_body = replace(html_body, $3, $4), updated_at = now()"
            " WHERE user_id = ANY($1::uuid[]) AND kind = $2 AND to_address IS NOT NULL"
            " AND strpos(subject || text_body || html_body, $3) > 0",
            list(user_ids),
            kind,
            form,
            replacement,
        )
        changed += int(status.rsplit(" ", 1)[1])
    return changed


class MemoryDeliveryLog:
    def __init__(self) -> None:
        self.deliveries: dict[int, Delivery] = {}

    async def known(self, event_ids: Sequence[int]) -> set[int]:
        return {event_id for event_id in event_ids if event_id in self.deliveries}

    async def reserve(self, delivery: Delivery) -> bool:
        if delivery.event_id in self.deliveries:
            return False
        self.deliveries[delivery.event_id] = delivery
        return True

    async def claim_due(self, event_id: int, now: datetime) -> Delivery | None:
        delivery = self.deliveries.get(event_id)
        if delivery is None or delivery.status is not DeliveryStatus.FAILED:
            return None
        if delivery.next_attempt_at is None or delivery.next_attempt_at > now:
            return None
        return delivery

    async def due(self, now: datetime, limit: int) -> list[int]:
        due = [
            d
            for d in self.deliveries.values()
            if d.status is DeliveryStatus.FAILED and d.next_attempt_at is not None and d.next_attempt_at <= now
        ]
        due.sort(key=lambda d: (d.next_attempt_at or now, d.event_id))
        return [d.event_id for d in due[:limit]]

    async def save(self, delivery: Delivery) -> None:
        self.deliveries[delivery.event_id] = delivery

    async def get(self, event_id: int) -> Delivery | None:
        return self.deliveries.get(event_id)

    async def forget_user(self, user_id: UUID, reason: str) -> int:
        changed = 0
        for event_id, delivery in list(self.deliveries.items()):
            if delivery.user_id != user_id:
                continue
            forgotten = replace(delivery, message=None, last_error="")
            if delivery.status is not DeliveryStatus.SENT:
                forgotten = replace(forgotten, status=DeliveryStatus.GAVE_UP, last_error=reason, next_attempt_at=None)
            self.deliveries[event_id] = forgotten
            changed += 1
        return changed

    async def redact(self, user_ids: Collection[UUID], kind: str, text: str, replacement: str) -> int:
        changed = 0
        for event_id, delivery in list(self.deliveries.items()):
            message = delivery.message
            if message is None or delivery.user_id not in user_ids or delivery.kind != kind or not text:
                continue
            redacted = EmailMessage(
                message.to,
                _redacted(message.subject, text, replacement),
                _redacted(message.text, text, replacement),
                _redacted(message.html, text, replacement),
            )
            if redacted != message:
                self.deliveries[event_id] = replace(delivery, message=redacted)
                changed += 1
        return changed
