"""Forms of the payouts pages."""

from __future__ import annotations

from core.forms import Form


class RequestForm(Form):
    key: str = ""
    points: str = ""  # empty: everything available — exactly as the page showed it:
    all_points: str = ""  # the points "everything available" came to
    all_amount: str = ""  # and the money they convert to, in minor units


class AccountForm(Form):
    stripe_account_id: str = ""


class FailNextForm(Form):
    count: str = "1"
