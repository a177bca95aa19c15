"""Notifications on in-memory adapters: which events become which mail, each mail once, retries and
giving up, and reading the event log safely when inserts commit out of order."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from injector import Injector

from core.clock import Clock, FrozenClock
from core.di import get_port
from core.eventlog import EVENT_LOG, MemoryCursorStore
from core.events import EventBus, MemoryEventBus
from features.accounts.model import User
from features.accounts.service import AccountService
from features.notifications.adapters import MemoryDeliveryLog, MemoryOutbox
from features.notifications.jobs import send_notifications
from features.notifications.model import DeliveryStatus, EmailDeliveryError, FeedCursor
from features.notifications.module import FEATURE
from features.notifications.service import CURSOR, NotificationService


@pytest.fixture
def service(memory: Injector) -> NotificationService:
    return memory.get(NotificationService)


@pytest.fixture
def bus(memory: Injector) -> MemoryEventBus:
    bus = get_port(memory, EventBus)
    assert isinstance(bus, MemoryEventBus)
    return bus


@pytest.fixture
def outbox(memory: Injector) -> MemoryOutbox:
    return memory.get(MemoryOutbox)


@pytest.fixture
def clock(memory: Injector) -> FrozenClock:
    clock = get_port(memory, Clock)
    assert isinstance(clock, FrozenClock)
    return clock


@pytest.fixture
async def ada(memory: Injector) -> User:
    return await memory.get(AccountService).sign_up("ada@example.com", "analytical engine", "Ada")


def topic(user: User) -> str:
    return f"user:{user.id}"


async def status_of(memory: Injector, event_id: int) -> Any:
    delivery = await memory.get(MemoryDeliveryLog).get(event_id)
    assert delivery is not None
    return delivery


@pytest.mark.parametrize(
    ("name", "data", "subject", "in_text", "link"),
    [
        (
            "video",
            {"video_id": "v1", "state": "READY", "title": "Alps at dawn", "public_id": "Ab3_xYz09-Kq"},
            "Your video is ready: Alps at dawn",
            ['your video "Alps at dawn" has finished processing'],
            "http://127.0.0.1:8000/v/Ab3_xYz09-Kq",
        ),
        (
            "video",
            {"video_id": "v1", "state": "FAILED", "title": "Alps at dawn", "reason": "The file has no video track."},
            "Processing failed: Alps at dawn",
            ['We could not process your video "Alps at dawn"', "What went wrong: The file has no video track."],
            "http://127.0.0.1:8000/studio",
        ),
        (
            "video",
            {
                "video_id": "v1",
                "state": "PUBLISHED",
                "title": "Alps at dawn",
                "upgrade": True,
                "upgrade_failure": "ConvertVideoTo720p: boom",
            },
            "Processing failed: Alps at dawn",
            ["ConvertVideoTo720p: boom", "still plays"],
            "http://127.0.0.1:8000/studio",
        ),
        (
            "purchase",
            {"points": 1200, "amount_minor": 1000, "currency": "USD", "pack": "Large", "payment_ref": "pay_42"},
            "Your receipt: 1,200 points",
            ["Pack:        Large", "Points:      1,200 points", "Amount paid: $10.00", "Reference:   pay_42"],
            "http://127.0.0.1:8000/wallet",
        ),
        (
            "tip",
            {"amount": 50, "from_name": "Grace", "message": "Loved the ending!", "video_title": "Alps at dawn"},
            "You received a tip of 50 points",
            ['Grace sent you a tip of 50 points for "Alps at dawn".', "> Loved the ending!"],
            "http://127.0.0.1:8000/studio",
        ),
        (
            "payout",
            {"state": "PAID", "points": 2500, "amount_minor": 2500, "currency": "EUR", "payout_id": "po_7"},
            "Your payout was paid: €25.00",
            ["Your payout of 2,500 points has been paid: €25.00", "Payout reference: po_7"],
            "http://127.0.0.1:8000/studio/payouts",
        ),
    ],
    ids=["video-ready", "video-failed", "video-upgrade-failed", "purchase", "tip", "payout-paid"],
)
async def test_each_event_kind_becomes_its_mail(
    service: NotificationService,
    bus: MemoryEventBus,
    outbox: MemoryOutbox,
    ada: User,
    name: str,
    data: dict[str, Any],
    subject: str,
    in_text: list[str],
    link: str,
) -> None:
    await bus.publish(topic(ada), name, data)
    assert await service.process_new_events() == 1
    [mail] = outbox.sent
    assert mail.to == "ada@example.com"
    assert mail.subject == subject
    assert mail.text.startswith("Hi Ada,")
    for snippet in in_text:
        assert snippet in mail.text
    assert link in mail.text
    assert f'href="{link}"' in mail.html
    assert "Hypha" in mail.text
    assert "Hypha" in mail.html


async def test_a_video_that_already_plays_is_news_once_not_at_each_higher_rendition(
    service: NotificationService, bus: MemoryEventBus, outbox: MemoryOutbox, ada: User
) -> None:
    ready = {"video_id": "v1", "public_id": "Ab3_xYz09-Kq", "title": "Alps at dawn"}
    await bus.publish(topic(ada), "video", {**ready, "state": "READY", "pending": ["720p", "1080p"]})
    await bus.publish(topic(ada), "video", {**ready, "state": "READY", "upgrade": True, "pending": ["1080p"]})
    await bus.publish(topic(ada), "video", {**ready, "state": "PUBLISHED"})
    await bus.publish(topic(ada), "video", {**ready, "state": "PUBLISHED", "upgrade": True})
    await service.process_new_events()
    assert [mail.subject for mail in outbox.sent] == ["Your video is ready: Alps at dawn"]


async def test_progress_events_other_names_and_other_topics_send_nothing(
    service: NotificationService, bus: MemoryEventBus, outbox: MemoryOutbox, ada: User, memory: Injector
) -> None:
    await bus.publish(topic(ada), "video", {"video_id": "v1", "state": "TRANSCODING", "progress": 0.4, "eta": 30})
    await bus.publish(topic(ada), "video", {"video_id": "v1", "progress": 0.5})
    await bus.publish(topic(ada), "payout", {"state": "PROCESSING", "points": 2500})
    await bus.publish(topic(ada), "unlock", {"video_id": "v1"})
    await bus.publish(topic(ada), "viewers", {"count": 3})
    await bus.publish("video:v1", "tip", {"amount": 5, "from_name": "Grace"})
    await bus.publish("user:not-a-uuid", "tip", {"amount": 5, "from_name": "Grace"})
    assert await service.process_new_events() == 0
    assert outbox.sent == []
    assert memory.get(MemoryDeliveryLog).deliveries == {}
    assert (await memory.get(MemoryCursorStore).get(EVENT_LOG, CURSOR)).position == 7


async def test_a_rerun_never_sends_the_same_mail_twice(
    service: NotificationService, bus: MemoryEventBus, outbox: MemoryOutbox, ada: User, memory: Injector
) -> None:
    await bus.publish(topic(ada), "tip", {"amount": 10, "from_name": "Grace"})
    await bus.publish(topic(ada), "purchase", {"points": 100, "amount_minor": 100, "currency": "USD"})
    assert await service.process_new_events() == 2
    assert await service.process_new_events() == 0
    # Even if the cursor were lost (a crash before it was saved), the delivery records hold.
    memory.get(MemoryCursorStore).cursors.clear()
    assert await service.process_new_events() == 0
    assert len(outbox.sent) == 2
    assert (await status_of(memory, 1)).status is DeliveryStatus.SENT


async def test_a_temporary_failure_is_retried_on_a_later_run_and_then_sent(
    service: NotificationService,
    bus: MemoryEventBus,
    outbox: MemoryOutbox,
    clock: FrozenClock,
    ada: User,
    memory: Injector,
) -> None:
    outbox.refuse["ada@example.com"] = EmailDeliveryError("451 mailbox busy")
    await bus.publish(topic(ada), "tip", {"amount": 10, "from_name": "Grace"})
    assert await service.process_new_events() == 0
    failed = await status_of(memory, 1)
    assert (failed.status, failed.attempts, failed.last_error) == (DeliveryStatus.FAILED, 1, "451 mailbox busy")
    assert failed.next_attempt_at == clock.now() + timedelta(minutes=1)

    del outbox.refuse["ada@example.com"]
    assert await service.process_new_events() == 0  # not due yet
    clock.advance(timedelta(minutes=1))
    assert await service.process_new_events() == 1
    sent = await status_of(memory, 1)
    assert (sent.status, sent.attempts, sent.sent_at) == (DeliveryStatus.SENT, 2, clock.now())
    assert [m.subject for m in outbox.sent] == ["You received a tip of 10 points"]


async def test_temporary_failures_are_given_up_after_the_last_attempt_with_the_reason(
    service: NotificationService,
    bus: MemoryEventBus,
    outbox: MemoryOutbox,
    clock: FrozenClock,
    ada: User,
    memory: Injector,
) -> None:
    outbox.refuse["ada@example.com"] = EmailDeliveryError("cannot reach the SMTP server")
    await bus.publish(topic(ada), "tip", {"amount": 10, "from_name": "Grace"})
    await service.process_new_events()
    for _ in range(10):
        clock.advance(timedelta(hours=3))
        await service.process_new_events()
    delivery = await status_of(memory, 1)
    assert delivery.status is DeliveryStatus.GAVE_UP
    assert delivery.attempts == service.policy.max_attempts == 5
    assert delivery.last_error == "gave up after 5 attempts: cannot reach the SMTP server"
    assert await memory.get(MemoryDeliveryLog).due(clock.now() + timedelta(days=30), 10) == []


async def test_a_permanently_refused_address_is_given_up_at_once(
    service: NotificationService, bus: MemoryEventBus, outbox: MemoryOutbox, ada: User, memory: Injector
) -> None:
    outbox.refuse["ada@example.com"] = EmailDeliveryError("550 no such user", permanent=True)
    await bus.publish(topic(ada), "tip", {"amount": 10, "from_name": "Grace"})
    await bus.publish(topic(ada), "tip", {"amount": 20, "from_name": "Grace"})
    assert await service.process_new_events() == 0
    for event_id in (1, 2):
        delivery = await status_of(memory, event_id)
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.GAVE_UP, 1)
        assert delivery.last_error == "refused: 550 no such user"
        assert delivery.message is not None
        assert delivery.message.to == "ada@example.com"


async def test_an_event_with_unusable_data_is_given_up_with_the_reason(
    service: NotificationService, bus: MemoryEventBus, outbox: MemoryOutbox, ada: User, memory: Injector
) -> None:
    await bus.publish(topic(ada), "tip", {"amount": "lots", "from_name": "Grace"})
    await bus.publish(topic(ada), "purchase", {"points": 100, "amount_minor": 1.5, "currency": "USD"})
    await bus.publish(topic(ada), "video", {"state": "READY", "title": "No id"})
    assert await service.process_new_events() == 0
    reasons = [(await status_of(memory, event_id)).last_error for event_id in (1, 2, 3)]
    assert reasons == [
        "unusable 'tip' event: 'amount' must be a whole number >= 0",
        "unusable 'purchase' event: 'amount_minor' must be a whole number >= 0",
        "unusable 'video' event: missing 'video_id'",
    ]
    assert outbox.sent == []


async def test_mail_for_someone_without_an_account_is_given_up(
    service: NotificationService, bus: MemoryEventBus, outbox: MemoryOutbox, memory: Injector
) -> None:
    await bus.publish(f"user:{uuid4()}", "tip", {"amount": 10, "from_name": "Grace"})
    assert await service.process_new_events() == 0
    delivery = await status_of(memory, 1)
    assert (delivery.status, delivery.last_error) == (DeliveryStatus.GAVE_UP, "the recipient has no account")


async def test_text_from_other_people_is_escaped_in_html_and_kept_in_one_subject_line(
    service: NotificationService, bus: MemoryEventBus, outbox: MemoryOutbox, ada: User
) -> None:
    await bus.publish(
        topic(ada), "tip", {"amount": 5, "from_name": "<b>Eve</b>", "message": "<script>alert(1)</script>\nbye"}
    )
    await bus.publish(topic(ada), "video", {"video_id": "v", "state": "READY", "title": "Two\r\nlines " + "x" * 300})
    assert await service.process_new_events() == 2
    tip, video = outbox.sent
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in tip.html
    assert "<script>" not in tip.html
    assert "&lt;b&gt;Eve&lt;/b&gt;" in tip.html
    assert "> <script>alert(1)</script>\n> bye" in tip.text
    assert "\n" not in video.subject
    assert len(video.subject) == 150
    assert video.subject.startswith("Your video is ready: Two lines xxx")


async def test_a_run_handles_at_most_limit_events_and_the_next_run_continues(
    service: NotificationService, bus: MemoryEventBus, outbox: MemoryOutbox, ada: User, memory: Injector
) -> None:
    for amount in range(1, 6):
        await bus.publish(topic(ada), "tip", {"amount": amount, "from_name": "Grace"})
    assert [await service.process_new_events(limit=2) for _ in range(4)] == [2, 2, 1, 0]
    assert [m.subject for m in outbox.sent] == [f"You received a tip of {n} point{'s' * (n > 1)}" for n in range(1, 6)]
    assert (await memory.get(MemoryCursorStore).get(EVENT_LOG, CURSOR)).position == 5


async def test_no_send_starts_once_the_time_budget_is_spent_and_the_next_run_catches_up(
    service: NotificationService, bus: MemoryEventBus, outbox: MemoryOutbox, ada: User, memory: Injector
) -> None:
    await bus.publish(topic(ada), "tip", {"amount": 1, "from_name": "Grace"})
    assert await service.process_new_events(time_budget=timedelta(0)) == 0
    assert (await memory.get(MemoryCursorStore).get(EVENT_LOG, CURSOR)).position == 0
    assert await service.process_new_events() == 1
    assert len(outbox.sent) == 1


async def test_an_event_that_commits_after_a_later_one_is_still_mailed(
    service: NotificationService, bus: MemoryEventBus, outbox: MemoryOutbox, ada: User, memory: Injector
) -> None:
    for amount in (1, 2, 3):
        await bus.publish(topic(ada), "tip", {"amount": amount, "from_name": "Grace"})
    in_flight = bus.events.pop(1)  # id 2 is taken, but its transaction has not committed yet
    assert await service.process_new_events() == 2
    cursor = await memory.get(MemoryCursorStore).get(EVENT_LOG, CURSOR)
    assert cursor.position == 1
    assert cursor.gap_seen_at is not None
    bus.events.insert(1, in_flight)  # it commits
    assert await service.process_new_events() == 1
    assert sorted(m.subject for m in outbox.sent) == [
        "You received a tip of 1 point",
        "You received a tip of 2 points",
        "You received a tip of 3 points",
    ]
    assert await memory.get(MemoryCursorStore).get(EVENT_LOG, CURSOR) == FeedCursor(3, None)


async def test_a_hole_that_never_fills_is_stepped_over_after_the_gap_timeout(
    service: NotificationService, bus: MemoryEventBus, clock: FrozenClock, ada: User, memory: Injector
) -> None:
    for amount in (1, 2, 3):
        await bus.publish(topic(ada), "tip", {"amount": amount, "from_name": "Grace"})
    bus.events.pop(1)  # rolled back: id 2 will never appear
    await service.process_new_events()
    clock.advance(timedelta(minutes=1))
    await service.process_new_events()
    assert (await memory.get(MemoryCursorStore).get(EVENT_LOG, CURSOR)).position == 1
    clock.advance(timedelta(minutes=1))
    assert await service.process_new_events() == 0
    assert await memory.get(MemoryCursorStore).get(EVENT_LOG, CURSOR) == FeedCursor(3, None)


async def test_events_older_than_two_days_are_passed_over(
    service: NotificationService, bus: MemoryEventBus, outbox: MemoryOutbox, clock: FrozenClock, ada: User
) -> None:
    await bus.publish(topic(ada), "tip", {"amount": 1, "from_name": "Grace"})
    bus.events[0] = replace(bus.events[0], created_at=clock.now() - timedelta(days=3))
    await bus.publish(topic(ada), "tip", {"amount": 2, "from_name": "Grace"})
    assert await service.process_new_events() == 1
    assert [m.subject for m in outbox.sent] == ["You received a tip of 2 points"]


async def test_the_mailbox_shows_a_user_their_own_mail_and_staff_all_of_it(
    service: NotificationService, bus: MemoryEventBus, ada: User, memory: Injector
) -> None:
    grace = await memory.get(AccountService).sign_up("grace@example.com", "compiler pioneer", "Grace")
    await bus.publish(topic(ada), "tip", {"amount": 1, "from_name": "Grace"})
    await bus.publish(topic(grace), "tip", {"amount": 2, "from_name": "Ada"})
    await service.process_new_events()
    mine = await service.mailbox(ada.principal())
    assert [m.to for m in mine.mails] == ["ada@example.com"]
    staff = replace(grace.principal(), is_staff=True)
    assert [m.to for m in (await service.mailbox(staff)).mails] == ["grace@example.com", "ada@example.com"]


async def test_the_cron_job_runs_every_minute_and_processes_new_events(
    memory: Injector, bus: MemoryEventBus, outbox: MemoryOutbox, ada: User
) -> None:
    [spec] = FEATURE.cron_jobs
    assert (spec.function, spec.cron, spec.timeout) == (send_notifications, "* * * * *", 60)
    await bus.publish(topic(ada), "tip", {"amount": 1, "from_name": "Grace"})
    assert await send_notifications({"injector": memory}) == 1
    assert len(outbox.sent) == 1


# -- the cursor rule on its own ---------------------------------------------------------------------

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
TIMEOUT = timedelta(minutes=2)


def test_the_cursor_moves_over_an_unbroken_run_of_ids() -> None:
    assert FeedCursor(3).advanced_over([4, 5, 6], T0, TIMEOUT) == FeedCursor(6, None)
    assert FeedCursor(3).advanced_over([], T0, TIMEOUT) == FeedCursor(3, None)


def test_the_cursor_stops_at_a_hole_and_remembers_when_it_was_first_seen() -> None:
    first = FeedCursor(3).advanced_over([4, 6, 7], T0, TIMEOUT)
    assert first == FeedCursor(4, T0)
    later = first.advanced_over([6, 7], T0 + timedelta(minutes=1), TIMEOUT)
    assert later == FeedCursor(4, T0)  # the first sighting is kept


def test_the_cursor_steps_over_a_hole_older_than_the_timeout_but_stops_at_the_next_one() -> None:
    cursor = FeedCursor(4, T0).advanced_over([6, 7, 9], T0 + TIMEOUT, TIMEOUT)
    assert cursor == FeedCursor(7, T0 + TIMEOUT)


def test_a_filled_hole_lets_the_cursor_run_on() -> None:
    assert FeedCursor(4, T0).advanced_over([5, 6, 7], T0 + timedelta(seconds=5), TIMEOUT) == FeedCursor(7, None)
