"""Forms of moderation pages (msgspec at the edge)."""

from __future__ import annotations

import msgspec


class ReportForm(msgspec.Struct, kw_only=True):
    reason: str = ""
    details: str = ""


class DecisionForm(msgspec.Struct, kw_only=True):
    """A staff action: the reason (required for take-down and suspension) or a note."""

    reason: str = ""
