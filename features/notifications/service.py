"""Notifications: turn the events other features publish into mail, each mail once.

Event contract (published by other features on the EventBus, topic "user:<uuid>" of the person the
mail is for; stored durably in core's `event_log`):

- name "video", data {"video_id", "state", "title", "reason"?, "public_id"?}
    state "READY"  → "Your video is ready: <title>" (links to /v/<public_id> when given, else /studio)
    state "FAILED" → "Processing failed: <title>" (with the reason when given)
    "upgrade": true → a video that already plays got a higher rendition: no mail again, unless it
    carries "upgrade_failure" (state READY or PUBLISHED) → "Processing failed: <title>", saying it still plays
    any other state (the same name carries live progress figures) → no mail
- name "purchase", data {"points", "amount_minor", "currency", "pack", "payment_ref"} → a receipt
- name "tip", data {"amount", "from_name", "message"?, "video_title"?} → "You received a tip of …"
- name "payout", data {"state", "points", "amount_minor", "currency", "payout_id"}
    state "PAID" → "Your payout was paid: …"; any other state → no mail
- name "export", data {"export_id", "expires"?} → "Your data export is ready" (links to the download,
    which only the account's own session may use; "expires" is shown as given)
- name "moderation", data {"state", "reason", "title"?}
    state "TAKEN_DOWN" → "Your video was taken down: <title>" with the moderators' reason
    state "SUSPENDED"  → "Your Hypha account is suspended" with the reason
- name "membership", data {"state", "tier", "creator", "creator_id", "points", "renews_on", "grace_until"}
    state "RENEWS_SOON" / "LAPSED" / "ENDED" → the renewal reminder, the lapse (with the end of the
    grace period), the end of the membership (features/memberships)

Points and amounts are whole numbers (amounts in minor units of `currency`). Other names, other
topics and events older than the policy's `stale_after` send nothing. An event with a name and state
above but unusable data is recorded as given up, with the reason.

Delivery: at least once per event, exactly once per mail as far as the outbox can tell. A
delivery record keyed by event id is written in the same transaction as the send (for the outbox
adapter, the same database transaction as the stored mail); a re-run skips recorded events. A
temporary failure is retried on later runs after growing delays; a permanent one (bad address, 5xx)
or too many attempts is given up, with the reason kept.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

from core.clock import Clock
from core.eventlog import EVENT_LOG, CursorStore, EventLog
from core.events import Event
from core.identity import Principal
from core.uow import UnitOfWork
from features.accounts.service import AccountService
from features.notifications.mails import MailComposer
from features.notifications.model import (
    MAIL_EVENTS,
    Delivery,
    DeliveryPolicy,
    DeliveryStatus,
    EmailDeliveryError,
    InvalidEvent,
    MailKind,
    MailPage,
    notification_for,
    recipient_of,
)
from features.notifications.ports import DeliveryLog, EmailService, Outbox

log = logging.getLogger(__name__)

CURSOR = "notifications"  # this feature's consumer name in core's event log
FORMER_MEMBER = "A former member"
READ_SIZE = 1000  # ids read per query; progress events are many, mail-worthy ones few
MAX_READS = 20  # per run, so a run stays well inside its job timeout


class NotificationService:
    def __init__(
        self,
        feed: EventLog,
        cursors: CursorStore,
        deliveries: DeliveryLog,
        email: EmailService,
        outbox: Outbox,
        accounts: AccountService,
        composer: MailComposer,
        uow: UnitOfWork,
        clock: Clock,
        policy: DeliveryPolicy | None = None,
    ) -> None:
        self.feed = feed
        self.cursors = cursors
        self.deliveries = deliveries
        self.email = email
        self.outbox = outbox
        self.accounts = accounts
        self.composer = composer
        self.uow = uow
        self.clock = clock
        self.policy = policy or DeliveryPolicy()

    async def process_new_events(self, limit: int = 200, time_budget: timedelta = timedelta(seconds=40)) -> int:
        """Send the mail called for by events since the last run, and retry earlier failures that are
        due. At most `limit` new events and `limit` retries are handled per call, and no new send
        starts once `time_budget` has passed (a slow SMTP server must not push the run past its job
        timeout, which would cancel a send half-recorded). Returns the number of mails sent.

        Errors other than EmailDeliveryError (the database is down, say) propagate; nothing past the
        last committed delivery is lost, and the next run picks up from the saved cursor.
        """
        deadline = self.clock.now() + time_budget
        sent = await self._retry_due(limit, deadline)
        return sent + await self._send_for_new_events(limit, deadline)

    async def mailbox(self, viewer: Principal, page: int = 1, per_page: int = 20) -> MailPage:
        """Mail in the outbox, newest first: staff see all of it, anyone else the mail sent to their
        address since their account has had it (an address freed by an e-mail change may be taken by
        another account, which must not read what was kept for the former owner)."""
        if viewer.is_staff:
            return await self.outbox.page(None, max(1, page), per_page)
        user = await self.accounts.get_user(viewer.id)
        if user is None:
            return MailPage([], max(1, page), has_next=False)
        return await self.outbox.page(user.email, max(1, page), per_page, since=user.address_since)

    async def forget_person(
        self, user_id: UUID, email: str, replacements: Mapping[str, str], mentioned_to: Collection[UUID]
    ) -> None:
        """Erase a person from the mail records: the mail kept for their address is deleted, their
        delivery records lose address and content (mail not yet sent is given up), and in the tip mails
        sent to `mentioned_to` (the creators they tipped) each text of `replacements` (their name, their
        messages) is replaced, longest first. Runs inside the caller's unit of work; idempotent."""
        async with self.uow.atomic():
            await self.outbox.forget_recipient(email)
            await self.deliveries.forget_user(user_id, "the recipient deleted their account")
            if not mentioned_to:
                return
            creators = await self.accounts.users_by_id(list(mentioned_to))
            addresses = [user.email for user in creators.values()]
            for text in sorted((t for t in replacements if t), key=len, reverse=True):
                await self.outbox.redact(addresses, text, replacements[text])
                await self.deliveries.redact(list(mentioned_to), MailKind.TIP_RECEIVED.value, text, replacements[text])

    # -- new events ---------------------------------------------------------------------------------

    async def _send_for_new_events(self, limit: int, deadline: datetime) -> int:
        # Not `EventLog.batch`: each mail commits with its own delivery record (an SMTP send cannot be
        # rolled back, so one transaction per batch would resend mail after a failure). The delivery
        # records keep mail to once per event; the cursor only saves re-reading.
        cursor = await self.cursors.get(EVENT_LOG, CURSOR)
        read_from = cursor.position
        ids_done: list[int] = []
        handled = sent = 0
        for _ in range(MAX_READS):
            page = await self.feed.read(read_from, MAIL_EVENTS, READ_SIZE)
            if not page.ids:
                break
            known = await self.deliveries.known([event.id for event in page.events])
            stopped_before: int | None = None
            for event in page.events:
                if event.id in known:
                    continue
                if handled >= limit or self.clock.now() >= deadline:
                    stopped_before = event.id
                    break
                handled += 1
                sent += await self._handle_new(event)
            if stopped_before is not None:
                ids_done.extend(i for i in page.ids if i < stopped_before)
                break
            ids_done.extend(page.ids)
            read_from = page.ids[-1]
            if len(page.ids) < READ_SIZE:
                break
        moved = cursor.advanced_over(ids_done, self.clock.now(), self.policy.gap_timeout)
        if moved != cursor:
            await self.cursors.save(EVENT_LOG, CURSOR, moved)
        return sent

    async def _handle_new(self, event: Event) -> int:
        now = self.clock.now()
        if now - event.created_at > self.policy.stale_after:
            log.info("event %s is too old to mail about; passed over", event.id)
            return 0
        try:
            notification = notification_for(event)
        except InvalidEvent as error:
            record = Delivery(event.id, recipient_of(event.topic), event.name, None, DeliveryStatus.PENDING)
            async with self.uow.atomic():
                if await self.deliveries.reserve(record):
                    await self.deliveries.save(record.gave_up(f"unusable {event.name!r} event: {error}"))
            return 0
        if notification is None:
            return 0
        record = Delivery(event.id, notification.user_id, notification.kind.value, None, DeliveryStatus.PENDING)
        user = await self.accounts.get_user(notification.user_id)
        async with self.uow.atomic():
            if not await self.deliveries.reserve(record):
                return 0  # another run got there first
            if user is None or user.erased:
                await self.deliveries.save(record.gave_up("the recipient has no account"))
                return 0
            message = self.composer.compose(notification, user.email, user.display_name)
            return await self._attempt(replace(record, message=message), now)

    # -- retries ------------------------------------------------------------------------------------

    async def _retry_due(self, limit: int, deadline: datetime) -> int:
        sent = 0
        for event_id in await self.deliveries.due(self.clock.now(), limit):
            now = self.clock.now()
            if now >= deadline:
                break
            async with self.uow.atomic():
                delivery = await self.deliveries.claim_due(event_id, now)
                if delivery is None:
                    continue
                if delivery.message is None:
                    await self.deliveries.save(delivery.gave_up("no message was recorded"))
                    continue
                sent += await self._attempt(delivery, now)
        return sent

    async def _attempt(self, delivery: Delivery, now: datetime) -> int:
        """One try at sending, inside the caller's transaction; the outcome is saved either way."""
        assert delivery.message is not None
        try:
            await self.email.send(delivery.message)
        except EmailDeliveryError as error:
            outcome = delivery.failed(error, now, self.policy)
            log.warning(
                "mail for event %s not sent (attempt %s, %s): %s",
                delivery.event_id,
                outcome.attempts,
                outcome.status.value,
                error.reason,
            )
            await self.deliveries.save(outcome)
            return 0
        await self.deliveries.save(delivery.sent(now))
        return 1
