"""The favourite toggle on video pages, and the favourites and picks lists of the account page.

The toggle posts the state it asks for (not "flip"), so a doubled click or a retry lands in the same
state. Its button is loaded by the page with htmx (`_favourite_loader.html`), so the video page
pays nothing for it; /me loads both lists the same way (`_favourites_panel.html`, `_picks_panel.html`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Template

from core.auth import current_principal, login_required
from core.identity import Principal
from core.paging import Cursor, Page
from core.web import flash, inject, page_or_fragment, query_number, redirect, wants_fragment
from features.preferences.dto import FavouriteForm
from features.preferences.model import PAGE_SIZE
from features.preferences.service import VideoPreferenceService

TOGGLE = "preferences/_favourite.html"
PRIVATE = {"Cache-Control": "private, no-store"}


def _me(request: Request[Any, Any, Any]) -> Principal:
    principal = current_principal(request)
    assert principal is not None  # the guard let the request through
    return principal


def _toggle(public_id: str, favourite: bool, *, logged_in: bool = True) -> Template:
    context = {"public_id": public_id, "favourite": favourite, "logged_in": logged_in}
    return Template(TOGGLE, context=context, headers=PRIVATE)


def _next_url(path: str, page: Page[Any], limit: int | None) -> str | None:
    if page.next_token is None:
        return None
    params = {"after": page.next_token} | ({"limit": str(limit)} if limit and limit != PAGE_SIZE else {})
    return f"{path}?{urlencode(params)}"


class FavouriteController(Controller):
    path = "/v"
    dependencies = {"preferences": inject(VideoPreferenceService)}

    @get("/{public_id:str}/favourite")
    async def toggle(
        self,
        request: Request[Any, Any, Any],
        public_id: FromPath[str],
        preferences: NamedDependency[VideoPreferenceService],
    ) -> Template:
        """The toggle as it stands for this viewer; visitors get a prompt to log in."""
        viewer = current_principal(request)
        if viewer is None:
            return _toggle(public_id, False, logged_in=False)
        return _toggle(public_id, await preferences.is_favourite(viewer.id, public_id))

    @post("/{public_id:str}/favourite", guards=[login_required])
    async def set_favourite(
        self,
        request: Request[Any, Any, Any],
        public_id: FromPath[str],
        preferences: NamedDependency[VideoPreferenceService],
        data: URLEncodedBody[FavouriteForm],
    ) -> Response[Any]:
        """One click: keep the video as a favourite, or let it go. htmx gets the new button back."""
        form = data
        state = await preferences.set_favourite(_me(request).id, public_id, form.wanted)
        if not wants_fragment(request):
            message = "Added to your favourites." if state else "Removed from your favourites."
            return flash(redirect(f"/v/{public_id}", request), message)
        return _toggle(public_id, state)


class PreferencesController(Controller):
    path = "/me"
    guards = [login_required]
    dependencies = {"preferences": inject(VideoPreferenceService)}

    @get("/favourites")
    async def favourites(
        self,
        request: Request[Any, Any, Any],
        preferences: NamedDependency[VideoPreferenceService],
        after: FromQuery[str | None] = None,
        limit: FromQuery[str | None] = None,
    ) -> Template:
        """The viewer's favourites, most recently added first."""
        size = query_number(limit, name="limit")
        page = await preferences.get_favourites(_me(request).id, Cursor.parse(after), size)
        context = {"page": page, "next_url": _next_url("/me/favourites", page, size)}
        return page_or_fragment(
            request,
            page="preferences/favourites.html",
            fragment="preferences/_favourites.html",
            context=context,
            headers=PRIVATE,
        )

    @get("/picks")
    async def picks(
        self,
        request: Request[Any, Any, Any],
        preferences: NamedDependency[VideoPreferenceService],
        after: FromQuery[str | None] = None,
        limit: FromQuery[str | None] = None,
    ) -> Template:
        """Videos picked for the viewer (see VideoPreferenceService.get_picks)."""
        size = query_number(limit, name="limit")
        page = await preferences.get_picks(_me(request).id, Cursor.parse(after), size)
        context = {"page": page, "next_url": _next_url("/me/picks", page, size)}
        return page_or_fragment(
            request, page="preferences/picks.html", fragment="preferences/_picks.html", context=context, headers=PRIVATE
        )
