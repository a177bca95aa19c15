"""Forms of the studio pages."""

from __future__ import annotations

import msgspec


class NewVideoForm(msgspec.Struct, forbid_unknown_fields=False):
    title: str = ""
    description: str = ""
