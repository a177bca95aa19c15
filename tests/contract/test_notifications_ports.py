"""Each notifications port's contract, run against every adapter: EmailService × (SMTP, PostgreSQL
outbox, memory); Outbox and DeliveryLog × (PostgreSQL, memory). The event log it reads and its cursor
are core's (tests/contract/test_event_log.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from injector import Injector

from core.db import Database
from features.notifications.adapters import (
    MemoryDeliveryLog,
    MemoryOutbox,
    PostgresDeliveryLog,
    PostgresOutbox,
    SmtpEmailService,
)
from features.notifications.model import (
    Delivery,
    DeliveryPolicy,
    DeliveryStatus,
    EmailDeliveryError,
    EmailMessage,
)
from features.notifications.ports import DeliveryLog, EmailService, Outbox
from tests.support.smtp import LocalSmtpServer


def database(request: pytest.FixtureRequest) -> Database:
    """The emptied test database, asked for only by PostgreSQL-backed params (the TRUNCATE costs)."""
    pg: Injector = request.getfixturevalue("pg")
    return pg.get(Database)


# -- EmailService -----------------------------------------------------------------------------------


@dataclass
class Mailer:
    service: EmailService
    delivered: Callable[[], Awaitable[list[EmailMessage]]]


@pytest.fixture(params=["smtp", "outbox", "memory"])
def mail_adapter(request: pytest.FixtureRequest) -> tuple[str, Database | None]:
    return request.param, database(request) if request.param == "outbox" else None


@pytest.fixture
async def mailer(mail_adapter: tuple[str, Database | None]) -> AsyncIterator[Mailer]:
    kind, db = mail_adapter
    if kind == "smtp":
        server = LocalSmtpServer()
        port = await server.start()

        async def from_server() -> list[EmailMessage]:
            return [
                EmailMessage(str(r.message["To"]), str(r.message["Subject"]), r.body("plain"), r.body("html"))
                for r in server.received
            ]

        yield Mailer(SmtpEmailService("127.0.0.1", port, sender="Hypha <no-reply@hypha.test>"), from_server)
        await server.stop()
        return
    if db is not None:
        outbox: PostgresOutbox | MemoryOutbox = PostgresOutbox(db)
    else:
        outbox = MemoryOutbox()

    async def from_outbox() -> list[EmailMessage]:
        page = await outbox.page(None, 1, 100)
        return [EmailMessage(m.to, m.subject, m.text, m.html) for m in reversed(page.mails)]

    yield Mailer(outbox, from_outbox)


MESSAGE = EmailMessage(
    to="ada@example.com",
    subject="Your receipt: 550 points — thank you ✓",
    text="Hi Ada,\n\nPoints: 550\n.\nA line that is only a dot, and ünïcödé.\n",
    html="<p>Hi Ada,</p><p>Points: <strong>550</strong> — ünïcödé</p>",
)


async def test_a_sent_message_arrives_with_recipient_subject_text_and_html_intact(mailer: Mailer) -> None:
    await mailer.service.send(MESSAGE)
    [delivered] = await mailer.delivered()
    assert delivered.to == MESSAGE.to
    assert delivered.subject == MESSAGE.subject
    assert delivered.text.replace("\r\n", "\n") == MESSAGE.text
    assert delivered.html.strip() == MESSAGE.html


async def test_messages_arrive_one_each_in_the_order_sent(mailer: Mailer) -> None:
    for n in range(3):
        await mailer.service.send(EmailMessage(f"user{n}@example.com", f"Mail {n}", f"text {n}", f"<p>{n}</p>"))
    assert [m.subject for m in await mailer.delivered()] == ["Mail 0", "Mail 1", "Mail 2"]


@pytest.mark.parametrize(
    "message",
    [
        EmailMessage("not-an-address", "Hello", "text", "<p>html</p>"),
        EmailMessage("ada@example.com\r\nBcc: eve@example.com", "Hello", "text", "<p>html</p>"),
        EmailMessage("ada@example.com", "Hello\r\nBcc: eve@example.com", "text", "<p>html</p>"),
        EmailMessage("ada@example.com", "   ", "text", "<p>html</p>"),
    ],
    ids=["malformed-address", "header-injection-in-to", "header-injection-in-subject", "blank-subject"],
)
async def test_a_message_no_server_should_see_is_refused_permanently_and_not_delivered(
    mailer: Mailer, message: EmailMessage
) -> None:
    with pytest.raises(EmailDeliveryError) as refused:
        await mailer.service.send(message)
    assert refused.value.permanent
    assert await mailer.delivered() == []


# -- Outbox -----------------------------------------------------------------------------------------


@pytest.fixture(params=["postgres", "memory"])
def outbox(request: pytest.FixtureRequest) -> PostgresOutbox | MemoryOutbox:
    if request.param == "postgres":
        return PostgresOutbox(database(request))
    return MemoryOutbox()


async def test_the_outbox_lists_newest_first_in_pages(outbox: PostgresOutbox | MemoryOutbox) -> None:
    for n in range(5):
        await outbox.send(EmailMessage("ada@example.com", f"Mail {n}", "t", "<p>h</p>"))
    reader: Outbox = outbox
    first = await reader.page(None, 1, 2)
    assert [m.subject for m in first.mails] == ["Mail 4", "Mail 3"]
    assert first.has_next
    assert not first.has_previous
    last = await reader.page(None, 3, 2)
    assert [m.subject for m in last.mails] == ["Mail 0"]
    assert not last.has_next
    assert last.has_previous
    assert (await reader.page(None, 4, 2)).mails == []
    assert first.mails[0].created_at.tzinfo is not None


async def test_the_outbox_filters_by_recipient_ignoring_case(outbox: PostgresOutbox | MemoryOutbox) -> None:
    await outbox.send(EmailMessage("Ada@Example.com", "For Ada", "t", "<p>h</p>"))
    await outbox.send(EmailMessage("grace@example.com", "For Grace", "t", "<p>h</p>"))
    reader: Outbox = outbox
    mine = await reader.page("ada@example.COM", 1, 10)
    assert [(m.to, m.subject) for m in mine.mails] == [("Ada@Example.com", "For Ada")]
    assert [m.subject for m in (await reader.page(None, 1, 10)).mails] == ["For Grace", "For Ada"]
    assert (await reader.page("nobody@example.com", 1, 10)).mails == []


# -- DeliveryLog ------------------------------------------------------------------------------------


@pytest.fixture(params=["postgres", "memory"])
def deliveries(request: pytest.FixtureRequest) -> DeliveryLog:
    if request.param == "postgres":
        return PostgresDeliveryLog(database(request))
    return MemoryDeliveryLog()


NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def pending(event_id: int) -> Delivery:
    return Delivery(event_id, uuid4(), "tip_received", None, DeliveryStatus.PENDING)


async def test_an_event_is_reserved_once(deliveries: DeliveryLog) -> None:
    assert await deliveries.reserve(pending(7))
    assert not await deliveries.reserve(pending(7))
    assert await deliveries.known([6, 7, 8]) == {7}
    assert await deliveries.known([]) == set()


async def test_a_saved_delivery_reads_back_whole(deliveries: DeliveryLog) -> None:
    record = pending(8)
    await deliveries.reserve(record)
    message = EmailMessage("ada@example.com", "Subject ✓", "text", "<p>html</p>")
    sent = Delivery(8, record.user_id, record.kind, message, DeliveryStatus.PENDING).sent(NOW)
    await deliveries.save(sent)
    assert await deliveries.get(8) == sent
    assert await deliveries.get(9) is None


async def test_failed_deliveries_come_due_at_their_next_attempt(deliveries: DeliveryLog) -> None:
    policy = DeliveryPolicy()
    message = EmailMessage("ada@example.com", "S", "t", "<p>h</p>")
    for event_id, minutes_ago in [(1, 0), (2, 10), (3, 30)]:
        record = Delivery(event_id, uuid4(), "tip_received", message, DeliveryStatus.PENDING)
        await deliveries.reserve(record)
        failed = record.failed(EmailDeliveryError("451 try later"), NOW - timedelta(minutes=minutes_ago), policy)
        await deliveries.save(failed)
    await deliveries.reserve(pending(4))
    await deliveries.save(pending(4).gave_up("refused"))
    # Retry delays start at one minute: failures 10 and 30 minutes ago are due, the fresh one is not.
    assert await deliveries.due(NOW, 10) == [3, 2]
    assert await deliveries.due(NOW, 1) == [3]
    claimed = await deliveries.claim_due(3, NOW)
    assert claimed is not None
    assert claimed.status is DeliveryStatus.FAILED
    assert claimed.message == message
    assert claimed.attempts == 1
    assert claimed.last_error == "451 try later"
    assert await deliveries.claim_due(1, NOW) is None  # not due yet
    assert await deliveries.claim_due(4, NOW) is None  # given up
    assert await deliveries.claim_due(99, NOW) is None
