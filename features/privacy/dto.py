"""Forms of the privacy pages."""

from __future__ import annotations

import msgspec


class DeleteForm(msgspec.Struct, forbid_unknown_fields=False):
    password: str = ""
    confirm: str = ""

    @property
    def confirmed(self) -> bool:
        return self.confirm in ("yes", "on", "true", "1")
