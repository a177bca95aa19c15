"""Pages of privacy: /me/export (ask for and download a copy of your data) and /me/delete."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Stream, Template

from core.auth import current_principal, login_required
from core.identity import Principal
from core.web import flash, inject, page_or_fragment, redirect, set_session_cookie
from features.payouts.model import PayoutPending
from features.privacy.dto import DeleteForm
from features.privacy.model import ExportStatus, NotConfirmed, StaffAccount, TooManyAttempts, WrongPassword
from features.privacy.service import ErasureService, ExportService

NO_STORE = {"Cache-Control": "no-store"}


def _me(request: Request[Any, Any, Any]) -> Principal:
    principal = current_principal(request)
    assert principal is not None  # login_required ran
    return principal


class PrivacyController(Controller):
    guards = [login_required]
    dependencies = {"exports": inject(ExportService), "erasures": inject(ErasureService)}

    @get("/me/export")
    async def export_page(self, request: Request[Any, Any, Any], exports: NamedDependency[ExportService]) -> Template:
        me = _me(request)
        found = await exports.exports_of(me.id)
        context = {
            "user": me,
            "exports": found,
            "preparing": any(e.status is ExportStatus.PENDING for e in found),
            "ttl_hours": int(exports.policy.export_ttl.total_seconds() // 3600),
        }
        return page_or_fragment(
            request, page="privacy/export.html", fragment="privacy/_exports.html", context=context, headers=NO_STORE
        )

    @post("/me/export")
    async def request_export(
        self, request: Request[Any, Any, Any], exports: NamedDependency[ExportService]
    ) -> Response[Any]:
        await exports.request(_me(request).id)
        message = "We are preparing your data. We will e-mail you a download link when it is ready."
        return flash(redirect("/me/export", request), message, "info")

    @get("/me/export/{export_id:uuid}/download")
    async def download(
        self, request: Request[Any, Any, Any], exports: NamedDependency[ExportService], export_id: FromPath[UUID]
    ) -> Stream:
        found = await exports.download(_me(request).id, export_id)
        return Stream(
            found.chunks,
            media_type="application/zip",
            headers={
                "Content-Disposition": f'attachment; filename="{found.filename}"',
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
            },
        )

    @get("/me/delete")
    async def delete_page(self, request: Request[Any, Any, Any], erasures: NamedDependency[ErasureService]) -> Template:
        me = _me(request)
        return await _delete_page(request, erasures, me, {}, 200)

    @post("/me/delete")
    async def delete(
        self,
        request: Request[Any, Any, Any],
        erasures: NamedDependency[ErasureService],
        data: URLEncodedBody[DeleteForm],
    ) -> Response[Any]:
        me = _me(request)
        errors: dict[str, str] = {}
        try:
            await erasures.delete_account(me.id, data.password, data.confirmed)
        except WrongPassword as error:
            errors = {"password": error.message}
        except NotConfirmed as error:
            errors = {"confirm": error.message}
        except (PayoutPending, StaffAccount) as error:
            return await _delete_page(request, erasures, me, {"form": error.message}, 409)
        except TooManyAttempts as error:
            page = await _delete_page(request, erasures, me, {"form": error.message}, 429)
            page.headers["Retry-After"] = str(max(1, error.retry_after))
            return page
        if errors:
            return await _delete_page(request, erasures, me, errors, 422)
        response = redirect("/", request)
        set_session_cookie(response, request, None)
        return flash(response, "Your account was deleted. Thank you for having been with us.", "info")


async def _delete_page(
    request: Request[Any, Any, Any], erasures: ErasureService, me: Principal, errors: dict[str, str], status: int
) -> Template:
    plan = await erasures.plan(me.id)
    context = {"user": me, "plan": plan, "errors": errors}
    return page_or_fragment(
        request,
        page="privacy/delete.html",
        fragment="privacy/_delete_form.html",
        context=context,
        status_code=status,
        headers=NO_STORE,
    )
