"""Forms of the wallet pages."""

from __future__ import annotations

from core.forms import Form


class BuyForm(Form):
    pack: str = ""
    key: str = ""
    price: str = ""  # the pack's price the button showed, in minor units: the checkout asks exactly that
    currency: str = ""
    next: str = ""  # where to go back to after paying (checked with accounts' safe_next)


class ReconcileForm(Form):
    since: str = ""
    until: str = ""
