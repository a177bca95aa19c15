"""Forms of the privacy pages."""

from __future__ import annotations

from core.forms import Form


class DeleteForm(Form):
    password: str = ""
    confirm: str = ""

    @property
    def confirmed(self) -> bool:
        return self.confirm in ("yes", "on", "true", "1")
