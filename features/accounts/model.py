"""Accounts: users, their e-mail and password rules, and the errors sign-up and log-in can raise."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from core.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, TooManyRequests
from core.identity import Principal

EMAIL_PATTERN = re.compile(
    r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
MIN_PASSWORD = 8
MAX_PASSWORD = 256


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


def normalize_email(email: str) -> str:
    """The form used for uniqueness: trimmed and lower-cased."""
    return email.strip().lower()


def check_email(email: str) -> str:
    email = email.strip()
    if len(email) > 254 or not EMAIL_PATTERN.match(email):
        raise InvalidEmail()
    return email


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise WeakPassword()
    if len(password) > MAX_PASSWORD:
        raise WeakPassword(f"Use at most {MAX_PASSWORD} characters.")
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
    suspended_at: datetime | None = None
    suspension_reason: str = ""

    @property
    def suspended(self) -> bool:
        return self.suspended_at is not None

    @property
    def email_normalized(self) -> str:
        return normalize_email(self.email)

    def become_creator(self) -> User:
        return replace(self, is_creator=True)

    def principal(self) -> Principal:
        return Principal(self.id, self.email, self.display_name, self.is_creator, self.is_staff)


@dataclass(frozen=True)
class Session:
    """A server-side session; the browser holds only the token, the store only its hash."""

    token_hash: str
    user_id: UUID
    created_at: datetime
    expires_at: datetime
