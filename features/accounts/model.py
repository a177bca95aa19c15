"""Accounts: users, their e-mail and password rules, sessions and single-use links, and the errors
sign-up, log-in and account changes can raise."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from functools import cache
from pathlib import Path
from uuid import UUID

from core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, TooManyRequests
from core.identity import Principal
from core.text import one_line

EMAIL_PATTERN = re.compile(
    r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
MIN_PASSWORD = 8
DISPLAY_NAME_MAX = 80
MAX_PASSWORD = 256
# Stored in place of a hash when an account is erased: argon2 cannot parse it, so no password matches.
UNUSABLE_PASSWORD = "!erased"  # noqa: S105 — a marker, not a password
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parent / "common_passwords.txt"


class EmailTaken(Conflict):
    message = "An account with this e-mail already exists. Log in instead?"


class InvalidCredentials(DomainError):
    message = "That e-mail and password do not match an account."


class LoginThrottled(TooManyRequests):
    message = "Too many log-in attempts. Please wait a few minutes and try again."


class SignupThrottled(TooManyRequests):
    message = "Too many accounts were created from your network. Please try again later."


class AccountSuspended(Forbidden):
    message = "This account is suspended. Contact support if you think this is a mistake."


class UnknownAccount(NotFound):
    message = "There is no account with that e-mail."


class InvalidEmail(InvalidInput):
    message = "Enter a valid e-mail address, like name@example.com."


class WeakPassword(InvalidInput):
    message = f"Use at least {MIN_PASSWORD} characters."


class WrongPassword(InvalidInput):
    message = "That is not your current password."


class InvalidLink(DomainError):
    """A verification or reset link that is unknown, used, expired or for another address."""

    message = "This link is not valid: it may have expired or been used already. Ask for a new one."


class ResendThrottled(TooManyRequests):
    message = "We sent several links already. Please wait a few minutes before asking again."


class PasswordChecksThrottled(TooManyRequests):
    message = "Too many wrong passwords. Please wait a few minutes and try again."


class SessionNotFound(NotFound):
    message = "That session has already ended."


def normalize_email(email: str) -> str:
    """The form used for uniqueness: trimmed, its domain in ASCII (`ascii_domain`) and lower-cased."""
    return ascii_domain(email.strip()).lower()


def ascii_domain(email: str) -> str:
    """`email` with an internationalized domain written as DNS and mail servers know it (IDNA:
    "ada@bücher.example" → "ada@xn--bcher-kva.example", what browsers send from an e-mail field), so the
    address is one account however it is typed; a domain IDNA cannot encode is left for the pattern to
    refuse. The part before the @ is kept as typed."""
    local, at, domain = email.rpartition("@")
    if not at or domain.isascii():
        return email
    try:
        return f"{local}@{domain.encode('idna').decode('ascii')}"
    except UnicodeError:
        return email


def check_email(email: str) -> str:
    """The address as it is stored and mailed (trimmed, its domain in ASCII); raises InvalidEmail."""
    email = ascii_domain(email.strip())
    if len(email) > 254 or not EMAIL_PATTERN.match(email):
        raise InvalidEmail()
    return email


def check_display_name(name: str) -> str:
    """A display name on one line (`core.text.one_line`); raises InvalidInput past `DISPLAY_NAME_MAX`
    characters (cutting it would leave half a name, or an emoji without its skin tone)."""
    name = one_line(name)
    if len(name) > DISPLAY_NAME_MAX:
        raise InvalidInput(f"Keep your name to {DISPLAY_NAME_MAX} characters or fewer.")
    return name


@cache
def common_passwords() -> frozenset[str]:
    """The common-password list shipped with the product (no network), lower-cased."""
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and not line.startswith("#"))


def check_password(password: str, email: str = "") -> str:
    """A password people cannot guess from a list: long enough, not too long, not one of the
    common passwords, not the e-mail address (or its name part). Raises WeakPassword."""
    length = len(unicodedata.normalize("NFC", password))  # as it is hashed: "é" is one character
    if length < MIN_PASSWORD:
        raise WeakPassword()
    if length > MAX_PASSWORD:
        raise WeakPassword(f"Use at most {MAX_PASSWORD} characters.")
    folded = password.strip().lower()
    if folded in common_passwords():
        raise WeakPassword("This password is on the list of the most common passwords. Choose another.")
    if email and folded in (normalize_email(email), normalize_email(email).split("@", 1)[0]):
        raise WeakPassword("Your password cannot be your e-mail address.")
    return password


@dataclass(frozen=True)
class User:
    id: UUID
    email: str
    display_name: str
    password_hash: str
    is_creator: bool
    is_staff: bool
    created_at: datetime
    email_verified_at: datetime | None = None
    suspended_at: datetime | None = None
    suspension_reason: str = ""
    email_since: datetime | None = None  # when the account took its current address (None: at sign-up)

    @property
    def address_since(self) -> datetime:
        """Since when the account has had its current address: mail kept for the address before then
        was someone else's (an address an e-mail change freed can be taken by another account)."""
        return self.email_since or self.created_at

    @property
    def suspended(self) -> bool:
        return self.suspended_at is not None

    @property
    def email_normalized(self) -> str:
        return normalize_email(self.email)

    @property
    def erased(self) -> bool:
        """True once the person deleted the account (only a pseudonymous row is left)."""
        return self.password_hash == UNUSABLE_PASSWORD

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    def become_creator(self) -> User:
        return replace(self, is_creator=True)

    def principal(self) -> Principal:
        return Principal(
            self.id, self.email, self.display_name, self.is_creator, self.is_staff, email_verified=self.email_verified
        )


@dataclass(frozen=True)
class ClientInfo:
    """What the sessions page shows about the device that opened a session (nothing more is kept)."""

    browser: str = ""
    ip_prefix: str = ""

    @classmethod
    def from_request(cls, user_agent: str, ip: str) -> ClientInfo:
        return cls(browser=browser_from_user_agent(user_agent), ip_prefix=approximate_ip(ip))


@dataclass(frozen=True)
class Session:
    """A server-side session; the browser holds only the token, the store only its hash."""

    token_hash: str
    user_id: UUID
    created_at: datetime
    expires_at: datetime
    id: UUID | None = None  # names the session on the sessions page; the store assigns one if None
    last_seen_at: datetime | None = None
    browser: str = ""
    ip_prefix: str = ""


@dataclass(frozen=True)
class SessionView:
    """One line of the sessions page."""

    id: UUID
    created_at: datetime
    last_seen_at: datetime
    browser: str
    ip_prefix: str
    current: bool


class TokenPurpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 (a kind of link, not a password)


@dataclass(frozen=True)
class AccountToken:
    """A single-use link: stored by the SHA-256 of the token the mail carried."""

    token_hash: str
    user_id: UUID
    purpose: TokenPurpose
    email: str
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        return self.used_at is None and now < self.expires_at


class MailKind(StrEnum):
    VERIFY_EMAIL = "verify_email"
    EMAIL_CHANGED = "email_changed"
    RESET_PASSWORD = "reset_password"  # noqa: S105 (a kind of link, not a password)
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 (a kind of mail, not a password)


@dataclass(frozen=True)
class AccountMail:
    """A mail about the account itself, sent at once (never through the event log: links are secrets)."""

    kind: MailKind
    to: str
    name: str
    link: str = ""  # the single-use link, or a page of the product
    new_email: str = ""  # EMAIL_CHANGED: where the account's mail goes from now on
    valid_minutes: int = 0  # how long the link works


_BROWSERS = (
    ("Edg/", "Edge"),
    ("OPR/", "Opera"),
    ("Firefox/", "Firefox"),
    ("FxiOS/", "Firefox"),
    ("CriOS/", "Chrome"),
    ("Chromium/", "Chromium"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("python-httpx/", "a script (httpx)"),
)
_SYSTEMS = (
    ("iPhone", "iPhone"),
    ("iPad", "iPad"),
    ("Android", "Android"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Macintosh", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def browser_from_user_agent(user_agent: str) -> str:
    """A short, human name for a User-Agent, like "Firefox on Windows"; "Unknown browser" otherwise."""
    agent = user_agent[:512]
    if "HeadlessChrome/" in agent:
        name = "Chrome (headless)"
    else:
        name = next((label for marker, label in _BROWSERS if marker in agent), "")
    system = next((label for marker, label in _SYSTEMS if marker in agent), "")
    if not name:
        return f"Unknown browser on {system}" if system else "Unknown browser"
    return f"{name} on {system}" if system else name


def approximate_ip(ip: str) -> str:
    """The network, not the address: IPv4 to its /24, IPv6 to its /48 ("" when it is not an address)."""
    try:
        address = ipaddress.ip_address(ip.strip())
    except ValueError:
        return ""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
