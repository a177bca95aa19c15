"""Offers at the edge: the bundles and code box of a video's panel (/offers/v/…), the bundle page (/b/…),
and the creator's bundles, codes and offer sales (/studio/offers)."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Template
from litestar_htmx import HTMXTemplate

from core.auth import creator_required, current_principal, login_required, verified_required
from core.errors import Conflict, DomainError, InvalidInput, NotFound, PaymentRequired, TooManyRequests
from core.identity import Principal
from core.web import flash, inject, redirect, wants_fragment
from features.ledger.model import InsufficientPoints
from features.memberships.model import TierNotFound
from features.memberships.service import Offer as MembershipOffer
from features.offers.dto import (
    BundleBuyForm,
    BundleForm,
    BundleVideoForm,
    CodeEntryForm,
    CodeForm,
    CodeUnlockForm,
    TierCodeForm,
    TierJoinForm,
)
from features.offers.model import CodeRefused, InvalidOffer
from features.offers.service import CodeQuote, OffersService, TierQuote, VideoOffers
from features.unlocks.model import NothingToExtend
from features.unlocks.service import Panel

VIDEO_OFFERS = "offers/_video_offers_body.html"
UNLOCK_PANEL = "unlocks/_panel.html"  # the unlock's own panel: a code's unlock answers with it, as the unlock does
BUNDLE_PAGE = "offers/bundle.html"
BUNDLE_BUY = "offers/_bundle_buy.html"
MAX_SHOWN_VIDEOS = 1000  # the most video ids a bundle's buy button is believed to have listed
STUDIO_PAGE = "offers/studio.html"
BUNDLE_EDIT = "offers/bundle_edit.html"
TILE = "offers/_dash_tile.html"
SALES = "offers/_sales.html"
MEMBERSHIP_PANEL = "memberships/_offer.html"  # the memberships' panel: the code box answers with it
MAX_TIERS_SHOWN = 3
WALLET_CHANGED = "wallet-changed"
NO_STORE = {"Cache-Control": "no-store"}


def new_key() -> str:
    """An idempotency key for one button, made when it renders (a retried click is charged once)."""
    return secrets.token_urlsafe(18)


def _me(request: Request[Any, Any, Any]) -> Principal:
    principal = current_principal(request)
    assert principal is not None  # the guard let the request through
    return principal


def _viewer(request: Request[Any, Any, Any]) -> UUID | None:
    principal = current_principal(request)
    return principal.id if principal else None


def _status(error: DomainError) -> int:
    if isinstance(error, PaymentRequired):
        return 402
    if isinstance(error, TooManyRequests):
        return 429
    if isinstance(error, Conflict):
        return 409
    if isinstance(error, NotFound):
        return 404
    return 422


def _retry(error: DomainError) -> dict[str, str]:
    return {"Retry-After": str(max(1, error.retry_after))} if isinstance(error, TooManyRequests) else {}


def _video_offers(
    offers: VideoOffers, *, quote: CodeQuote | None = None, code: str = "", error: str = "", status: int = 200
) -> Template:
    context = {"offers": offers, "quote": quote, "code": code, "code_error": error, "new_key": new_key}
    return Template(VIDEO_OFFERS, context=context, status_code=status, headers=NO_STORE)


def _unlock_panel(panel: Panel, *, status: int = 200, notice: str = "", level: str = "error", **extra: Any) -> Template:
    context = {
        "panel": panel,
        "notice": notice,
        "notice_level": level,
        "shortfall": extra.get("shortfall"),
        "just_unlocked": extra.get("just_unlocked", False),
        "new_key": new_key,
    }
    trigger = extra.get("trigger")
    headers = {**NO_STORE, **extra.get("headers", {})}
    return HTMXTemplate(
        template_name=UNLOCK_PANEL,
        context=context,
        status_code=status,
        headers=headers,
        trigger_event=trigger,
        after="receive" if trigger else None,
    )


class VideoOffersController(Controller):
    """The offers part of a video's panel, loaded by the panel itself (unlocks/_panel.html includes
    offers/_video_offers.html, which fetches this)."""

    path = "/offers/v"
    dependencies = {"offers": inject(OffersService)}

    @get("/{public_id:str}")
    async def video_offers(
        self, request: Request[Any, Any, Any], public_id: FromPath[str], offers: NamedDependency[OffersService]
    ) -> Template:
        return _video_offers(await offers.video_offers(_viewer(request), public_id))

    @post("/{public_id:str}/code", guards=[login_required])
    async def enter_code(
        self,
        request: Request[Any, Any, Any],
        public_id: FromPath[str],
        offers: NamedDependency[OffersService],
        data: URLEncodedBody[CodeEntryForm],
    ) -> Response[Any]:
        """Show the video's offers with the code applied (nothing is taken yet); a code that cannot be
        used here re-renders the box with the reason (422; 429 past the guessing limit)."""
        me = _me(request)
        if not data.code:
            current = await offers.video_offers(me.id, public_id)
            return _video_offers(current, error="Enter a code.", status=422)
        try:
            found, quote = await offers.quote_video_code(me.id, public_id, data.code)
        except (CodeRefused, TooManyRequests) as error:
            current = await offers.video_offers(me.id, public_id)
            template = _video_offers(current, code=data.code, error=error.message, status=_status(error))
            template.headers.update(_retry(error))
            return template
        if not wants_fragment(request):
            return redirect(f"/v/{public_id}", request)
        return _video_offers(found, quote=quote, code=quote.code.code)

    @post("/{public_id:str}/unlock", guards=[verified_required])
    async def unlock_with_code(
        self,
        request: Request[Any, Any, Any],
        public_id: FromPath[str],
        offers: NamedDependency[OffersService],
        data: URLEncodedBody[CodeUnlockForm],
    ) -> Response[Any]:
        """One click on an offer at the reduced price its button showed: the unlock's own path with the
        code's discount. A refused click charges nothing and answers the current panel with the reason."""
        me = _me(request)
        try:
            outcome = await offers.unlock_with_code(me.id, public_id, data.offer, data.key, data.price, data.code)
        except (PaymentRequired, Conflict, InvalidInput, TooManyRequests) as error:
            panel = await offers.unlocks.panel(me.id, public_id)
            shortfall = error.shortfall if isinstance(error, InsufficientPoints) else None
            level = "info" if isinstance(error, NothingToExtend) else "error"
            if not wants_fragment(request):
                return flash(redirect(f"/v/{public_id}", request), error.message, "error")
            return _unlock_panel(
                panel,
                status=_status(error),
                notice=error.message,
                level=level,
                shortfall=shortfall,
                headers=_retry(error),
            )
        if not wants_fragment(request):
            return flash(redirect(f"/v/{public_id}", request), "Unlocked. Enjoy the video!")
        return _unlock_panel(outcome.panel, just_unlocked=not outcome.result.replayed, trigger=WALLET_CHANGED)


def _membership_panel(
    offer: MembershipOffer | None,
    video: str,
    *,
    promo: TierQuote | None = None,
    code: str = "",
    code_error: str = "",
    notice: str = "",
    level: str = "error",
    shortfall: int | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
    trigger: str | None = None,
) -> Template:
    context = {
        "offer": offer,
        "video_pid": video,
        "notice": notice,
        "notice_level": level,
        "shortfall": shortfall,
        "new_key": new_key,
        "max_tiers": MAX_TIERS_SHOWN,
        "promo": promo,
        "code_text": code,
        "code_error": code_error,
    }
    return HTMXTemplate(
        template_name=MEMBERSHIP_PANEL,
        context=context,
        status_code=status,
        headers={**NO_STORE, **(headers or {})},
        trigger_event=trigger,
        after="receive" if trigger else None,
    )


def _uuid_or_none(text: str) -> UUID | None:
    try:
        return UUID(text)
    except ValueError:
        return None


class TierCodeController(Controller):
    """The promo-code box of a membership panel (memberships/_offer.html): a code for a tier's first
    month, shown before the one click, and the join at that price."""

    path = "/offers/membership"
    dependencies = {"offers": inject(OffersService)}

    async def _offer(self, offers: OffersService, viewer_id: UUID, creator: str, video: str) -> MembershipOffer:
        if video:
            return await offers.memberships.video_offer(viewer_id, video)
        creator_id = _uuid_or_none(creator)
        if creator_id is None:
            raise TierNotFound()
        return await offers.memberships.offer(viewer_id, creator_id)

    @post("/code", guards=[login_required])
    async def enter_code(
        self,
        request: Request[Any, Any, Any],
        offers: NamedDependency[OffersService],
        data: URLEncodedBody[TierCodeForm],
    ) -> Response[Any]:
        """The panel with the code's first-month price on its tier (nothing is taken yet); a code that
        cannot be used here re-renders the box with the reason (422; 429 past the guessing limit)."""
        me = _me(request)
        offer = await self._offer(offers, me.id, data.creator, data.video)
        back = f"/v/{data.video}" if data.video else f"/c/{offer.creator_id}"
        try:
            if not data.code.strip():
                raise CodeRefused("Enter a code.")
            promo = await offers.quote_tier_code(me.id, offer.tiers, data.code)
        except (CodeRefused, TooManyRequests) as error:
            if not wants_fragment(request):
                return flash(redirect(back, request), error.message, "error")
            return _membership_panel(
                offer,
                data.video,
                code=data.code,
                code_error=error.message,
                status=_status(error),
                headers=_retry(error),
            )
        if not wants_fragment(request):
            return redirect(back, request)
        return _membership_panel(offer, data.video, promo=promo, code=promo.code.code)

    @post("/join", guards=[verified_required])
    async def join(
        self,
        request: Request[Any, Any, Any],
        offers: NamedDependency[OffersService],
        data: URLEncodedBody[TierJoinForm],
    ) -> Response[Any]:
        """One click on a tier at the first-month price its button showed, with the code: the membership's
        own join with the code's discount. A refused click charges nothing and answers the panel with the
        reason: 402, 409, 404, 422 (the code can no longer be used) or 429."""
        me = _me(request)
        tier_id = _uuid_or_none(data.tier)
        tier = await offers.memberships.tier(tier_id) if tier_id else None
        if tier is None or tier_id is None:
            raise TierNotFound()
        back = f"/v/{data.video}" if data.video else f"/c/{tier.creator_id}"
        try:
            result = await offers.join_with_code(me.id, tier_id, data.key, data.price, data.code)
        except (PaymentRequired, Conflict, InvalidInput, NotFound, TooManyRequests) as error:
            if not wants_fragment(request):
                return flash(redirect(back, request), error.message, "error")
            offer = await self._offer(offers, me.id, str(tier.creator_id), data.video)
            shortfall = error.shortfall if isinstance(error, InsufficientPoints) else None
            code_error = error.message if isinstance(error, CodeRefused) else ""
            return _membership_panel(
                offer,
                data.video,
                code=data.code,
                code_error=code_error,
                notice="" if code_error else error.message,
                shortfall=shortfall,
                status=_status(error),
                headers=_retry(error),
            )
        done = "Welcome! You are now a member." if not result.replayed else "You are a member."
        if data.video or not wants_fragment(request):  # the video page reloads, with the player
            return flash(redirect(back, request), done)
        offer = await offers.memberships.offer(me.id, tier.creator_id)
        return _membership_panel(offer, "", notice=done, level="success", trigger=WALLET_CHANGED)


class BundlePageController(Controller):
    """A bundle's page: its videos, the saving against single lifetime prices, one-click purchase."""

    path = "/b"
    dependencies = {"offers": inject(OffersService)}

    @get("/{public_id:str}")
    async def page(
        self, request: Request[Any, Any, Any], public_id: FromPath[str], offers: NamedDependency[OffersService]
    ) -> Template:
        view = await offers.bundle_view(_viewer(request), public_id)
        context = {"view": view, "new_key": new_key, "price": view.bundle.price, "code": "", "error": ""}
        return Template(BUNDLE_PAGE, context=context, headers=NO_STORE)

    @post("/{public_id:str}/code", guards=[login_required])
    async def enter_code(
        self,
        request: Request[Any, Any, Any],
        public_id: FromPath[str],
        offers: NamedDependency[OffersService],
        data: URLEncodedBody[CodeEntryForm],
    ) -> Response[Any]:
        me = _me(request)
        try:
            if not data.code:
                raise CodeRefused("Enter a code.")
            view, promo, price = await offers.quote_bundle_code(me.id, public_id, data.code)
        except (CodeRefused, TooManyRequests) as error:
            view = await offers.bundle_view(me.id, public_id)
            context = {"view": view, "new_key": new_key, "price": view.bundle.price, "code": data.code}
            context["error"] = error.message
            status, headers = _status(error), {**NO_STORE, **_retry(error)}
            if wants_fragment(request):
                return Template(BUNDLE_BUY, context=context, status_code=status, headers=headers)
            return Template(BUNDLE_PAGE, context=context, status_code=status, headers=headers)
        context = {"view": view, "new_key": new_key, "price": price, "code": promo.code, "promo": promo, "error": ""}
        template = BUNDLE_BUY if wants_fragment(request) else BUNDLE_PAGE
        return Template(template, context=context, headers=NO_STORE)

    @post("/{public_id:str}/buy", guards=[verified_required])
    async def buy(
        self,
        request: Request[Any, Any, Any],
        public_id: FromPath[str],
        offers: NamedDependency[OffersService],
        data: URLEncodedBody[BundleBuyForm],
    ) -> Response[Any]:
        """One click: the bundle at the price its button showed, once per key; every video unlocked for life."""
        me = _me(request)
        try:
            shown = data.videos.split()[:MAX_SHOWN_VIDEOS] if data.videos.strip() else None
            outcome = await offers.buy_bundle(me.id, public_id, data.key, data.price, data.code, shown_videos=shown)
        except (PaymentRequired, Conflict, InvalidInput, TooManyRequests) as error:
            if not wants_fragment(request):
                if isinstance(error, TooManyRequests):
                    raise
                return flash(redirect(f"/b/{public_id}", request), error.message, "error")
            view = await offers.bundle_view(me.id, public_id)
            context = {
                "view": view,
                "new_key": new_key,
                "price": view.bundle.price,
                "code": "",
                "error": error.message,
                "shortfall": error.shortfall if isinstance(error, InsufficientPoints) else None,
            }
            headers = {**NO_STORE, **_retry(error)}
            return Template(BUNDLE_BUY, context=context, status_code=_status(error), headers=headers)
        if not wants_fragment(request):
            return flash(redirect(f"/b/{public_id}", request), "Bought: every video in the bundle is yours for life.")
        context = {
            "view": outcome.view,
            "new_key": new_key,
            "price": outcome.view.bundle.price,
            "code": "",
            "error": "",
            "just_bought": not outcome.replayed,
        }
        return HTMXTemplate(
            template_name=BUNDLE_BUY, context=context, headers=NO_STORE, trigger_event=WALLET_CHANGED, after="receive"
        )


def _period(offers: OffersService, days: int = 30) -> tuple[datetime, datetime]:
    now = offers.clock.now()
    return now - timedelta(days=days), now + timedelta(seconds=1)


class OffersStudioController(Controller):
    """The creator's bundles and codes, and their sales (creators only; another's bundle is not found)."""

    path = "/studio/offers"
    guards = [creator_required]
    dependencies = {"offers": inject(OffersService)}

    async def _studio(
        self,
        offers: OffersService,
        me: UUID,
        *,
        bundle_form: dict[str, str] | None = None,
        code_form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        context = {
            "bundles": await offers.bundles_of(me),
            "codes": await offers.codes_of(me),
            "videos": await offers.videos_for_bundles(me),
            "tiers": (await offers.memberships.studio_page(me)).on_sale,
            "bundle_form": bundle_form or {},
            "code_form": code_form or {"kind": "percent", "max_uses": "100"},
            "errors": errors or {},
        }
        return Template(STUDIO_PAGE, context=context, status_code=status, headers=NO_STORE)

    @get("/")
    async def studio(self, request: Request[Any, Any, Any], offers: NamedDependency[OffersService]) -> Template:
        return await self._studio(offers, _me(request).id)

    @post("/bundles")
    async def create_bundle(
        self, request: Request[Any, Any, Any], offers: NamedDependency[OffersService], data: URLEncodedBody[BundleForm]
    ) -> Response[Any]:
        me = _me(request).id
        try:
            bundle = await offers.create_bundle(me, data.title, data.description, data.price)
        except InvalidOffer as error:
            form = {"title": data.title, "description": data.description, "price": data.price}
            return await self._studio(offers, me, bundle_form=form, errors=error.errors, status=422)
        return flash(redirect(f"/studio/offers/bundles/{bundle.public_id}", request), "Bundle made: add its videos.")

    async def _edit(
        self,
        offers: OffersService,
        me: UUID,
        public_id: str,
        *,
        form: dict[str, str] | None = None,
        errors: dict[str, str] | None = None,
        status: int = 200,
    ) -> Template:
        bundle = await offers.owned_bundle(me, public_id)
        view = await offers.bundle_view(me, public_id)
        in_bundle = set(bundle.video_ids)
        context = {
            "view": view,
            "bundle": bundle,
            "candidates": [v for v in await offers.videos_for_bundles(me) if v.id not in in_bundle],
            "form": form or {"title": bundle.title, "description": bundle.description, "price": str(bundle.price)},
            "errors": errors or {},
        }
        return Template(BUNDLE_EDIT, context=context, status_code=status, headers=NO_STORE)

    @get("/bundles/{public_id:str}")
    async def edit_bundle(
        self, request: Request[Any, Any, Any], public_id: FromPath[str], offers: NamedDependency[OffersService]
    ) -> Template:
        return await self._edit(offers, _me(request).id, public_id)

    @post("/bundles/{public_id:str}")
    async def update_bundle(
        self,
        request: Request[Any, Any, Any],
        public_id: FromPath[str],
        offers: NamedDependency[OffersService],
        data: URLEncodedBody[BundleForm],
    ) -> Response[Any]:
        me = _me(request).id
        try:
            await offers.update_bundle(me, public_id, data.title, data.description, data.price)
        except InvalidOffer as error:
            form = {"title": data.title, "description": data.description, "price": data.price}
            return await self._edit(offers, me, public_id, form=form, errors=error.errors, status=422)
        return flash(redirect(f"/studio/offers/bundles/{public_id}", request), "Bundle saved.")

    @post("/bundles/{public_id:str}/videos")
    async def add_video(
        self,
        request: Request[Any, Any, Any],
        public_id: FromPath[str],
        offers: NamedDependency[OffersService],
        data: URLEncodedBody[BundleVideoForm],
    ) -> Response[Any]:
        me = _me(request).id
        try:
            granted = await offers.add_video(me, public_id, data.video)
        except InvalidOffer as error:
            return await self._edit(offers, me, public_id, errors=error.errors, status=422)
        message = "Video added."
        if granted:
            message += f" {granted} earlier buyer{'s' if granted != 1 else ''} can now watch it too."
        return flash(redirect(f"/studio/offers/bundles/{public_id}", request), message)

    @post("/bundles/{public_id:str}/videos/{video_id:str}/remove")
    async def remove_video(
        self,
        request: Request[Any, Any, Any],
        public_id: FromPath[str],
        video_id: FromPath[str],
        offers: NamedDependency[OffersService],
    ) -> Response[Any]:
        await offers.remove_video(_me(request).id, public_id, video_id)
        message = "Video taken out of the bundle. Earlier buyers keep it."
        return flash(redirect(f"/studio/offers/bundles/{public_id}", request), message, "info")

    @post("/codes")
    async def create_code(
        self, request: Request[Any, Any, Any], offers: NamedDependency[OffersService], data: URLEncodedBody[CodeForm]
    ) -> Response[Any]:
        me = _me(request).id
        try:
            code = await offers.create_code(
                me, data.code, data.kind, data.amount, data.target, data.max_uses, data.expires
            )
        except InvalidOffer as error:
            form = {
                "code": data.code,
                "kind": data.kind,
                "amount": data.amount,
                "target": data.target,
                "max_uses": data.max_uses,
                "expires": data.expires,
            }
            return await self._studio(offers, me, code_form=form, errors=error.errors, status=422)
        return flash(redirect("/studio/offers", request), f"Code {code.code} made.")

    @post("/codes/{code_id:uuid}/delete")
    async def delete_code(
        self, request: Request[Any, Any, Any], code_id: FromPath[UUID], offers: NamedDependency[OffersService]
    ) -> Response[Any]:
        try:
            await offers.delete_code(_me(request).id, code_id)
        except Conflict as error:
            return flash(redirect("/studio/offers", request), error.message, "error")
        return flash(redirect("/studio/offers", request), "Code deleted.", "info")

    @get("/tile")
    async def tile(self, request: Request[Any, Any, Any], offers: NamedDependency[OffersService]) -> Template:
        """The dashboard's offers tile (the dashboard loads it; the live stream re-sends it)."""
        return Template(TILE, context={"sales": await offers.sales(_me(request).id)}, headers=NO_STORE)

    @get("/sales")
    async def sales(self, request: Request[Any, Any, Any], offers: NamedDependency[OffersService]) -> Template:
        """The offers statement of the last 30 days (the analytics page loads it)."""
        me = _me(request).id
        since, until = _period(offers)
        context = {"sales": await offers.sales(me, since, until), "lines": await offers.statement(me, since, until)}
        return Template(SALES, context=context, headers=NO_STORE)

    @get("/sales.csv")
    async def sales_csv(self, request: Request[Any, Any, Any], offers: NamedDependency[OffersService]) -> Response[str]:
        """Every bundle sale and code redemption of the last 365 days: list price, discount, fee and net."""
        since, until = _period(offers, 365)
        body = await offers.statement_csv(_me(request).id, since, until)
        headers = {**NO_STORE, "Content-Disposition": 'attachment; filename="offer-sales.csv"'}
        return Response(content=body, media_type="text/csv; charset=utf-8", headers=headers)
