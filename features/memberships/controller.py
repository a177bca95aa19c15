"""Memberships at the edge: the creator's tiers page (/studio/memberships), the membership panel of a
creator's page and of a video (loaded by htmx into those pages), and the one-click join, cancel and
change of tier. htmx gets the panel back; a plain browser is sent back to the page it came from."""

from __future__ import annotations

import csv
import io
import secrets
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Template
from litestar_htmx import HTMXTemplate

from core.auth import creator_required, current_principal, login_required, verified_required
from core.errors import Conflict, DomainError, InvalidInput, NotFound, PaymentRequired
from core.identity import Principal
from core.web import flash, inject, page_or_fragment, redirect, wants_fragment
from features.ledger.model import InsufficientPoints
from features.memberships.dto import CancelForm, JoinForm, TierForm
from features.memberships.model import MAX_NAME, MAX_PRICE, MAX_TIERS, InvalidTier, TierNotFound
from features.memberships.service import MembershipService, Offer, TierStudio

STUDIO_PAGE = "memberships/studio.html"
STUDIO_TIERS = "memberships/_tiers.html"
OFFER = "memberships/_offer.html"
TILE = "memberships/_members_tile.html"
FIGURES = "memberships/_figures.html"
MINE = "memberships/_mine.html"
WALLET_CHANGED = "wallet-changed"
NO_STORE = {"Cache-Control": "no-store"}


def new_key() -> str:
    """An idempotency key for one button, made when the panel renders."""
    return secrets.token_urlsafe(18)


def _me(request: Request[Any, Any, Any]) -> Principal:
    principal = current_principal(request)
    assert principal is not None  # the guard let the request through
    return principal


def _uuid(text: str) -> UUID:
    try:
        return UUID(text)
    except ValueError as error:
        raise TierNotFound() from error


def _status(error: DomainError) -> int:
    if isinstance(error, PaymentRequired):
        return 402
    if isinstance(error, Conflict):
        return 409
    if isinstance(error, NotFound):
        return 404
    return 422


def _offer(
    offer: Offer | None,
    video: str,
    *,
    status: int = 200,
    notice: str = "",
    level: str = "error",
    shortfall: int | None = None,
    trigger: str | None = None,
) -> Template:
    context = {
        "offer": offer,
        "video_pid": video,
        "notice": notice,
        "notice_level": level,
        "shortfall": shortfall,
        "new_key": new_key,
        "max_tiers": MAX_TIERS,
    }
    return HTMXTemplate(
        template_name=OFFER,
        context=context,
        status_code=status,
        headers=NO_STORE,
        trigger_event=trigger,
        after="receive" if trigger else None,
    )


def _back(creator_id: UUID, video: str) -> str:
    return f"/v/{video}" if video else f"/c/{creator_id}"


class MembershipOfferController(Controller):
    """The membership panels other pages load, and what a viewer does with them."""

    dependencies = {"memberships": inject(MembershipService)}

    @get("/me/memberships", guards=[login_required])
    async def mine(self, request: Request[Any, Any, Any], memberships: NamedDependency[MembershipService]) -> Template:
        """The account page's list of the viewer's memberships (each links to its creator's page)."""
        found = await memberships.memberships_of(_me(request).id)
        return Template(MINE, context={"memberships": found}, headers=NO_STORE)

    @get("/c/{creator_id:uuid}/membership")
    async def creator_offer(
        self,
        request: Request[Any, Any, Any],
        creator_id: FromPath[UUID],
        memberships: NamedDependency[MembershipService],
    ) -> Template:
        principal = current_principal(request)
        return _offer(await memberships.offer(principal.id if principal else None, creator_id), "")

    @get("/v/{public_id:str}/membership")
    async def video_offer(
        self, request: Request[Any, Any, Any], public_id: FromPath[str], memberships: NamedDependency[MembershipService]
    ) -> Template:
        principal = current_principal(request)
        return _offer(await memberships.video_offer(principal.id if principal else None, public_id), public_id)

    async def _after(
        self,
        request: Request[Any, Any, Any],
        memberships: MembershipService,
        creator_id: UUID | None,
        video: str,
        error: DomainError | None,
        done: str,
    ) -> Response[Any]:
        me = _me(request)
        if error is None and video:  # the video page: reload it, with the player
            assert creator_id is not None
            return flash(redirect(_back(creator_id, video), request), done)
        if not wants_fragment(request):
            if creator_id is None:
                raise error or TierNotFound()
            if error is not None:
                return flash(redirect(_back(creator_id, video), request), error.message, "error")
            return flash(redirect(_back(creator_id, video), request), done)
        offer = await memberships.offer(me.id, creator_id) if creator_id is not None else None
        if error is not None:
            shortfall = error.shortfall if isinstance(error, InsufficientPoints) else None
            return _offer(offer, video, status=_status(error), notice=error.message, shortfall=shortfall)
        return _offer(offer, video, notice=done, level="success", trigger=WALLET_CHANGED)

    async def _creator_of(self, memberships: MembershipService, tier_text: str) -> UUID | None:
        try:
            tier = await memberships.tier(UUID(tier_text))
        except ValueError:
            return None
        return tier.creator_id if tier else None

    @post("/memberships/join", guards=[verified_required])
    async def join(
        self,
        request: Request[Any, Any, Any],
        memberships: NamedDependency[MembershipService],
        data: URLEncodedBody[JoinForm],
    ) -> Response[Any]:
        """One click on a tier at the price its button showed: a month's membership, charged once per key.
        Refused clicks charge nothing: 402 (too few points), 409 (own tier, retired, already a member,
        price changed), 404 (no such tier), 422 (an expired button)."""
        me = _me(request)
        creator_id = await self._creator_of(memberships, data.tier)
        try:
            result = await memberships.join(me.id, _uuid(data.tier), data.key, data.price)
        except (PaymentRequired, Conflict, InvalidInput, NotFound) as error:
            return await self._after(request, memberships, creator_id, data.video, error, "")
        done = "Welcome! You are now a member." if not result.replayed else "You are a member."
        return await self._after(request, memberships, result.membership.creator_id, data.video, None, done)

    @post("/memberships/change", guards=[verified_required])
    async def change(
        self,
        request: Request[Any, Any, Any],
        memberships: NamedDependency[MembershipService],
        data: URLEncodedBody[JoinForm],
    ) -> Response[Any]:
        """Upgrade now (pro-rata charge, at most the amount shown) or downgrade at renewal."""
        me = _me(request)
        creator_id = await self._creator_of(memberships, data.tier)
        try:
            changed = await memberships.change_tier(me.id, _uuid(data.tier), data.key, data.price)
        except (PaymentRequired, Conflict, InvalidInput, NotFound) as error:
            return await self._after(request, memberships, creator_id, data.video, error, "")
        done = "Tier changed." if changed.next_tier_id is None else "Your new tier starts at your next renewal."
        return await self._after(request, memberships, changed.creator_id, data.video, None, done)

    @post("/memberships/cancel", guards=[verified_required])
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        memberships: NamedDependency[MembershipService],
        data: URLEncodedBody[CancelForm],
    ) -> Response[Any]:
        """Stop renewing; access lasts to the period's end."""
        me = _me(request)
        try:
            creator_id = UUID(data.creator)
        except ValueError:
            creator_id = None
        try:
            if creator_id is None:
                raise TierNotFound("We could not find that membership.")
            cancelled = await memberships.cancel(me.id, creator_id)
        except (Conflict, NotFound) as error:
            return await self._after(request, memberships, creator_id, "", error, "")
        until = cancelled.period_end.strftime("%-d %b %Y")
        # Back to the panel it came from (on a video page too: access goes on, the page need not reload).
        return await self._after(
            request, memberships, creator_id, "", None, f"Cancelled: your access lasts until {until}."
        )


def _studio_context(page: TierStudio, form: dict[str, Any], errors: dict[str, str], **extra: Any) -> dict[str, Any]:
    return {
        "page": page,
        "form": form,
        "errors": errors,
        "max_tiers": MAX_TIERS,
        "max_price": MAX_PRICE,
        "max_name": MAX_NAME,
        **extra,
    }


def _form_values(form: TierForm) -> dict[str, Any]:
    return {
        "name": form.name,
        "price": form.price,
        "scope": "all" if form.all_videos else "chosen",
        "videos": form.video_ids,
    }


class TierStudioController(Controller):
    """The creator's tiers: create, edit, retire."""

    path = "/studio/memberships"
    guards = [creator_required]
    dependencies = {"memberships": inject(MembershipService)}

    @get("/")
    async def page(self, request: Request[Any, Any, Any], memberships: NamedDependency[MembershipService]) -> Template:
        page = await memberships.studio_page(_me(request).id)
        context = _studio_context(page, {"scope": "all"}, {})
        return page_or_fragment(request, page=STUDIO_PAGE, fragment=STUDIO_TIERS, context=context, headers=NO_STORE)

    @get("/tile")
    async def tile(self, request: Request[Any, Any, Any], memberships: NamedDependency[MembershipService]) -> Template:
        """The dashboard's members tile."""
        members = await memberships.this_month(_me(request).id)
        return Template(TILE, context={"members": members}, headers=NO_STORE)

    @get("/figures")
    async def figures(
        self, request: Request[Any, Any, Any], memberships: NamedDependency[MembershipService]
    ) -> Template:
        """Members and recurring revenue per month, for the analytics page."""
        rows = await memberships.figures(_me(request).id, months=12)
        return Template(FIGURES, context={"figures": rows}, headers=NO_STORE)

    @get("/figures.csv")
    async def figures_csv(
        self, request: Request[Any, Any, Any], memberships: NamedDependency[MembershipService]
    ) -> Response[str]:
        rows = await memberships.figures(_me(request).id, months=12)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["month", "active_members", "joined", "lapsed", "recurring_revenue_points"])
        for f in rows:
            writer.writerow([f.month, f.active, f.joined, f.lapsed, f.revenue])
        return Response(
            out.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="hypha-memberships.csv"', **NO_STORE},
        )

    @post("/")
    async def create(
        self,
        request: Request[Any, Any, Any],
        memberships: NamedDependency[MembershipService],
        data: URLEncodedBody[TierForm],
    ) -> Response[Any]:
        me = _me(request)
        try:
            await memberships.create_tier(
                me.id, name=data.name, price=data.price, all_videos=data.all_videos, video_ids=data.video_ids
            )
        except InvalidTier as error:
            page = await memberships.studio_page(me.id)
            context = _studio_context(page, _form_values(data), error.errors)
            return page_or_fragment(
                request, page=STUDIO_PAGE, fragment=STUDIO_TIERS, context=context, status_code=422, headers=NO_STORE
            )
        return flash(redirect("/studio/memberships", request), "Tier created: viewers can join it now.")

    @post("/{tier_id:uuid}")
    async def update(
        self,
        request: Request[Any, Any, Any],
        tier_id: FromPath[UUID],
        memberships: NamedDependency[MembershipService],
        data: URLEncodedBody[TierForm],
    ) -> Response[Any]:
        me = _me(request)
        try:
            await memberships.update_tier(
                me.id, tier_id, name=data.name, price=data.price, all_videos=data.all_videos, video_ids=data.video_ids
            )
        except InvalidTier as error:
            page = await memberships.studio_page(me.id)
            context = _studio_context(
                page, {"scope": "all"}, {}, edit_id=tier_id, edit_form=_form_values(data), edit_errors=error.errors
            )
            return page_or_fragment(
                request, page=STUDIO_PAGE, fragment=STUDIO_TIERS, context=context, status_code=422, headers=NO_STORE
            )
        except Conflict as error:
            return flash(redirect("/studio/memberships", request), error.message, "error")
        return flash(redirect("/studio/memberships", request), "Tier saved. A new price applies to new members.")

    @post("/{tier_id:uuid}/retire")
    async def retire(
        self, request: Request[Any, Any, Any], tier_id: FromPath[UUID], memberships: NamedDependency[MembershipService]
    ) -> Response[Any]:
        await memberships.retire_tier(_me(request).id, tier_id)
        return flash(
            redirect("/studio/memberships", request), "Tier retired: no new members; its members keep it.", "info"
        )
