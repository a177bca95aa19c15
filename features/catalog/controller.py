"""The home feed at /, creator pages at /c/{id} and title search at /search.

A plain browser gets whole pages; the "Older" link asks with htmx for the list alone (`_feed.html`,
the same partial the pages include) and swaps it in place.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from core.auth import current_principal
from core.paging import Cursor, Page
from core.web import inject, page_or_fragment, query_number
from features.catalog.model import PAGE_SIZE, Card, search_query
from features.catalog.service import CatalogService

FEED = "catalog/_feed.html"


def _links(path: str, page: Page[Card], limit: int | None, **params: str) -> dict[str, str | None]:
    """The URLs of the next (older) page and of the newest page, keeping the query and page size."""
    kept = {k: v for k, v in params.items() if v}
    if limit and limit != PAGE_SIZE:
        kept["limit"] = str(limit)

    def url(extra: dict[str, str]) -> str:
        query = urlencode({**kept, **extra})
        return f"{path}?{query}" if query else path

    return {
        "next_url": url({"after": page.next_token}) if page.next_token else None,
        "newest_url": None if page.first else url({}),
    }


def _render(request: Request[Any, Any, Any], page_template: str, context: dict[str, Any]) -> Template:
    return page_or_fragment(request, page=page_template, fragment=FEED, context=context)


class CatalogController(Controller):
    dependencies = {"catalog": inject(CatalogService)}

    @get("/", name="home")
    async def home(
        self,
        request: Request[Any, Any, Any],
        catalog: NamedDependency[CatalogService],
        after: FromQuery[str | None] = None,
        limit: FromQuery[str | None] = None,
    ) -> Template:
        """The landing hero for visitors, and the newest published videos for everyone."""
        size = query_number(limit, name="limit")
        page = await catalog.feed(Cursor.parse(after), size)
        context = {
            "user": current_principal(request),
            "page": page,
            "feed_title": "Newest videos",
            "empty": "home",
            **_links("/", page, size),
        }
        return _render(request, "catalog/home.html", context)

    @get("/search")
    async def search(
        self,
        request: Request[Any, Any, Any],
        catalog: NamedDependency[CatalogService],
        q: FromQuery[str] = "",
        after: FromQuery[str | None] = None,
        limit: FromQuery[str | None] = None,
    ) -> Template:
        """Published videos whose title contains `q`, in any case, newest first."""
        size = query_number(limit, name="limit")
        query = search_query(q)
        page = await catalog.search(query, Cursor.parse(after), size)
        context = {
            "query": query,
            "page": page,
            "feed_title": f"Videos matching “{query.text}”" if query.usable else "",
            "empty": "search" if query.usable else "none",
            **_links("/search", page, size, q=query.text),
        }
        return _render(request, "catalog/search.html", context)

    @get("/c/{creator_id:uuid}")
    async def creator(
        self,
        request: Request[Any, Any, Any],
        catalog: NamedDependency[CatalogService],
        creator_id: FromPath[UUID],
        after: FromQuery[str | None] = None,
        limit: FromQuery[str | None] = None,
    ) -> Template:
        """A creator's published videos, newest first."""
        size = query_number(limit, name="limit")
        found = await catalog.creator_page(creator_id, Cursor.parse(after), size)
        viewer = current_principal(request)
        context = {
            "creator": found.creator,
            "is_me": viewer is not None and viewer.id == found.creator.id,
            "page": found.cards,
            "feed_title": "Videos",
            "empty": "creator",
            **_links(f"/c/{creator_id}", found.cards, size),
        }
        return _render(request, "catalog/creator.html", context)
