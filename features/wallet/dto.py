"""Forms of the wallet pages."""

from __future__ import annotations

import msgspec


class BuyForm(msgspec.Struct, forbid_unknown_fields=False):
    pack: str = ""
    key: str = ""
    price: str = ""  # the pack's price the button showed, in minor units: the checkout asks exactly that
    currency: str = ""
    next: str = ""  # where to go back to after paying (checked with accounts' safe_next)


class ReconcileForm(msgspec.Struct, forbid_unknown_fields=False):
    since: str = ""
    until: str = ""
