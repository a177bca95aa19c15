"""Forms of the studio pages."""

from __future__ import annotations

from core.forms import Form


class NewVideoForm(Form):
    title: str = ""
    description: str = ""


class QuotaForm(Form):
    """Staff's override of one creator's quotas, in whole megabytes (MiB); blank keeps the default."""

    storage_mb: str = ""
    daily_upload_mb: str = ""


class ChaptersForm(Form):
    """The chapters of a video, one `time title` per line (blank: none; the description's apply)."""

    chapters: str = ""
