"""A small SMTP server on 127.0.0.1 for tests: EHLO/HELO, STARTTLS, AUTH PLAIN, MAIL, RCPT, DATA, RSET,
NOOP, QUIT. It records every message it accepts, and can refuse chosen recipients with a given reply."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import email
import email.message
import email.policy
import ipaddress
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    data: bytes
    tls: bool
    login: str | None

    @property
    def message(self) -> email.message.EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, email.message.EmailMessage)
        return parsed

    def body(self, subtype: str) -> str:
        part = self.message.get_body(preferencelist=(subtype,))
        assert part is not None, f"no text/{subtype} part"
        content = part.get_content()  # type: ignore[attr-defined]
        assert isinstance(content, str)
        return content


@dataclass
class LocalSmtpServer:
    tls_context: ssl.SSLContext | None = None
    credentials: tuple[str, str] | None = None
    refuse: dict[str, str] = field(default_factory=dict)  # address -> reply, e.g. "550 5.1.1 no such user"
    received: list[ReceivedMail] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        tls = False
        login: str | None = None
        sender: str | None = None
        recipients: list[str] = []

        async def reply(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        await reply("220 localhost ESMTP hypha-test")
        try:
            while True:
                raw = await reader.readline()
                if not raw:
                    return
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                verb, _, arg = line.partition(" ")
                verb = verb.upper()
                self.commands.append(verb)
                if verb == "EHLO":
                    features = ["localhost", "8BITMIME", "SMTPUTF8", "SIZE 10485760"]
                    if self.tls_context is not None and not tls:
                        features.append("STARTTLS")
                    if self.credentials is not None:
                        features.append("AUTH PLAIN")
                    for extension in features[:-1]:
                        await reply(f"250-{extension}")
                    await reply(f"250 {features[-1]}")
                elif verb == "HELO":
                    await reply("250 localhost")
                elif verb == "STARTTLS" and self.tls_context is not None and not tls:
                    await reply("220 2.0.0 Ready to start TLS")
                    await writer.start_tls(self.tls_context)
                    tls, sender, recipients = True, None, []
                elif verb == "AUTH" and self.credentials is not None:
                    mechanism, _, initial = arg.partition(" ")
                    if mechanism.upper() != "PLAIN":
                        await reply("504 5.5.4 mechanism not supported")
                        continue
                    if not initial:
                        await reply("334 ")
                        initial = (await reader.readline()).decode().strip()
                    _, user, password = base64.b64decode(initial).decode().split("\0")
                    if (user, password) == self.credentials:
                        login = user
                        await reply("235 2.7.0 Authentication successful")
                    else:
                        await reply("535 5.7.8 Authentication credentials invalid")
                elif verb == "MAIL":
                    if self.credentials is not None and login is None:
                        await reply("530 5.7.0 Authentication required")
                        continue
                    sender, recipients = _address(arg), []
                    await reply("250 2.1.0 OK")
                elif verb == "RCPT":
                    address = _address(arg)
                    if address.lower() in self.refuse:
                        await reply(self.refuse[address.lower()])
                        continue
                    recipients.append(address)
                    await reply("250 2.1.5 OK")
                elif verb == "DATA":
                    if sender is None or not recipients:
                        await reply("503 5.5.1 need MAIL and RCPT first")
                        continue
                    await reply("354 End data with <CR><LF>.<CR><LF>")
                    lines: list[bytes] = []
                    while (chunk := await reader.readline()) not in (b".\r\n", b".\n", b""):
                        lines.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                    self.received.append(ReceivedMail(sender, recipients, b"".join(lines), tls, login))
                    sender, recipients = None, []
                    await reply("250 2.0.0 OK queued")
                elif verb == "RSET":
                    sender, recipients = None, []
                    await reply("250 2.0.0 OK")
                elif verb == "NOOP":
                    await reply("250 2.0.0 OK")
                elif verb == "QUIT":
                    await reply("221 2.0.0 Bye")
                    return
                else:
                    await reply("502 5.5.2 command not recognized")
        except (ConnectionError, ssl.SSLError):
            return
        finally:
            writer.close()


def _address(arg: str) -> str:
    """`FROM:<a@b> SIZE=12` → a@b"""
    start, end = arg.find("<"), arg.find(">")
    return arg[start + 1 : end] if 0 <= start < end else arg.partition(":")[2].strip()


def self_signed_tls(directory: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A certificate for 127.0.0.1 and localhost: the server's TLS context, and a client context that
    trusts exactly that certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_path, key_path)
    client = ssl.create_default_context(cafile=str(cert_path))
    return server, client
