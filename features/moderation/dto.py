"""Forms of moderation pages (msgspec at the edge)."""

from __future__ import annotations

from core.forms import Form


class ReportForm(Form, kw_only=True):
    reason: str = ""
    details: str = ""


class DecisionForm(Form, kw_only=True):
    """A staff action: the reason (required for take-down and suspension) or a note."""

    reason: str = ""
