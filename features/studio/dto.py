"""Forms of the studio pages."""

from __future__ import annotations

import msgspec


class NewVideoForm(msgspec.Struct, forbid_unknown_fields=False):
    title: str = ""
    description: str = ""


class QuotaForm(msgspec.Struct, forbid_unknown_fields=False):
    """Staff's override of one creator's quotas, in whole megabytes (MiB); blank keeps the default."""

    storage_mb: str = ""
    daily_upload_mb: str = ""
