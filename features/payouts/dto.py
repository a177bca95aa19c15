"""Forms of the payouts pages."""

from __future__ import annotations

import msgspec


class RequestForm(msgspec.Struct, forbid_unknown_fields=False):
    key: str = ""
    points: str = ""  # empty: everything available — exactly as the page showed it:
    all_points: str = ""  # the points "everything available" came to
    all_amount: str = ""  # and the money they convert to, in minor units


class AccountForm(msgspec.Struct, forbid_unknown_fields=False):
    stripe_account_id: str = ""


class FailNextForm(msgspec.Struct, forbid_unknown_fields=False):
    count: str = "1"
