"""Forms of the accounts pages."""

from __future__ import annotations

from collections.abc import Callable

from core.errors import InvalidInput
from core.forms import FieldErrors, Form
from core.redirects import local_path, safe_redirect
from features.accounts.model import check_display_name, check_email, check_password

ASK_CURRENT = "Enter your current password."


class SignupForm(Form):
    """A valid address, a display name within its limit and a password people cannot guess; `next` is
    checked first (a 400 for control characters, before anything else is looked at)."""

    email: str = ""
    password: str = ""
    display_name: str = ""
    next: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        safe_next(self.next)  # UnsafeRedirectTarget: not a form error, the request is refused
        errors = _broken(
            {
                "email": lambda: check_email(self.email),
                "display_name": lambda: check_display_name(self.display_name),
                "password": lambda: check_password(self.password),
            }
        )
        if errors:
            raise FieldErrors(errors)


class LoginForm(Form):
    """Both fields filled in; `next` is checked first (a 400 for control characters, no attempt counted)."""

    email: str = ""
    password: str = ""
    next: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        safe_next(self.next)
        if not self.email or not self.password:
            raise FieldErrors({"form": "Enter your e-mail and password."})


class EmailChangeForm(Form):
    """A valid new address, and the current password (checked by the service) to confirm it."""

    new_email: str = ""
    email_password: str = ""  # the page's name (its password form has a current_password too)
    current_password: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        errors = _broken({"new_email": lambda: check_email(self.new_email)})
        if not self.password:
            errors["email_password"] = ASK_CURRENT
        if errors:
            raise FieldErrors(errors)

    @property
    def password(self) -> str:
        return self.email_password or self.current_password


class ResendForm(Form):
    next: str = ""


class PasswordChangeForm(Form):
    current_password: str = ""
    new_password: str = ""


class ForgotPasswordForm(Form):
    email: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        errors = _broken({"email": lambda: check_email(self.email)})
        if errors:
            raise FieldErrors(errors)


class ResetPasswordForm(Form):
    token: str = ""
    new_password: str = ""


class TokenForm(Form):
    token: str = ""
    next: str = ""  # where to go once the link is used (a local path, checked by safe_next)


def safe_next(value: str, default: str = "/me") -> str:
    """Where to send the browser after logging in or signing up: `value` if it is a same-origin path
    however a browser reads it (percent-encoded), else `default`. Raises UnsafeRedirectTarget (a 400)
    for control or non-Latin-1 characters. See core.redirects."""
    return safe_redirect(value, default)


def form_next(value: str) -> str:
    """The `next` a log-in or sign-up form carries on: a safe same-origin path, or "" (the default)."""
    return local_path(value)


def _broken(checks: dict[str, Callable[[], object]]) -> dict[str, str]:
    """The message of each field whose check raises InvalidInput."""
    errors: dict[str, str] = {}
    for field, check in checks.items():
        try:
            check()
        except InvalidInput as error:
            errors[field] = error.message
    return errors
