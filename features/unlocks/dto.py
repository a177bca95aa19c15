"""Forms of the video page and the pricing page."""

from __future__ import annotations

from core.forms import Form


class UnlockForm(Form):
    offer: str = ""
    key: str = ""
    price: str = ""  # the price the button showed; only that exact price is ever charged


class TipForm(Form):
    amount: str = ""
    message: str = ""
    key: str = ""


class PricingForm(Form):
    free: str = ""
    rent_day: str = ""
    rent_month: str = ""
    lifetime: str = ""
    preview_seconds: str = ""

    @property
    def is_free(self) -> bool:
        return self.free.lower() in ("on", "true", "1", "yes")
