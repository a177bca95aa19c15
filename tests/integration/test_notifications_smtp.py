"""The SMTP adapter against a local SMTP server: STARTTLS when offered, AUTH, and how refusals and an
unreachable server become permanent or temporary EmailDeliveryErrors."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from features.notifications.adapters import SmtpEmailService
from features.notifications.model import EmailDeliveryError, EmailMessage
from tests.support.smtp import LocalSmtpServer, self_signed_tls

MESSAGE = EmailMessage("ada@example.com", "Your video is ready: Trip", "Hi Ada", "<p>Hi Ada</p>")
SENDER = "Hypha <no-reply@hypha.test>"


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[tuple[LocalSmtpServer, SmtpEmailService]]:
    server_context, client_context = self_signed_tls(tmp_path)
    server = LocalSmtpServer(tls_context=server_context, credentials=("hypha", "s3cret"))
    port = await server.start()
    service = SmtpEmailService(
        "127.0.0.1", port, sender=SENDER, username="hypha", password="s3cret", tls_context=client_context
    )
    yield server, service
    await server.stop()


async def test_the_adapter_upgrades_to_tls_when_offered_and_then_logs_in(
    tls_server: tuple[LocalSmtpServer, SmtpEmailService],
) -> None:
    server, service = tls_server
    await service.send(MESSAGE)
    [received] = server.received
    assert received.tls
    assert received.login == "hypha"
    assert server.commands.index("STARTTLS") < server.commands.index("AUTH") < server.commands.index("MAIL")
    assert received.sender == "no-reply@hypha.test"
    assert received.recipients == ["ada@example.com"]
    headers = received.message
    assert headers["From"] == SENDER
    assert headers["Message-ID"].endswith("@hypha.test>")
    assert headers["Date"]
    assert received.body("plain").strip() == "Hi Ada"
    assert received.body("html").strip() == "<p>Hi Ada</p>"


async def test_a_server_without_starttls_gets_the_mail_in_plain_text() -> None:
    server = LocalSmtpServer()
    port = await server.start()
    try:
        await SmtpEmailService("127.0.0.1", port, sender=SENDER).send(MESSAGE)
    finally:
        await server.stop()
    [received] = server.received
    assert not received.tls
    assert "STARTTLS" not in server.commands


async def test_wrong_credentials_are_a_temporary_failure(tmp_path: Path) -> None:
    server_context, client_context = self_signed_tls(tmp_path)
    server = LocalSmtpServer(tls_context=server_context, credentials=("hypha", "s3cret"))
    port = await server.start()
    service = SmtpEmailService(
        "127.0.0.1", port, sender=SENDER, username="hypha", password="wrong", tls_context=client_context
    )
    try:
        with pytest.raises(EmailDeliveryError) as failure:
            await service.send(MESSAGE)
    finally:
        await server.stop()
    # The server's configuration is wrong, not the mail: retry it once an operator fixes it.
    assert not failure.value.permanent
    assert "535" in failure.value.reason
    assert server.received == []


@pytest.mark.parametrize(
    ("reply", "permanent"),
    [("550 5.1.1 no such user here", True), ("451 4.3.0 mailbox busy, try again later", False)],
)
async def test_a_refused_recipient_is_permanent_on_5xx_and_temporary_on_4xx(reply: str, permanent: bool) -> None:
    server = LocalSmtpServer(refuse={"ada@example.com": reply})
    port = await server.start()
    try:
        with pytest.raises(EmailDeliveryError) as failure:
            await SmtpEmailService("127.0.0.1", port, sender=SENDER).send(MESSAGE)
    finally:
        await server.stop()
    assert failure.value.permanent is permanent
    assert reply.split(maxsplit=1)[0] in failure.value.reason
    assert server.received == []


async def test_an_unreachable_server_is_a_temporary_failure() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    with pytest.raises(EmailDeliveryError) as failure:
        await SmtpEmailService("127.0.0.1", closed_port, sender=SENDER, timeout=2).send(MESSAGE)
    assert not failure.value.permanent
    assert "cannot reach" in failure.value.reason
