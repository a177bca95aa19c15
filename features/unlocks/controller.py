"""The video page at /v/{public_id} (the link creators share), one-click unlocks and tips, and the
creator's pricing page. htmx gets the panel or form back; a plain browser gets the page."""

from __future__ import annotations

import secrets
from typing import Any

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Template
from litestar_htmx import HTMXTemplate

from core.auth import current_principal, login_required, verified_required
from core.errors import Conflict, DomainError, InvalidInput, NotFound, PaymentRequired, TooManyRequests
from core.identity import Principal
from core.web import flash, inject, page_or_fragment, plural, redirect, wants_fragment
from features.ledger.model import InsufficientPoints
from features.studio.service.chapters import ChapterService
from features.unlocks.dto import PricingForm, TipForm, UnlockForm
from features.unlocks.model import (
    MAX_PRICE,
    MAX_TIP_MESSAGE,
    OFFERS,
    InvalidPricing,
    NothingToExtend,
    Offer,
)
from features.unlocks.service import Panel, PricingService, TipService, UnlockService

PAGE = "unlocks/video.html"
PANEL = "unlocks/_panel.html"
TIPS = "unlocks/_tips.html"
PRICING_PAGE = "unlocks/pricing.html"
PRICING_FORM = "unlocks/_pricing_form.html"
WALLET_CHANGED = "wallet-changed"  # the event htmx fires on the page (the wallet pill listens)
NO_STORE = {"Cache-Control": "no-store"}


def new_key() -> str:
    """An idempotency key for one button, made when the page renders: a retried or doubled click
    sends the same key and is charged once."""
    return secrets.token_urlsafe(18)


def _htmx(request: Request[Any, Any, Any]) -> bool:
    return wants_fragment(request)


def _me(request: Request[Any, Any, Any]) -> Principal:
    principal = current_principal(request)
    assert principal is not None  # the guard let the request through
    return principal


def _panel(
    panel: Panel,
    *,
    status: int = 200,
    notice: str = "",
    notice_level: str = "error",
    shortfall: int | None = None,
    just_unlocked: bool = False,
    trigger: str | None = None,
) -> Template:
    context = {
        "panel": panel,
        "notice": notice,
        "notice_level": notice_level,
        "shortfall": shortfall,
        "just_unlocked": just_unlocked,
        "new_key": new_key,
    }
    return HTMXTemplate(
        template_name=PANEL,
        context=context,
        media_type=MediaType.HTML,  # said, not guessed from the file name on every click
        status_code=status,
        headers=NO_STORE,
        trigger_event=trigger,
        after="receive" if trigger else None,
    )


async def _refused(
    request: Request[Any, Any, Any], unlocks: UnlockService, public_id: str, error: DomainError
) -> Template:
    """A click that bought nothing: the panel (htmx) or the whole page, as it is now — current prices,
    fresh keys, the player if the viewer has access — with what went wrong. Nothing was charged."""
    if isinstance(error, PaymentRequired):
        status = 402
    elif isinstance(error, TooManyRequests):
        status = 429
    elif isinstance(error, Conflict):
        status = 409
    else:
        status = 422
    shortfall = error.shortfall if isinstance(error, InsufficientPoints) else None
    # A click beaten by another tab's purchase: the viewer has access, which is good news.
    level = "info" if isinstance(error, NothingToExtend) else "error"
    me = _me(request)
    if _htmx(request):
        panel = await unlocks.panel(me.id, public_id)
        return _panel(panel, status=status, notice=error.message, notice_level=level, shortfall=shortfall)
    page = await unlocks.page(me.id, public_id)
    context = {
        "page": page,
        "panel": page.panel,
        "new_key": new_key,
        "max_message": MAX_TIP_MESSAGE,
        "notice": error.message,
        "notice_level": level,
        "shortfall": shortfall,
    }
    return Template(PAGE, context=context, status_code=status, headers=NO_STORE)


class VideoPageController(Controller):
    path = "/v"
    dependencies = {"unlocks": inject(UnlockService), "tipping": inject(TipService)}

    @get("/{public_id:str}", dependencies={"chapters": inject(ChapterService)})
    async def page(
        self,
        request: Request[Any, Any, Any],
        public_id: FromPath[str],
        unlocks: NamedDependency[UnlockService],
        chapters: NamedDependency[ChapterService],
    ) -> Template:
        principal = current_principal(request)
        page = await unlocks.page(principal.id if principal else None, public_id)
        context = {
            "page": page,
            "panel": page.panel,
            "new_key": new_key,
            "max_message": MAX_TIP_MESSAGE,
            "chapters": (await chapters.of_video(page.video)).chapters,
        }
        return Template(PAGE, context=context, headers=NO_STORE)

    @get("/{public_id:str}/panel")
    async def panel(
        self, request: Request[Any, Any, Any], public_id: FromPath[str], unlocks: NamedDependency[UnlockService]
    ) -> Template:
        principal = current_principal(request)
        return _panel(await unlocks.panel(principal.id if principal else None, public_id))

    @get("/{public_id:str}/cover", include_in_schema=False)
    async def cover(
        self, request: Request[Any, Any, Any], public_id: FromPath[str], unlocks: NamedDependency[UnlockService]
    ) -> Response[bytes]:
        principal = current_principal(request)
        found = await unlocks.cover(principal.id if principal else None, public_id)
        if found is None:
            raise NotFound("This video has no cover yet.")
        data, media_type = found
        return Response(content=data, media_type=media_type, headers={"Cache-Control": "private, max-age=300"})

    @post("/{public_id:str}/unlock", guards=[verified_required])
    async def unlock(
        self,
        request: Request[Any, Any, Any],
        public_id: FromPath[str],
        unlocks: NamedDependency[UnlockService],
        data: URLEncodedBody[UnlockForm],
    ) -> Response[Any]:
        """One click on an offer at the price its button showed: charge that price once per key and only
        if it is still the price, grant access, swap the player in. Refused clicks charge nothing and
        answer the current panel: 409 (the price changed, access already bought, ...), 402 (too few
        points) or 422 (an expired button)."""
        me = _me(request)
        try:
            outcome = await unlocks.unlock(me.id, public_id, data.offer, data.key, data.price)
        except (PaymentRequired, Conflict, InvalidInput, TooManyRequests) as error:
            refused = await _refused(request, unlocks, public_id, error)
            if isinstance(error, TooManyRequests):
                refused.headers["Retry-After"] = str(max(1, error.retry_after))
            return refused
        if not _htmx(request):
            return flash(redirect(f"/v/{public_id}", request), "Unlocked. Enjoy the video!")
        return _panel(outcome.panel, just_unlocked=not outcome.result.replayed, trigger=WALLET_CHANGED)

    @post("/{public_id:str}/tip", guards=[verified_required])
    async def tip(
        self,
        request: Request[Any, Any, Any],
        public_id: FromPath[str],
        tipping: NamedDependency[TipService],
        data: URLEncodedBody[TipForm],
    ) -> Response[Any]:
        """One click on a tip amount, with an optional message; the creator is told live."""
        me = _me(request)
        form = data
        context: dict[str, Any] = {
            "public_id": public_id,
            "tip_amounts": tipping.policy.tip_amounts,
            "new_key": new_key,
            "max_message": MAX_TIP_MESSAGE,
            "is_owner": False,
            "logged_in": True,
            "message": form.message,
        }
        try:
            result = await tipping.tip(me, public_id, form.amount, form.message, form.key)
        except (PaymentRequired, Conflict, InvalidInput, TooManyRequests) as error:
            retry = {"Retry-After": str(max(1, error.retry_after))} if isinstance(error, TooManyRequests) else {}
            if not _htmx(request):
                if retry:  # a plain form: the error page says why, with the 429 and Retry-After
                    raise
                return flash(redirect(f"/v/{public_id}", request), error.message, "error")
            status = (
                402
                if isinstance(error, PaymentRequired)
                else 409
                if isinstance(error, Conflict)
                else 429
                if retry
                else 422
            )
            context |= {"error": error.message, "insufficient": isinstance(error, PaymentRequired)}
            return Template(TIPS, context=context, status_code=status, headers={**NO_STORE, **retry})
        if not _htmx(request):
            thanks = f"Thank you! You tipped {plural(result.tip.amount, 'point')}."
            return flash(redirect(f"/v/{public_id}", request), thanks)
        context |= {"thanked": result.tip, "message": ""}
        return HTMXTemplate(
            template_name=TIPS, context=context, headers=NO_STORE, trigger_event=WALLET_CHANGED, after="receive"
        )


class PricingController(Controller):
    """The creator's prices and publishing, per video (owner only: anyone else gets 404)."""

    path = "/v"
    guards = [login_required]
    dependencies = {"pricing": inject(PricingService)}

    @get("/{public_id:str}/pricing")
    async def pricing_page(
        self, request: Request[Any, Any, Any], public_id: FromPath[str], pricing: NamedDependency[PricingService]
    ) -> Template:
        video, current = await pricing.owned(_me(request).id, public_id)
        form = {
            "free": current.free,
            "preview_seconds": str(current.preview_seconds) if current.preview_seconds else "",
            **{offer.value: str(current.prices[offer]) for offer in current.prices},
        }
        context = _pricing_context(video, current, form, {})
        return page_or_fragment(request, page=PRICING_PAGE, fragment=PRICING_FORM, context=context, headers=NO_STORE)

    @post("/{public_id:str}/pricing")
    async def save_pricing(
        self,
        request: Request[Any, Any, Any],
        public_id: FromPath[str],
        pricing: NamedDependency[PricingService],
        data: URLEncodedBody[PricingForm],
    ) -> Response[Any]:
        me = _me(request)
        form = data
        prices = {Offer.RENT_DAY: form.rent_day, Offer.RENT_MONTH: form.rent_month, Offer.LIFETIME: form.lifetime}
        try:
            saved = await pricing.set_prices(
                me.id, public_id, free=form.is_free, prices=prices, preview=form.preview_seconds
            )
        except InvalidPricing as error:
            video, current = await pricing.owned(me.id, public_id)
            values = {"free": form.is_free, "preview_seconds": form.preview_seconds}
            values |= {offer.value: text for offer, text in prices.items()}
            context = _pricing_context(video, current, values, error.errors)
            return page_or_fragment(
                request, page=PRICING_PAGE, fragment=PRICING_FORM, context=context, status_code=422, headers=NO_STORE
            )
        if not _htmx(request):
            return flash(redirect(f"/v/{public_id}/pricing", request), "Prices saved.")
        video, _ = await pricing.owned(me.id, public_id)
        form_values = {
            "free": saved.free,
            "preview_seconds": str(saved.preview_seconds) if saved.preview_seconds else "",
            **{offer.value: str(saved.prices[offer]) for offer in saved.prices},
        }
        context = _pricing_context(video, saved, form_values, {}) | {"saved": True}
        return Template(PRICING_FORM, context=context, headers=NO_STORE)

    @post("/{public_id:str}/publish")
    async def publish(
        self, request: Request[Any, Any, Any], public_id: FromPath[str], pricing: NamedDependency[PricingService]
    ) -> Response[Any]:
        try:
            await pricing.publish(_me(request).id, public_id)
        except Conflict as error:
            return flash(redirect(f"/v/{public_id}/pricing", request), error.message, "error")
        return flash(redirect(f"/v/{public_id}/pricing", request), "Published: anyone with the link can watch.")

    @post("/{public_id:str}/unpublish")
    async def unpublish(
        self, request: Request[Any, Any, Any], public_id: FromPath[str], pricing: NamedDependency[PricingService]
    ) -> Response[Any]:
        try:
            await pricing.unpublish(_me(request).id, public_id)
        except Conflict as error:
            return flash(redirect(f"/v/{public_id}/pricing", request), error.message, "error")
        return flash(redirect(f"/v/{public_id}/pricing", request), "Unpublished: only you can see it now.", "info")


def _pricing_context(video: Any, pricing: Any, form: dict[str, Any], errors: dict[str, str]) -> dict[str, Any]:
    return {
        "video": video,
        "pricing": pricing,
        "form": form,
        "errors": errors,
        "offers": OFFERS,
        "max_price": MAX_PRICE,
    }
