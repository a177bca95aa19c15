"""Forms of the sandbox vendor's console."""

from __future__ import annotations

from core.forms import Form


class RefundForm(Form):
    amount_minor: str = ""  # empty: the whole payment; read strictly (core.numbers)
    idempotency_key: str = ""


class DisputeForm(Form):
    idempotency_key: str = ""
