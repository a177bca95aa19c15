"""The outbox page: mail kept instead of sent (local use), newest first."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import QueryParameter
from litestar.response import Template

from core.auth import current_principal, login_required
from core.settings import Settings
from core.web import inject, query_number
from features.notifications.mails import PRODUCT_NAME
from features.notifications.model import StoredMail
from features.notifications.service import NotificationService

PER_PAGE = 20
LINK = re.compile(r"https?://[^\s<>\"']+")
LAST_PAGE = 1_000_000  # far past any real outbox; a larger page's offset would not fit PostgreSQL's bigint


class OutboxController(Controller):
    path = "/outbox"
    guards = [login_required]
    dependencies = {"notifications": inject(NotificationService)}

    @get("/", name="outbox")
    async def outbox(
        self,
        request: Request[Any, Any, Any],
        notifications: NamedDependency[NotificationService],
        page: Annotated[str | None, QueryParameter(description=f"1 to {LAST_PAGE:,}; 1 when absent")] = None,
    ) -> Template:
        number = query_number(page, name="page", minimum=1, maximum=LAST_PAGE) or 1
        viewer = current_principal(request)
        assert viewer is not None
        mail_page = await notifications.mailbox(viewer, number, PER_PAGE)
        settings: Settings = request.app.state.settings
        return Template(
            template_name="notifications/outbox.html",
            context={
                "viewer": viewer,
                "everyone": viewer.is_staff,
                "product": PRODUCT_NAME,
                "mails": [_in_utc(mail) for mail in mail_page.mails],
                "links": {mail.id: _own_links(mail.text, settings.public_url) for mail in mail_page.mails},
                "prev_url": f"/outbox?page={mail_page.page - 1}" if mail_page.has_previous else None,
                "next_url": f"/outbox?page={mail_page.page + 1}" if mail_page.has_next else None,
                "smtp_host": settings.smtp_host,
            },
        )


def _in_utc(mail: StoredMail) -> StoredMail:
    return replace(mail, created_at=mail.created_at.astimezone(UTC))


def _own_links(text: str, public_url: str) -> list[str]:
    """The links into this site a mail holds, to show as links (the text itself is shown as sent)."""
    base = public_url.rstrip("/") + "/"
    return [link for link in dict.fromkeys(LINK.findall(text)) if link.startswith(base)]
