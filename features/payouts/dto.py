"""Forms of the payouts pages."""

from __future__ import annotations

import msgspec


class RequestForm(msgspec.Struct, forbid_unknown_fields=False):
    key: str = ""
    points: str = ""  # empty: everything available


class AccountForm(msgspec.Struct, forbid_unknown_fields=False):
    stripe_account_id: str = ""


class FailNextForm(msgspec.Struct, forbid_unknown_fields=False):
    count: str = "1"
