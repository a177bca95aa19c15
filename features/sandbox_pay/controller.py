"""The sandbox vendor's pages: its hosted checkout (pay / decline / cancel) and a staff console
for refunds and disputes (opening one, and winning it for the merchant). Every action queues its
webhook in the same transaction and delivers it right after the response."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.background_tasks import BackgroundTask
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template

from core.auth import staff_required
from core.errors import InvalidInput
from core.ids import public_id
from core.numbers import InvalidNumber, parse_optional_whole
from core.web import flash, inject, plural
from features.sandbox_pay.delivery import deliver_in_process
from features.sandbox_pay.dto import DisputeForm, RefundForm
from features.sandbox_pay.service import SandboxVendor


def _after(request: Request[Any, Any, Any], vendor: SandboxVendor, path: str, ids: list[int]) -> Response[Any]:
    return Redirect(path=path, status_code=303, background=BackgroundTask(deliver_in_process, vendor, request.app, ids))


class SandboxCheckoutController(Controller):
    path = "/sandbox-pay"
    dependencies = {"vendor": inject(SandboxVendor)}

    @get("/checkout/{payment_id:str}")
    async def checkout_page(self, payment_id: FromPath[str], vendor: NamedDependency[SandboxVendor]) -> Template:
        payment = await vendor.payment(payment_id)
        return Template(template_name="sandbox_pay/checkout.html", context={"payment": payment})

    @post("/checkout/{payment_id:str}/pay")
    async def pay(
        self, request: Request[Any, Any, Any], payment_id: FromPath[str], vendor: NamedDependency[SandboxVendor]
    ) -> Response[Any]:
        payment, ids = await vendor.pay(payment_id)
        return _after(request, vendor, payment.redirect_url(payment.success_url), ids)

    @post("/checkout/{payment_id:str}/decline")
    async def decline(
        self, request: Request[Any, Any, Any], payment_id: FromPath[str], vendor: NamedDependency[SandboxVendor]
    ) -> Response[Any]:
        payment, ids = await vendor.decline(payment_id)
        return _after(request, vendor, payment.redirect_url(payment.cancel_url), ids)

    @post("/checkout/{payment_id:str}/cancel")
    async def cancel(
        self, request: Request[Any, Any, Any], payment_id: FromPath[str], vendor: NamedDependency[SandboxVendor]
    ) -> Response[Any]:
        payment, ids = await vendor.cancel(payment_id)
        return _after(request, vendor, payment.redirect_url(payment.cancel_url), ids)


class SandboxConsoleController(Controller):
    """The vendor's dashboard, for staff: what was paid, what was sent, and the buttons a payer's bank has."""

    path = "/sandbox-pay/admin"
    guards = [staff_required]
    dependencies = {"vendor": inject(SandboxVendor)}

    @get("/")
    async def console(self, vendor: NamedDependency[SandboxVendor]) -> Template:
        payments = await vendor.recent(50)
        outbox = await vendor.outbox(limit=50)
        return Template(template_name="sandbox_pay/console.html", context={"payments": payments, "outbox": outbox})

    @post("/{payment_id:str}/refund")
    async def refund(
        self,
        request: Request[Any, Any, Any],
        payment_id: FromPath[str],
        vendor: NamedDependency[SandboxVendor],
        data: URLEncodedBody[RefundForm],
    ) -> Response[Any]:
        raw = data.amount_minor
        try:
            amount = parse_optional_whole(raw, name="The amount", minimum=1)
        except InvalidNumber as error:
            raise InvalidInput(
                f"{error.message} Enter the amount in minor units (cents), or leave it empty for a full refund."
            ) from error
        key = data.idempotency_key or public_id(16)
        refund, ids = await vendor.refund(payment_id, f"console:{key}", amount)
        response = _after(request, vendor, "/sandbox-pay/admin", ids)
        return flash(response, f"Refunded {refund.amount_minor} (minor units) of {payment_id}.")

    @post("/{payment_id:str}/dispute")
    async def dispute(
        self,
        request: Request[Any, Any, Any],
        payment_id: FromPath[str],
        vendor: NamedDependency[SandboxVendor],
        data: URLEncodedBody[DisputeForm],
    ) -> Response[Any]:
        key = data.idempotency_key or public_id(16)
        dispute, ids = await vendor.open_dispute(payment_id, f"console:{key}")
        response = _after(request, vendor, "/sandbox-pay/admin", ids)
        return flash(response, f"Dispute {dispute.id} opened on {payment_id}.", "info")

    @post("/{payment_id:str}/dispute/win")
    async def win_dispute(
        self, request: Request[Any, Any, Any], payment_id: FromPath[str], vendor: NamedDependency[SandboxVendor]
    ) -> Response[Any]:
        dispute, ids = await vendor.win_dispute(payment_id)
        response = _after(request, vendor, "/sandbox-pay/admin", ids)
        return flash(response, f"Dispute {dispute.id} on {payment_id} won: the money is back.", "info")

    @post("/deliver")
    async def deliver(self, request: Request[Any, Any, Any], vendor: NamedDependency[SandboxVendor]) -> Response[Any]:
        from features.sandbox_pay.delivery import in_process_sender

        sender = in_process_sender(request.app)
        try:
            report = await vendor.deliver(sender)
        finally:
            if sender.client is not None:
                await sender.client.aclose()
        response = Redirect(path="/sandbox-pay/admin", status_code=303)
        return flash(response, f"Delivered {plural(report.delivered, 'webhook')}; {report.failed} failed.", "info")
