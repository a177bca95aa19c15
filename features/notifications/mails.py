"""Writing the mails: Jinja2 templates (a plain-text body and a simple HTML alternative) per mail kind,
with the product name and links into the product built from the public URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from features.accounts.model import AccountMail
from features.accounts.model import MailKind as AccountMailKind
from features.notifications.model import (
    EmailMessage,
    MailKind,
    Notification,
    format_money,
    format_points,
    subject_for,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"
PRODUCT_NAME = "Hypha"

# Where each mail points the reader (paths owned by other features; kept together here).
LINKS: dict[MailKind, str] = {
    MailKind.VIDEO_READY: "/studio",
    MailKind.VIDEO_FAILED: "/studio",
    MailKind.PURCHASE_RECEIPT: "/wallet",
    MailKind.TIP_RECEIVED: "/studio",
    MailKind.PAYOUT_PAID: "/studio/payouts",
    MailKind.VIDEO_TAKEN_DOWN: "/studio",
    MailKind.ACCOUNT_SUSPENDED: "/",
    MailKind.EXPORT_READY: "/me/export",
    MailKind.MEMBERSHIP: "/wallet",
}
CREATOR_PATH = "/c/{creator_id}"
EXPORT_PATH = "/me/export/{export_id}/download"
WATCH_PATH = "/v/{public_id}"
ACCOUNT_SUBJECTS: dict[AccountMailKind, str] = {
    AccountMailKind.VERIFY_EMAIL: "Confirm your e-mail address for {product}",
    AccountMailKind.EMAIL_CHANGED: "The e-mail address of your {product} account was changed",
    AccountMailKind.RESET_PASSWORD: "Reset your {product} password",
    AccountMailKind.PASSWORD_CHANGED: "Your {product} password was changed",
}


class MailComposer:
    """Turns a Notification into an EmailMessage for one recipient."""

    def __init__(self, public_url: str, product_name: str = PRODUCT_NAME) -> None:
        self.public_url = public_url.rstrip("/")
        self.product_name = product_name
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self.env.filters["money"] = format_money
        self.env.filters["points"] = format_points

    def link_for(self, notification: Notification) -> str:
        public_id = notification.facts.get("public_id")
        if notification.kind is MailKind.VIDEO_READY and public_id:
            return self.public_url + WATCH_PATH.format(public_id=quote(str(public_id), safe=""))
        export_id = notification.facts.get("export_id")
        if notification.kind is MailKind.EXPORT_READY and export_id:
            return self.public_url + EXPORT_PATH.format(export_id=quote(str(export_id), safe=""))
        creator_id = notification.facts.get("creator_id")
        if notification.kind is MailKind.MEMBERSHIP and creator_id:
            return self.public_url + CREATOR_PATH.format(creator_id=quote(str(creator_id), safe=""))
        return self.public_url + LINKS[notification.kind]

    def compose(self, notification: Notification, to: str, recipient_name: str) -> EmailMessage:
        context: dict[str, Any] = {
            **notification.facts,
            "product": self.product_name,
            "name": recipient_name,
            "link": self.link_for(notification),
            "home": self.public_url + "/",
        }
        subject = subject_for(notification)
        context["subject"] = subject
        base = f"notifications/mail/{notification.kind.value}"
        text = self.env.get_template(f"{base}.txt").render(context)
        html = self.env.get_template(f"{base}.html").render(context)
        return EmailMessage(to=to, subject=subject, text=text, html=html)

    def compose_account(self, mail: AccountMail) -> EmailMessage:
        """A mail about the account itself (its link is a secret: it only ever goes into this mail)."""
        subject = ACCOUNT_SUBJECTS[mail.kind].format(product=self.product_name)
        context: dict[str, Any] = {
            "product": self.product_name,
            "name": mail.name,
            "to": mail.to,
            "link": mail.link or self.public_url + "/",
            "home": self.public_url + "/",
            "subject": subject,
            "new_email": mail.new_email,
            "valid_minutes": mail.valid_minutes,
            "valid_hours": mail.valid_minutes // 60,
        }
        base = f"notifications/mail/{mail.kind.value}"
        text = self.env.get_template(f"{base}.txt").render(context)
        html = self.env.get_template(f"{base}.html").render(context)
        return EmailMessage(to=mail.to, subject=subject, text=text, html=html)
