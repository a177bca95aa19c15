"""Catalog use cases: the home feed, a creator's page and title search, newest first, a page at a time.

Every list costs the same few queries whatever its length: one for the page of videos (keyset
pagination in the studio's repository, LIMIT page size + 1) and one for the creators' names
(`AccountService.users_by_id`). Only PUBLISHED videos are ever listed; unpublished and unready ones
stay on their owner's studio and video pages.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from uuid import UUID

from core.paging import Cursor, Page, clamp_limit
from features.accounts.model import User
from features.accounts.service import AccountService
from features.catalog.model import MAX_PAGE_SIZE, PAGE_SIZE, Card, CreatorNotFound, SearchQuery
from features.studio.model import VideoSummary
from features.studio.service import StudioService

UNKNOWN_CREATOR = "A creator"


@dataclass(frozen=True)
class CreatorPage:
    creator: User
    cards: Page[Card]


class CatalogService:
    """What anyone may browse: published videos, with their creators' names."""

    def __init__(self, studio: StudioService, accounts: AccountService) -> None:
        self.studio = studio
        self.accounts = accounts

    async def feed(self, after: Cursor | None = None, limit: int | None = None) -> Page[Card]:
        """Published videos of every creator, newest first, the page after `after`."""
        return await self.listing(after, limit)

    async def creator_page(
        self, creator_id: UUID, after: Cursor | None = None, limit: int | None = None
    ) -> CreatorPage:
        """A creator and their published videos, newest first. Raises CreatorNotFound for an unknown
        user or one who is not a creator."""
        creator = await self.accounts.get_user(creator_id)
        if creator is None or not creator.is_creator:
            raise CreatorNotFound()
        page = await self.studio.published_page(
            after, clamp_limit(limit, PAGE_SIZE, MAX_PAGE_SIZE), owner_ids=[creator_id]
        )
        return CreatorPage(
            creator, Page([Card(v, creator.id, creator.display_name) for v in page.items], page.next, page.first)
        )

    async def search(self, query: SearchQuery, after: Cursor | None = None, limit: int | None = None) -> Page[Card]:
        """Published videos whose title contains the query (any case), newest first; an empty page
        for a query too short to search for."""
        if not query.usable:
            return Page([])
        return await self.listing(after, limit, query=query.text)

    async def listing(
        self,
        after: Cursor | None,
        limit: int | None,
        *,
        owner_ids: Collection[UUID] | None = None,
        query: str | None = None,
        exclude_ids: Collection[UUID] = (),
    ) -> Page[Card]:
        """A page of published videos as cards (see StudioService.published_page for the filters)."""
        size = clamp_limit(limit, PAGE_SIZE, MAX_PAGE_SIZE)
        page = await self.studio.published_page(after, size, owner_ids=owner_ids, query=query, exclude_ids=exclude_ids)
        return Page(await self.cards(page.items), page.next, page.first)

    async def cards(self, videos: Sequence[VideoSummary]) -> list[Card]:
        """The videos with their creators' names, looked up in one batch."""
        creators = await self.accounts.users_by_id(list({v.owner_id for v in videos}))
        return [
            Card(v, v.owner_id, creators[v.owner_id].display_name if v.owner_id in creators else UNKNOWN_CREATOR)
            for v in videos
        ]
