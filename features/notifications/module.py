"""Wiring for notifications: ports to adapters, and what the composition root needs.

E-mail goes out by SMTP when SMTP_HOST is set; otherwise it is kept in the PostgreSQL outbox and
read on the /outbox page (local use).
"""

from __future__ import annotations

from injector import Binder, InstanceProvider, Module, provider, singleton

from core.clock import Clock
from core.db import Database, tables_in
from core.di import bind_port
from core.eventlog import CursorStore, EventLog
from core.feature import CronSpec, Feature, NavLink
from core.settings import Settings
from core.uow import UnitOfWork
from features.accounts.ports import AccountMailer
from features.accounts.service import AccountService
from features.notifications import tables as notifications_tables
from features.notifications.adapters import (
    AccountMailSender,
    MemoryDeliveryLog,
    MemoryOutbox,
    PostgresDeliveryLog,
    PostgresOutbox,
    SmtpEmailService,
)
from features.notifications.controller import OutboxController
from features.notifications.jobs import send_notifications
from features.notifications.mails import MailComposer
from features.notifications.ports import DeliveryLog, EmailService, Outbox
from features.notifications.service import CURSOR, NotificationService


class _NotificationServiceModule(Module):
    @singleton
    @provider
    def composer(self, settings: Settings) -> MailComposer:
        return MailComposer(settings.public_url)

    @singleton
    @provider
    def account_mailer(self, email: EmailService, composer: MailComposer) -> AccountMailer:
        return AccountMailSender(email, composer)

    @singleton
    @provider
    def notification_service(
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
    ) -> NotificationService:
        return NotificationService(feed, cursors, deliveries, email, outbox, accounts, composer, uow, clock)


class NotificationsModule(_NotificationServiceModule):
    @singleton
    @provider
    def outbox(self, db: Database, clock: Clock) -> Outbox:
        return PostgresOutbox(db, clock)

    @singleton
    @provider
    def email(self, settings: Settings, outbox: Outbox) -> EmailService:
        if settings.smtp_host:
            return SmtpEmailService(
                settings.smtp_host,
                settings.smtp_port,
                sender=settings.smtp_from,
                username=settings.smtp_username,
                password=settings.smtp_password,
            )
        assert isinstance(outbox, PostgresOutbox)
        return outbox

    @singleton
    @provider
    def deliveries(self, db: Database) -> DeliveryLog:
        return PostgresDeliveryLog(db)


class MemoryNotificationsModule(_NotificationServiceModule):
    def configure(self, binder: Binder) -> None:
        deliveries = MemoryDeliveryLog()
        binder.bind(MemoryDeliveryLog, to=InstanceProvider(deliveries))
        bind_port(binder, DeliveryLog, deliveries)

    @singleton
    @provider
    def memory_outbox(self, clock: Clock) -> MemoryOutbox:
        return MemoryOutbox(clock)

    @singleton
    @provider
    def outbox(self, outbox: MemoryOutbox) -> Outbox:
        return outbox

    @singleton
    @provider
    def email(self, outbox: MemoryOutbox) -> EmailService:
        return outbox


FEATURE = Feature(
    name="notifications",
    module=NotificationsModule,
    memory_module=MemoryNotificationsModule,
    route_handlers=[OutboxController],
    cron_jobs=[CronSpec(send_notifications, "* * * * *", timeout=60)],
    nav=[NavLink("Mail", "/outbox", "user", order=80)],
    event_consumers=[CURSOR],
    tables=tables_in(notifications_tables),
)
