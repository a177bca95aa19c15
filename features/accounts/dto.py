"""Forms of the accounts pages."""

from __future__ import annotations

import msgspec

from core.redirects import local_path, safe_redirect


class SignupForm(msgspec.Struct, forbid_unknown_fields=False):
    email: str = ""
    password: str = ""
    display_name: str = ""
    next: str = ""


class LoginForm(msgspec.Struct, forbid_unknown_fields=False):
    email: str = ""
    password: str = ""
    next: str = ""


class EmailChangeForm(msgspec.Struct, forbid_unknown_fields=False):
    new_email: str = ""
    email_password: str = ""  # the page's name (its password form has a current_password too)
    current_password: str = ""

    @property
    def password(self) -> str:
        return self.email_password or self.current_password


class ResendForm(msgspec.Struct, forbid_unknown_fields=False):
    next: str = ""


class PasswordChangeForm(msgspec.Struct, forbid_unknown_fields=False):
    current_password: str = ""
    new_password: str = ""


class ForgotPasswordForm(msgspec.Struct, forbid_unknown_fields=False):
    email: str = ""


class ResetPasswordForm(msgspec.Struct, forbid_unknown_fields=False):
    token: str = ""
    new_password: str = ""


class TokenForm(msgspec.Struct, forbid_unknown_fields=False):
    token: str = ""


def safe_next(value: str, default: str = "/me") -> str:
    """Where to send the browser after logging in or signing up: `value` if it is a same-origin path
    however a browser reads it (percent-encoded), else `default`. Raises UnsafeRedirectTarget (a 400)
    for control or non-Latin-1 characters. See core.redirects."""
    return safe_redirect(value, default)


def form_next(value: str) -> str:
    """The `next` a log-in or sign-up form carries on: a safe same-origin path, or "" (the default)."""
    return local_path(value)
