"""The wallet pages (balance, packs, statement, CSV), the vendor's return page, the payment webhook
endpoint, and the staff reconciliation page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Stream, Template
from litestar_htmx import HTMXTemplate

from core.auth import current_principal, login_required, staff_required, verified_required
from core.errors import Conflict, InvalidInput
from core.identity import Principal
from core.ids import uuid7
from core.text import csv_line, csv_text
from core.web import flash, inject, page_or_fragment, query_number, redirect
from features.accounts.dto import safe_next
from features.ledger.model import Entry, StatementPage
from features.wallet.dto import BuyForm, ReconcileForm
from features.wallet.model import (
    InvalidSignature,
    PackCatalog,
    VendorUnavailable,
    reconciliation_period,
    statement_description,
)
from features.wallet.service import PurchaseProgress, WalletService

STATEMENT_PAGE = 20
POLL_LIMIT = 60  # the return page asks once a second for a minute, then offers a button
NO_STORE = {"Cache-Control": "no-store"}


def _me(request: Request[Any, Any, Any]) -> Principal:
    principal = current_principal(request)
    assert principal is not None  # the route's guard made sure
    return principal


def _rows(page: StatementPage, catalog: PackCatalog) -> list[dict[str, Any]]:
    return [
        {
            "entry": entry,
            "description": statement_description(entry.kind, entry.metadata, catalog),
        }
        for entry in page.entries
    ]


async def _wallet_context(
    request: Request[Any, Any, Any],
    wallet: WalletService,
    before: str | None,
    buy_error: str = "",
    return_to: str = "",
) -> dict[str, Any]:
    me = _me(request)
    page = await wallet.statement(me.id, before=before, limit=STATEMENT_PAGE)
    return {
        "balance": page.balance,
        "locked": page.balance < 0,
        "packs": wallet.packs(),
        "buy_nonce": uuid7().hex,
        "buy_error": buy_error,
        "rows": _rows(page, wallet.catalog),
        "next_before": page.next_before,
        "before": before,
        "return_to": return_to,  # a checked same-site path the packs carry through the checkout
    }


class WalletController(Controller):
    dependencies = {"wallet": inject(WalletService)}

    @get("/wallet", guards=[login_required])
    async def wallet_page(
        self,
        request: Request[Any, Any, Any],
        wallet: NamedDependency[WalletService],
        before: FromQuery[str | None] = None,
        next: FromQuery[str] = "",
    ) -> Template:
        """The wallet; `next` (a same-site path, e.g. the video a viewer wants to unlock) is where the
        pack's return page leads back to."""
        context = await _wallet_context(request, wallet, before, return_to=safe_next(next, ""))
        return page_or_fragment(
            request,
            page="wallet/wallet.html",
            fragment="wallet/_statement.html",
            target="statement",
            context=context,
            headers=NO_STORE,
        )

    @post("/wallet/checkout", guards=[verified_required])
    async def checkout(
        self, request: Request[Any, Any, Any], wallet: NamedDependency[WalletService], data: URLEncodedBody[BuyForm]
    ) -> Response[Any]:
        form = data
        return_to = safe_next(form.next, "")
        try:
            purchase = await wallet.start_purchase(
                _me(request).id, form.pack, form.key, form.price, form.currency, return_to
            )
        except (InvalidInput, Conflict, VendorUnavailable) as error:
            status = 503 if isinstance(error, VendorUnavailable) else 409 if isinstance(error, Conflict) else 422
            context = await _wallet_context(request, wallet, None, buy_error=error.message, return_to=return_to)
            return page_or_fragment(
                request, page="wallet/wallet.html", fragment="wallet/_packs.html", context=context, status_code=status
            )
        return redirect(purchase.checkout_url, request)

    @get("/wallet/return", guards=[login_required])
    async def returned(
        self, request: Request[Any, Any, Any], wallet: NamedDependency[WalletService], ref: FromQuery[str]
    ) -> Template:
        progress = await wallet.progress(_me(request).id, ref)
        context = {"progress": progress, "poll": 1, "poll_limit": POLL_LIMIT}
        return Template(template_name="wallet/return.html", context=context, headers=NO_STORE)

    @get("/wallet/payments/{ref:str}/status", guards=[login_required])
    async def purchase_status(
        self,
        request: Request[Any, Any, Any],
        wallet: NamedDependency[WalletService],
        ref: FromPath[str],
        n: FromQuery[str | None] = None,
    ) -> Template:
        poll = query_number(n, name="n", maximum=1_000_000) or 1
        progress: PurchaseProgress = await wallet.progress(_me(request).id, ref)
        context = {"progress": progress, "poll": poll + 1, "poll_limit": POLL_LIMIT}
        return HTMXTemplate(
            template_name="wallet/_purchase_status.html",
            context=context,
            headers=NO_STORE,
            # e.g. a balance pill listening on the body
            trigger_event="wallet-changed" if progress.credited else None,
            after="receive",
        )

    @get("/wallet/statement.csv", guards=[login_required])
    async def statement_csv(self, request: Request[Any, Any, Any], wallet: NamedDependency[WalletService]) -> Stream:
        me = _me(request)
        catalog = wallet.catalog

        async def lines() -> AsyncIterator[bytes]:
            yield csv_line(["date", "type", "description", "points", "balance_after", "payment_ref", "transfer_id"])
            async for entry in wallet.all_entries(me.id):
                yield csv_line(_csv_row(entry, catalog))

        today = datetime.now(UTC).strftime("%Y-%m-%d")
        return Stream(
            lines(),
            media_type="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="hypha-wallet-{today}.csv"',
                "Cache-Control": "no-store",
            },
        )

    @get("/wallet/pill")
    async def balance_pill(
        self, request: Request[Any, Any, Any], wallet: NamedDependency[WalletService]
    ) -> Response[Any]:
        """The header's balance pill (empty for visitors), for pages that load it lazily."""
        principal = current_principal(request)
        if principal is None:
            return Response(content="", media_type=MediaType.HTML, headers=NO_STORE)
        balance = await wallet.balance(principal.id)
        return Template(template_name="wallet/_balance_pill.html", context={"balance": balance}, headers=NO_STORE)


def _csv_row(entry: Entry, catalog: PackCatalog) -> list[str]:
    return [
        entry.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        entry.kind,
        csv_text(statement_description(entry.kind, entry.metadata, catalog)),
        str(entry.amount),
        str(entry.balance_after),
        csv_text(entry.metadata.get("payment_ref", "")),
        str(entry.transfer_id),
    ]


class WebhookController(Controller):
    """The payment vendor calls here. CSRF-exempt: the vendor's signature is checked instead."""

    dependencies = {"wallet": inject(WalletService)}

    @post("/webhooks/payments", status_code=200, include_in_schema=False)
    async def receive(self, request: Request[Any, Any, Any], wallet: NamedDependency[WalletService]) -> Response[Any]:
        body = await request.body()
        try:
            outcome = await wallet.handle_webhook(body, dict(request.headers))
        except InvalidSignature as error:
            return Response({"error": error.message}, status_code=400)
        except VendorUnavailable as error:
            return Response({"error": error.message}, status_code=503, headers={"Retry-After": "30"})
        return Response({"outcome": outcome.value}, status_code=200)


class ReconciliationController(Controller):
    path = "/staff/reconciliation"
    guards = [staff_required]
    dependencies = {"wallet": inject(WalletService)}

    @get("/")
    async def runs_page(self, wallet: NamedDependency[WalletService]) -> Template:
        return Template(template_name="wallet/reconciliation.html", context=await _runs_context(wallet))

    @post("/run")
    async def run(
        self,
        request: Request[Any, Any, Any],
        wallet: NamedDependency[WalletService],
        data: URLEncodedBody[ReconcileForm],
    ) -> Response[Any]:
        form = data
        now = wallet.clock.now()
        try:
            since, until = reconciliation_period(form.since or _day(now - timedelta(days=2)), form.until, now)
        except InvalidInput as error:
            context = await _runs_context(wallet, form={"since": form.since, "until": form.until})
            context["errors"] = {"since": error.message}
            return page_or_fragment(
                request,
                page="wallet/reconciliation.html",
                fragment="wallet/_reconcile_form.html",
                context=context,
                status_code=422,
            )
        try:
            run = await wallet.reconcile(since, until)
        except VendorUnavailable as error:
            return flash(redirect("/staff/reconciliation", request), error.message, "error")
        message = f"Checked {run.payments_checked} payments: {len(run.findings)} findings, {run.healed} healed."
        return flash(redirect("/staff/reconciliation", request), message, "success" if run.clean else "info")


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


async def _runs_context(wallet: WalletService, form: dict[str, str] | None = None) -> dict[str, Any]:
    now = wallet.clock.now()
    return {
        "runs": await wallet.reconciliation_runs(20),
        "form": form or {"since": _day(now - timedelta(days=2)), "until": ""},
        "errors": {},
    }
