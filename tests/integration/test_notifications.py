"""Notifications on real PostgreSQL: events published through the PostgreSQL event bus become mail in
the outbox, once each even when two runs race, and the /outbox page shows each user only their mail."""

from __future__ import annotations

import asyncio
import re
from uuid import UUID

import httpx
import msgspec
from injector import Injector

from core.db import Database
from core.di import build_injector, get_port
from core.postgres import PostgresEventBus
from core.settings import Settings
from features.bootstrap import features_for
from features.notifications.adapters import PostgresOutbox, SmtpEmailService
from features.notifications.jobs import send_notifications
from features.notifications.model import DeliveryStatus
from features.notifications.ports import EmailService
from features.notifications.service import NotificationService
from tests.conftest import app_client
from tests.support.web import log_in, post_form, sign_up


async def user_id(pg: Injector, email: str) -> UUID:
    value = await pg.get(Database).fetchval("SELECT id FROM users WHERE email_normalized = $1", email)
    assert isinstance(value, UUID)
    return value


async def publish(pg: Injector, user: UUID, name: str, data: dict[str, object]) -> None:
    bus = PostgresEventBus(pg.get(Database))
    await bus.publish(f"user:{user}", name, data)


ACCOUNT_MAIL = "Confirm your e-mail address"  # what sign-up mails itself, not from events


async def outbox_rows(pg: Injector) -> list[tuple[str, str]]:
    """The mail events caused (the sign-up's own verification mail left out)."""
    rows = await pg.get(Database).fetch("SELECT to_address, subject FROM outbox_mail ORDER BY id")
    return [(r["to_address"], r["subject"]) for r in rows if not r["subject"].startswith(ACCOUNT_MAIL)]


async def test_published_events_become_outbox_mail_once(client: httpx.AsyncClient, pg: Injector) -> None:
    await sign_up(client, "ada@example.com")
    ada = await user_id(pg, "ada@example.com")
    await publish(pg, ada, "video", {"video_id": "v1", "state": "TRANSCODING", "progress": 0.3})
    await publish(pg, ada, "video", {"video_id": "v1", "state": "READY", "title": "Alps", "public_id": "abc"})
    await publish(pg, ada, "purchase", {"points": 550, "amount_minor": 500, "currency": "USD", "pack": "Medium"})
    await publish(pg, ada, "tip", {"amount": 50, "from_name": "Grace", "message": "Bravo"})
    await publish(pg, ada, "payout", {"state": "PROCESSING", "points": 2000})
    await publish(pg, ada, "payout", {"state": "PAID", "points": 2000, "amount_minor": 2000, "currency": "USD"})
    service = pg.get(NotificationService)
    assert await service.process_new_events() == 4
    assert await service.process_new_events() == 0
    assert await outbox_rows(pg) == [
        ("ada@example.com", "Your video is ready: Alps"),
        ("ada@example.com", "Your receipt: 550 points"),
        ("ada@example.com", "You received a tip of 50 points"),
        ("ada@example.com", "Your payout was paid: $20.00"),
    ]
    statuses = await pg.get(Database).fetch("SELECT event_id, status FROM notification_deliveries ORDER BY event_id")
    assert [r["status"] for r in statuses] == [DeliveryStatus.SENT.value] * 4
    position = await pg.get(Database).fetchval("SELECT position FROM notification_cursors")
    assert position == await pg.get(Database).fetchval("SELECT max(id) FROM event_log")


async def test_two_runs_racing_over_the_same_events_send_each_mail_once(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    await sign_up(client, "ada@example.com")
    ada = await user_id(pg, "ada@example.com")
    for amount in range(1, 21):
        await publish(pg, ada, "tip", {"amount": amount, "from_name": "Grace"})
    service = pg.get(NotificationService)
    results = await asyncio.gather(*(service.process_new_events() for _ in range(3)))
    assert sum(results) == 20
    rows = await outbox_rows(pg)
    assert len(rows) == 20
    assert len(set(rows)) == 20


async def test_the_cron_job_sends_through_the_workers_injector(client: httpx.AsyncClient, pg: Injector) -> None:
    await sign_up(client, "ada@example.com")
    await publish(pg, await user_id(pg, "ada@example.com"), "tip", {"amount": 5, "from_name": "Grace"})
    assert await send_notifications({"injector": pg}) == 1
    assert await outbox_rows(pg) == [("ada@example.com", "You received a tip of 5 points")]


async def test_mail_goes_to_smtp_when_smtp_host_is_set_and_to_the_outbox_otherwise(settings: Settings) -> None:
    outbox = get_port(build_injector(settings, features_for(settings)), EmailService)
    assert isinstance(outbox, PostgresOutbox)
    with_smtp = msgspec.structs.replace(settings, smtp_host="mail.example.com", smtp_port=2525)
    smtp = get_port(build_injector(with_smtp, features_for(with_smtp)), EmailService)
    assert isinstance(smtp, SmtpEmailService)
    assert (smtp.host, smtp.port, smtp.domain) == ("mail.example.com", 2525, "hypha.local")


# -- the outbox page ----------------------------------------------------------------------------------

SUBJECT = re.compile(r'<span class="mail-subject">([^<]*)</span>')


def event_subjects(page: str) -> list[str]:
    """Subjects on an outbox page, the sign-up's verification mail left out."""
    return [subject for subject in SUBJECT.findall(page) if not subject.startswith(ACCOUNT_MAIL)]


async def test_the_outbox_page_needs_a_login(client: httpx.AsyncClient) -> None:
    response = await client.get("/outbox", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/outbox"


async def test_a_user_sees_only_their_own_mail_and_staff_see_everyones(
    client: httpx.AsyncClient, pg: Injector, settings: Settings
) -> None:
    await sign_up(client, "ada@example.com")
    await post_form(client, "/logout", {})
    await sign_up(client, "grace@example.com")
    await post_form(client, "/logout", {})
    await sign_up(client, "root@example.com")
    await pg.get(Database).execute("UPDATE users SET is_staff = true WHERE email = 'root@example.com'")
    ada, grace = await user_id(pg, "ada@example.com"), await user_id(pg, "grace@example.com")
    await publish(pg, ada, "tip", {"amount": 7, "from_name": "Grace", "message": "For the <b>Alps</b> film"})
    await publish(pg, grace, "purchase", {"points": 100, "amount_minor": 100, "currency": "USD"})
    await pg.get(NotificationService).process_new_events()

    staff_page = await client.get("/outbox")
    assert staff_page.status_code == 200
    assert event_subjects(staff_page.text) == ["Your receipt: 100 points", "You received a tip of 7 points"]
    assert "staff view" in staff_page.text
    assert "grace@example.com" in staff_page.text
    assert "ada@example.com" in staff_page.text

    async with app_client(pg, settings) as ada_client:
        await log_in(ada_client, "ada@example.com")
        page = await ada_client.get("/outbox")
    assert page.status_code == 200
    assert event_subjects(page.text) == ["You received a tip of 7 points"]
    assert "grace@example.com" not in page.text
    assert "Your receipt" not in page.text
    # The text body is there to expand, escaped like any other text on the page.
    assert "<details>" in page.text
    assert "&gt; For the &lt;b&gt;Alps&lt;/b&gt; film" in page.text
    assert 'href="/outbox"' in page.text  # the Mail link in the header


async def test_the_outbox_is_paginated_newest_first(client: httpx.AsyncClient, pg: Injector) -> None:
    await sign_up(client, "ada@example.com")
    ada = await user_id(pg, "ada@example.com")
    for amount in range(1, 26):
        await publish(pg, ada, "tip", {"amount": amount, "from_name": "Grace"})
    await pg.get(NotificationService).process_new_events()
    first = await client.get("/outbox")
    subjects = event_subjects(first.text)
    assert len(subjects) == 20
    assert subjects[0] == "You received a tip of 25 points"
    assert 'href="/outbox?page=2"' in first.text
    assert "/outbox?page=0" not in first.text
    second = await client.get("/outbox?page=2")
    assert event_subjects(second.text)[-1] == "You received a tip of 1 point"
    assert len(event_subjects(second.text)) == 5
    assert 'href="/outbox?page=1"' in second.text
    empty = await client.get("/outbox?page=9")
    assert empty.status_code == 200
    assert "No mail yet" in empty.text
