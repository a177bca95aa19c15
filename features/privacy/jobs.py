"""saq jobs of privacy: thin — fetch the services from the worker's injector and call them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from core.worker import injector_from
from features.privacy.model import ExportStatus
from features.privacy.service import ErasureService, ExportService


async def build_export(ctx: dict[str, Any], *, export_id: str) -> dict[str, str]:
    """Queued when a person asks for their data: write the ZIP, store it, mail the link."""
    export = await injector_from(ctx).get(ExportService).build(UUID(export_id))
    return {"status": export.status.value if export else ExportStatus.FAILED.value}


async def expire_exports(ctx: dict[str, Any]) -> dict[str, int]:
    """Every 10 minutes: delete the files of exports past their expiry, queue again the exports whose
    job was lost with a killed process, and remove the work folders killed builds left behind."""
    exports = injector_from(ctx).get(ExportService)
    return {
        "expired": await exports.expire_due(),
        "resumed": await exports.resume_pending(),
        "folders_removed": await exports.sweep_work_folders(),
    }


async def purge_erased_content(ctx: dict[str, Any]) -> dict[str, int]:
    """Every hour: remove the content of deleted creators whose grace period has passed."""
    return {"purged": await injector_from(ctx).get(ErasureService).purge_due()}
