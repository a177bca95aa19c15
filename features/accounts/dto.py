"""Forms of the accounts pages."""

from __future__ import annotations

import msgspec


class SignupForm(msgspec.Struct, forbid_unknown_fields=False):
    email: str = ""
    password: str = ""
    display_name: str = ""
    next: str = ""


class LoginForm(msgspec.Struct, forbid_unknown_fields=False):
    email: str = ""
    password: str = ""
    next: str = ""


def safe_next(value: str, default: str = "/me") -> str:
    """Only same-site relative paths; anything else would be an open redirect."""
    if value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return default
