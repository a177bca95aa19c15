"""The gifts pages: send points to an e-mail address, and see the gifts sent (also a wallet-page panel)."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import URLEncodedBody
from litestar.response import Template

from core.auth import current_principal, login_required, verified_required
from core.errors import PaymentRequired, TooManyRequests
from core.forms import form_view
from core.identity import Principal
from core.web import flash, inject, page_or_fragment, redirect, wants_fragment
from features.gifts.dto import GiftForm
from features.gifts.model import MAX_MESSAGE, GiftKeyReused, InvalidGift
from features.gifts.service import GiftService

PAGE = "gifts/gifts.html"
PANEL = "gifts/_gifts.html"
NO_STORE = {"Cache-Control": "no-store"}
WALLET_CHANGED = "wallet-changed"


def _me(request: Request[Any, Any, Any]) -> Principal:
    principal = current_principal(request)
    assert principal is not None  # the guard let the request through
    return principal


def new_key() -> str:
    return secrets.token_urlsafe(18)


def _form_context(request: Request[Any, Any, Any], submitted: dict[str, str]) -> dict[str, Any]:
    """For a form that did not decode: a fresh key (the list of gifts is loaded again by the page)."""
    return {"key": new_key(), "sent": [], "max_message": MAX_MESSAGE, "sent_loaded": False}


async def _context(
    request: Request[Any, Any, Any],
    gifts: GiftService,
    *,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    sent_now: bool = False,
) -> dict[str, Any]:
    return {
        "form": form or {},
        "errors": errors or {},
        "key": new_key(),
        "sent": await gifts.sent_by(_me(request).id),
        "sent_loaded": True,
        "sent_now": sent_now,
        "policy": gifts.policy,
        "max_message": MAX_MESSAGE,
    }


class GiftsController(Controller):
    path = "/gifts"
    dependencies = {"gifts": inject(GiftService)}

    @get("/", guards=[login_required])
    async def page(self, request: Request[Any, Any, Any], gifts: NamedDependency[GiftService]) -> Template:
        """The send form and the gifts sent; htmx (the wallet page's panel) gets the panel alone."""
        context = await _context(request, gifts)
        return page_or_fragment(request, page=PAGE, fragment=PANEL, context=context, headers=NO_STORE)

    @post("/", guards=[verified_required], opt=form_view(PAGE, PANEL, _form_context))
    async def send(
        self, request: Request[Any, Any, Any], gifts: NamedDependency[GiftService], data: URLEncodedBody[GiftForm]
    ) -> Response[Any]:
        """Send a gift once per key. Refusals re-render the form with the reason beside the field and change
        nothing: 422 (bad input, one's own address, too few points), 409 (a reused form), 429 (too many today)."""
        form = data
        values = {"amount": form.amount, "email": form.email, "message": form.message}
        try:
            result = await gifts.send(_me(request), form.amount, form.email, form.message, form.key)
        except (InvalidGift, PaymentRequired, GiftKeyReused, TooManyRequests) as error:
            if isinstance(error, InvalidGift):
                errors, status = error.errors, 422
            elif isinstance(error, PaymentRequired):
                errors, status = {"amount": error.message}, 422
            elif isinstance(error, GiftKeyReused):
                errors, status = {"form": error.message}, 409
            else:
                errors, status = {"form": error.message}, 429
            context = await _context(request, gifts, form=values, errors=errors)
            headers = dict(NO_STORE)
            if isinstance(error, TooManyRequests):
                headers["Retry-After"] = str(max(1, error.retry_after))
            return page_or_fragment(
                request, page=PAGE, fragment=PANEL, context=context, status_code=status, headers=headers
            )
        gift = result.gift
        if not wants_fragment(request):
            return flash(redirect("/gifts", request), f"Your gift of {gift.amount:,} points is on its way.")
        context = await _context(request, gifts, sent_now=True)
        return page_or_fragment(
            request, page=PAGE, fragment=PANEL, context=context, headers=NO_STORE, trigger=WALLET_CHANGED
        )
