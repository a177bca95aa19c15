"""Moderation pages: the report form for anyone signed in, and the staff queue, case pages, actions and
audit log under /staff (staff only: the staff guard on every route)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Template

from core.auth import current_principal, login_required, staff_required
from core.errors import InvalidInput
from core.identity import Principal
from core.web import flash, inject, page_or_fragment, plural, redirect, wants_fragment
from features.moderation.dto import DecisionForm, ReportForm
from features.moderation.model import REASONS, InvalidReport, ReportsThrottled, SubjectKind
from features.moderation.service import ModerationService

REPORT_PAGE = "moderation/report.html"
REPORT_FORM = "moderation/_report_form.html"


def _me(request: Request[Any, Any, Any]) -> Principal:
    principal = current_principal(request)
    assert principal is not None  # the route's guard let only signed-in people in
    return principal


class ReportController(Controller):
    """Anyone signed in reports a video (by its public id) or a creator (by their id)."""

    path = "/report"
    guards = [login_required]
    dependencies = {"moderation": inject(ModerationService)}

    @get("/{kind:str}/{target:str}")
    async def report_page(
        self,
        request: Request[Any, Any, Any],
        kind: FromPath[str],
        target: FromPath[str],
        moderation: NamedDependency[ModerationService],
    ) -> Template:
        subject = await moderation.reportable(_me(request), kind, target)
        context = {"subject": subject, "kind": kind, "target": target, "reasons": REASONS, "form": {}, "errors": {}}
        return Template(template_name=REPORT_PAGE, context=context)

    @post("/{kind:str}/{target:str}")
    async def report(
        self,
        request: Request[Any, Any, Any],
        kind: FromPath[str],
        target: FromPath[str],
        moderation: NamedDependency[ModerationService],
        data: URLEncodedBody[ReportForm],
    ) -> Response[Any]:
        """File the report. A bad form comes back with inline errors (422); past the daily limit the
        form comes back with the limit's message (429, Retry-After). Nothing is stored then."""
        me = _me(request)
        form = data
        subject = await moderation.reportable(me, kind, target)  # 404 before anything else
        status, errors, headers = 201, {}, {}
        try:
            await moderation.report(me, kind, target, form.reason, form.details)
        except InvalidReport as error:
            status, errors = 422, error.errors
        except ReportsThrottled as error:
            status, errors = 429, {"form": error.message}
            headers = {"Retry-After": str(max(1, error.retry_after))}
        if status == 201 and not wants_fragment(request):
            return flash(redirect(subject.link, request), "Thank you. Our moderators will look at your report.")
        context = {
            "subject": subject,
            "kind": kind,
            "target": target,
            "reasons": REASONS,
            "form": {"reason": form.reason, "details": form.details},
            "errors": errors,
            "sent": status == 201,
        }
        return page_or_fragment(
            request, page=REPORT_PAGE, fragment=REPORT_FORM, context=context, status_code=status, headers=headers
        )


class StaffModerationController(Controller):
    """The staff's moderation desk: the queue, one case at a time, the actions and the audit log."""

    path = "/staff"
    guards = [staff_required]
    dependencies = {"moderation": inject(ModerationService)}

    @get("/reports")
    async def queue(self, moderation: NamedDependency[ModerationService]) -> Template:
        return Template(template_name="moderation/queue.html", context={"items": await moderation.queue()})

    @get("/reports/{kind:str}/{subject_id:uuid}")
    async def case(
        self, kind: FromPath[str], subject_id: FromPath[UUID], moderation: NamedDependency[ModerationService]
    ) -> Template:
        return await _case_page(moderation, kind, subject_id)

    @post("/reports/{kind:str}/{subject_id:uuid}/dismiss")
    async def dismiss(
        self,
        request: Request[Any, Any, Any],
        kind: FromPath[str],
        subject_id: FromPath[UUID],
        moderation: NamedDependency[ModerationService],
        data: URLEncodedBody[DecisionForm],
    ) -> Response[Any]:
        async def decide(me: Principal, reason: str) -> str:
            closed = await moderation.dismiss(me, kind, subject_id, reason)
            return f"Dismissed {plural(closed, 'report')}."

        return await _decision(request, moderation, data, kind, subject_id, "dismiss", decide, "/staff/reports")

    @post("/videos/{video_id:uuid}/take-down")
    async def take_down(
        self,
        request: Request[Any, Any, Any],
        video_id: FromPath[UUID],
        moderation: NamedDependency[ModerationService],
        data: URLEncodedBody[DecisionForm],
    ) -> Response[Any]:
        async def decide(me: Principal, reason: str) -> str:
            outcome = await moderation.take_down(me, video_id, reason)
            return (
                f"Took down “{outcome.video.title}”; refunded {plural(outcome.refunded, 'purchase')}"
                f" ({outcome.refunded_points:,} points). The creator is mailed."
            )

        return await _decision(request, moderation, data, "video", video_id, "take_down", decide)

    @post("/videos/{video_id:uuid}/restore")
    async def restore(
        self,
        request: Request[Any, Any, Any],
        video_id: FromPath[UUID],
        moderation: NamedDependency[ModerationService],
        data: URLEncodedBody[DecisionForm],
    ) -> Response[Any]:
        async def decide(me: Principal, reason: str) -> str:
            video = await moderation.restore(me, video_id, reason)
            return f"Restored “{video.title}”. Refunds already given are not taken back."

        return await _decision(request, moderation, data, "video", video_id, "restore", decide)

    @post("/accounts/{user_id:uuid}/suspend")
    async def suspend(
        self,
        request: Request[Any, Any, Any],
        user_id: FromPath[UUID],
        moderation: NamedDependency[ModerationService],
        data: URLEncodedBody[DecisionForm],
    ) -> Response[Any]:
        async def decide(me: Principal, reason: str) -> str:
            user = await moderation.suspend(me, user_id, reason)
            return f"Suspended {user.display_name}: signed out everywhere, videos hidden, payouts held."

        return await _decision(request, moderation, data, "creator", user_id, "suspend", decide)

    @post("/accounts/{user_id:uuid}/unsuspend")
    async def unsuspend(
        self,
        request: Request[Any, Any, Any],
        user_id: FromPath[UUID],
        moderation: NamedDependency[ModerationService],
        data: URLEncodedBody[DecisionForm],
    ) -> Response[Any]:
        async def decide(me: Principal, reason: str) -> str:
            user = await moderation.unsuspend(me, user_id, reason)
            return f"Lifted the suspension of {user.display_name}."

        return await _decision(request, moderation, data, "creator", user_id, "unsuspend", decide)

    @get("/audit")
    async def audit(
        self, moderation: NamedDependency[ModerationService], before: FromQuery[int | None] = None
    ) -> Template:
        if before is not None and not 0 < before < 2**62:
            before = None
        entries = await moderation.audit_page(before, 50)
        older = entries[-1].id if len(entries) == 50 else None
        return Template(template_name="moderation/audit.html", context={"entries": entries, "older": older})


async def _decision(
    request: Request[Any, Any, Any],
    moderation: ModerationService,
    form: DecisionForm,
    kind: str,
    subject_id: UUID,
    action: str,
    decide: Callable[[Principal, str], Awaitable[str]],
    then: str | None = None,
) -> Response[Any]:
    """One staff decision on a case: `decide` takes the staff member and the form's reason and returns
    the confirmation to flash; refused input re-renders the case page with the error beside `action`'s
    form (422). Afterwards the browser goes to `then`, by default back to the case."""
    try:
        message = await decide(_me(request), form.reason)
    except InvalidInput as error:
        return await _case_page(moderation, kind, subject_id, {action: error.message}, form.reason)
    return flash(redirect(then or f"/staff/reports/{kind}/{subject_id}", request), message)


async def _case_page(
    moderation: ModerationService,
    kind: str,
    subject_id: UUID,
    errors: dict[str, str] | None = None,
    reason: str = "",
) -> Template:
    case = await moderation.case(kind, subject_id)
    context = {"case": case, "errors": errors or {}, "reason": reason, "kinds": SubjectKind}
    return Template(template_name="moderation/case.html", context=context, status_code=422 if errors else 200)
