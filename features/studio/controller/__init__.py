"""The studio's web edge, by story: the studio page (videos), the tus endpoint (tus), staff quotas (quotas)."""

from __future__ import annotations

from features.studio.controller.quotas import StaffQuotaController
from features.studio.controller.tus import TusController
from features.studio.controller.videos import StudioController

__all__ = ["StaffQuotaController", "StudioController", "TusController"]
