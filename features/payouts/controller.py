"""The payouts pages: a creator's /studio/payouts (what is available, on hold, the request button, the
Stripe account, the statement and its CSV, one payout with its ledger trail), the payout vendor's
webhook endpoint, and the staff console of the sandbox payout vendor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Stream, Template

from core.auth import creator_required, current_principal, staff_required
from core.errors import Conflict, InvalidInput
from core.identity import Principal
from core.ids import uuid7
from core.numbers import whole_or_none
from core.text import csv_line, csv_text
from core.web import flash, inject, page_or_fragment, plural, redirect
from features.payouts.dto import AccountForm, FailNextForm, RequestForm
from features.payouts.jobs import settle_and_apply
from features.payouts.model import InvalidSignature, Payout, PayoutState, VendorUnavailable, parse_points
from features.payouts.sandbox import SandboxPayoutVendor
from features.payouts.service import PayoutService

NO_STORE = {"Cache-Control": "no-store"}


def _me(request: Request[Any, Any, Any]) -> Principal:
    principal = current_principal(request)
    assert principal is not None  # the route's guard made sure
    return principal


async def _context(
    request: Request[Any, Any, Any],
    payouts: PayoutService,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> dict[str, Any]:
    overview = await payouts.overview(_me(request).id)
    return {
        "overview": overview,
        "available": overview.availability,
        "policy": overview.policy,
        "payouts": overview.payouts,
        "polling": any(not p.state.final for p in overview.payouts),
        "key": uuid7().hex,
        "form": form or {"points": "", "stripe_account_id": overview.payee.stripe_account_id},
        "errors": errors or {},
    }


def _page_or(request: Request[Any, Any, Any], fragment: str, context: dict[str, Any], status: int) -> Template:
    return page_or_fragment(
        request, page="payouts/payouts.html", fragment=fragment, context=context, status_code=status, headers=NO_STORE
    )


def _outcome_message(payout: Payout, replayed: bool) -> tuple[str, str]:
    amount = f"{payout.amount_minor // 100:,}.{payout.amount_minor % 100:02d} {payout.currency}"
    if replayed:
        return f"That request was already made: payout {payout.reference} is {payout.state.value.lower()}.", "info"
    if payout.state is PayoutState.FAILED:
        return f"The payout failed: {payout.failure_reason} Your points are available again.", "error"
    if payout.state is PayoutState.REQUESTED:
        return f"Payout {payout.reference} requested. {VendorUnavailable.message}", "info"
    if payout.state is PayoutState.PAID:
        return f"Payout {payout.reference} of {amount} was paid.", "success"
    return f"Payout {payout.reference} of {plural(payout.points, 'point')} ({amount}) is on its way.", "success"


class PayoutsController(Controller):
    path = "/studio/payouts"
    guards = [creator_required]
    dependencies = {"payouts": inject(PayoutService)}

    @get("/")
    async def payouts_page(self, request: Request[Any, Any, Any], payouts: NamedDependency[PayoutService]) -> Template:
        context = await _context(request, payouts)
        return Template(template_name="payouts/payouts.html", context=context, headers=NO_STORE)

    @get("/statement")
    async def statement_fragment(
        self, request: Request[Any, Any, Any], payouts: NamedDependency[PayoutService]
    ) -> Template:
        """The statement alone: polled by the page while a payout is on its way."""
        rows = await payouts.statement(_me(request).id)
        context = {"payouts": rows, "polling": any(not p.state.final for p in rows)}
        return Template(template_name="payouts/_statement.html", context=context, headers=NO_STORE)

    @post("/request")
    async def request_payout(
        self,
        request: Request[Any, Any, Any],
        payouts: NamedDependency[PayoutService],
        data: URLEncodedBody[RequestForm],
    ) -> Response[Any]:
        form = data
        try:
            points = parse_points(form.points)
            shown_all = (form.all_points, form.all_amount) if points is None else None
            outcome = await payouts.request_payout(_me(request).id, form.key, points, shown_all=shown_all)
        except (InvalidInput, Conflict) as error:
            context = await _context(request, payouts, form={"points": form.points}, errors={"points": error.message})
            context["form"]["stripe_account_id"] = context["overview"].payee.stripe_account_id
            status = 409 if isinstance(error, Conflict) else 422
            return _page_or(request, "payouts/_summary.html", context, status)
        message, level = _outcome_message(outcome.payout, outcome.replayed)
        return flash(redirect("/studio/payouts", request), message, level)

    @post("/account")
    async def set_account(
        self,
        request: Request[Any, Any, Any],
        payouts: NamedDependency[PayoutService],
        data: URLEncodedBody[AccountForm],
    ) -> Response[Any]:
        form = data
        try:
            payee = await payouts.set_stripe_account(_me(request).id, form.stripe_account_id)
        except InvalidInput as error:
            context = await _context(
                request,
                payouts,
                form={"points": "", "stripe_account_id": form.stripe_account_id},
                errors={"stripe_account_id": error.message},
            )
            return _page_or(request, "payouts/_account.html", context, 422)
        message = "Your Stripe account was saved." if payee.stripe_account_id else "Your Stripe account was removed."
        return flash(redirect("/studio/payouts", request), message)

    @get("/{payout_id:uuid}")
    async def payout_page(
        self, request: Request[Any, Any, Any], payouts: NamedDependency[PayoutService], payout_id: FromPath[UUID]
    ) -> Template:
        trail = await payouts.payout_for(_me(request).id, payout_id)
        return Template(template_name="payouts/payout.html", context={"trail": trail}, headers=NO_STORE)


def _stamp(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""


CSV_HEADER = [
    "payout_id",
    "reference",
    "requested_at",
    "state",
    "points",
    "amount_minor",
    "currency",
    "paid_at",
    "failed_at",
    "failure_reason",
    "trigger",
    "vendor_ref",
]


@get("/studio/payouts.csv", guards=[creator_required], dependencies={"payouts": inject(PayoutService)})
async def payouts_csv(request: Request[Any, Any, Any], payouts: NamedDependency[PayoutService]) -> Stream:
    rows = await payouts.statement(_me(request).id)

    async def lines() -> AsyncIterator[bytes]:
        yield csv_line(CSV_HEADER)
        for p in rows:
            yield csv_line(
                [
                    str(p.id),
                    p.reference,
                    _stamp(p.requested_at),
                    p.state.value,
                    str(p.points),
                    str(p.amount_minor),
                    p.currency,
                    _stamp(p.paid_at),
                    _stamp(p.failed_at),
                    csv_text(p.failure_reason),
                    p.trigger.value,
                    csv_text(p.vendor_ref or ""),
                ]
            )

    today = datetime.now(UTC).strftime("%Y-%m-%d")
    return Stream(
        lines(),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="hypha-payouts-{today}.csv"', **NO_STORE},
    )


class PayoutWebhookController(Controller):
    """The payout vendor calls here. CSRF-exempt: the vendor's signature is checked instead."""

    dependencies = {"payouts": inject(PayoutService)}

    @post("/webhooks/payouts", status_code=200, include_in_schema=False)
    async def receive(self, request: Request[Any, Any, Any], payouts: NamedDependency[PayoutService]) -> Response[Any]:
        body = await request.body()
        try:
            outcome = await payouts.handle_webhook(body, dict(request.headers))
        except InvalidSignature as error:
            return Response({"error": error.message}, status_code=400)
        except VendorUnavailable as error:
            return Response({"error": error.message}, status_code=503, headers={"Retry-After": "30"})
        return Response({"outcome": outcome}, status_code=200)


class SandboxPayoutsController(Controller):
    """The sandbox payout vendor's console, for staff: its payouts, and a switch that makes the next
    payout fail (for demos and tests)."""

    path = "/staff/payouts"
    guards = [staff_required]
    dependencies = {"vendor": inject(SandboxPayoutVendor), "payouts": inject(PayoutService)}

    @get("/")
    async def console(self, vendor: NamedDependency[SandboxPayoutVendor]) -> Template:
        context = {"sandbox": await vendor.recent(50), "armed": await vendor.armed_failures(), "errors": {}}
        return Template(template_name="payouts/sandbox.html", context=context, headers=NO_STORE)

    @post("/fail-next")
    async def fail_next(
        self,
        request: Request[Any, Any, Any],
        vendor: NamedDependency[SandboxPayoutVendor],
        data: URLEncodedBody[FailNextForm],
    ) -> Response[Any]:
        form = data
        count = whole_or_none(form.count, maximum=100)
        if count is None:
            context = {
                "sandbox": await vendor.recent(50),
                "armed": await vendor.armed_failures(),
                "errors": {"count": "Enter how many of the next payouts should fail (0 to 100)."},
            }
            return Template(template_name="payouts/sandbox.html", context=context, status_code=422)
        armed = await vendor.arm_failures(count)
        message = f"The next {plural(armed, 'payout')} will fail." if armed else "Sandbox payouts will succeed again."
        return flash(redirect("/staff/payouts", request), message, "info")

    @post("/settle")
    async def settle(
        self,
        request: Request[Any, Any, Any],
        vendor: NamedDependency[SandboxPayoutVendor],
        payouts: NamedDependency[PayoutService],
    ) -> Response[Any]:
        settled = await settle_and_apply(vendor, payouts)
        return flash(redirect("/staff/payouts", request), f"Settled {plural(settled, 'due payout')}.", "info")
