"""Staff: one creator's storage quota and daily upload allowance."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Template

from core.auth import staff_required
from core.web import flash, inject, redirect
from features.studio.dto import QuotaForm
from features.studio.model import (
    size_text,
)
from features.studio.service import StudioService

MB = 1024 * 1024
MAX_QUOTA_MB = 1024 * 1024 * 1024  # 1 EiB: far above any disk, well inside bigint


def _quota_field(value: str, label: str, errors: dict[str, str], name: str) -> int | None:
    """Whole megabytes as bytes; blank is None (the default). Adds an inline error for anything else."""
    if value == "":
        return None
    if not value.isascii() or not value.isdigit() or int(value) > MAX_QUOTA_MB:
        errors[name] = f"{label} must be a whole number of megabytes (0 to {MAX_QUOTA_MB}), or blank for the default."
        return None
    return int(value) * MB


class StaffQuotaController(Controller):
    """Staff: see and override one creator's storage quota and daily upload allowance."""

    path = "/staff/quotas"
    guards = [staff_required]
    dependencies = {"studio": inject(StudioService)}

    @get("/{creator_id:uuid}")
    async def quota_page(self, studio: NamedDependency[StudioService], creator_id: FromPath[UUID]) -> Template:
        return await self._page(studio, creator_id, {}, {})

    @post("/{creator_id:uuid}")
    async def set_quota(
        self,
        request: Request[Any, Any, Any],
        studio: NamedDependency[StudioService],
        creator_id: FromPath[UUID],
        data: URLEncodedBody[QuotaForm],
    ) -> Response[Any]:
        form = data
        errors: dict[str, str] = {}
        storage = _quota_field(form.storage_mb, "Storage", errors, "storage_mb")
        daily = _quota_field(form.daily_upload_mb, "Daily uploads", errors, "daily_upload_mb")
        values = {"storage_mb": form.storage_mb, "daily_upload_mb": form.daily_upload_mb}
        if errors:
            return await self._page(studio, creator_id, values, errors, status=422)
        await studio.set_quota(creator_id, storage, daily)
        return flash(redirect(f"/staff/quotas/{creator_id}", request), "The quota was saved.")

    async def _page(
        self,
        studio: StudioService,
        creator_id: UUID,
        form: dict[str, str],
        errors: dict[str, str],
        status: int = 200,
    ) -> Template:
        usage = await studio.quota_usage(creator_id)
        storage, daily = await studio.quotas.override(creator_id)
        shown = {
            "storage_mb": "" if storage is None else str(storage // MB),
            "daily_upload_mb": "" if daily is None else str(daily // MB),
            **form,
        }
        return Template(
            template_name="studio/staff_quota.html",
            context={
                "creator_id": creator_id,
                "quota": usage,
                "defaults": studio.policy.quota,
                "form": shown,
                "errors": errors,
                "size_text": size_text,
            },
            status_code=status,
        )
