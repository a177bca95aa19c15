"""Preferences use cases: favourite a video with one click, list favourites, pick videos to watch next.

Both lists cost a fixed number of queries whatever their length: favourites read one page of
favourites, the videos in one batch and their creators in one batch; picks read the creators the
viewer favourited (1) and paid (4: videos, tips, bundles, memberships), the videos they watched (1),
then one page of videos and their creators (2).
"""

from __future__ import annotations

from uuid import UUID

from core.clock import Clock
from core.paging import Cursor, Page, clamp_limit
from core.uow import UnitOfWork
from features.catalog.model import Card
from features.catalog.service import CatalogService
from features.memberships.service import MembershipService
from features.offers.service import OffersService
from features.playback.service import PlaybackService
from features.preferences.model import (
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    Favourite,
    FavouriteEntry,
    listable_for,
    pick_creators,
)
from features.preferences.ports import FavouriteRepository
from features.studio.service import StudioService
from features.unlocks.service import UnlockService


class VideoPreferenceService:
    """What a viewer keeps and what Hypha suggests to them."""

    def __init__(
        self,
        favourites: FavouriteRepository,
        catalog: CatalogService,
        studio: StudioService,
        unlocks: UnlockService,
        playback: PlaybackService,
        memberships: MembershipService,
        offers: OffersService,
        uow: UnitOfWork,
        clock: Clock,
    ) -> None:
        self.memberships = memberships
        self.offers = offers
        self.favourites = favourites
        self.catalog = catalog
        self.studio = studio
        self.unlocks = unlocks
        self.playback = playback
        self.uow = uow
        self.clock = clock

    async def set_favourite(self, viewer_id: UUID, public_id: str, favourite: bool) -> bool:
        """Make the video a favourite of the viewer's, or not; returns the new state. Idempotent: asking
        twice for the same state changes nothing (a double click does not flip it back).

        Favouriting needs a video the viewer may see (raises VideoUnavailable otherwise); a favourite
        can be dropped even after its video was unpublished.
        """
        if favourite:
            video = await self.unlocks.visible_video(viewer_id, public_id)
            async with self.uow.atomic():
                await self.favourites.add(Favourite(viewer_id, video.id, video.owner_id, self.clock.now()))
            return True
        found = await self.studio.video_by_public_id(public_id)
        if found is not None:
            async with self.uow.atomic():
                await self.favourites.remove(viewer_id, found.id)
        return False

    async def is_favourite(self, viewer_id: UUID, public_id: str) -> bool:
        """Whether the viewer favourited this video. Raises VideoUnavailable for a video they may not see."""
        video = await self.unlocks.visible_video(viewer_id, public_id)
        return await self.favourites.contains(viewer_id, video.id)

    async def get_favourites(
        self, viewer_id: UUID, cursor: Cursor | None = None, limit: int | None = None
    ) -> Page[FavouriteEntry]:
        """The viewer's favourites, most recently added first, a page at a time.

        A favourite whose video is gone or no longer published (and not the viewer's own) is left out
        of its page, so a page may hold fewer than `limit` entries; the next page still starts right
        after it.
        """
        size = clamp_limit(limit, PAGE_SIZE, MAX_PAGE_SIZE)
        rows = await self.favourites.page(viewer_id, cursor, size + 1)
        page = Page.cut(rows, size, lambda f: f.position, first=cursor is None)
        videos = await self.studio.summaries_by_id([f.video_id for f in page.items])
        shown = [f for f in page.items if f.video_id in videos and listable_for(videos[f.video_id], viewer_id)]
        cards = await self.catalog.cards([videos[f.video_id] for f in shown])
        return Page([FavouriteEntry(f, c) for f, c in zip(shown, cards, strict=True)], page.next, page.first)

    async def creators_paid_by(self, viewer_id: UUID) -> set[UUID]:
        """The creators the viewer paid: videos bought or rented, tips, bundles, memberships."""
        return (
            await self.unlocks.creators_paid_by(viewer_id)
            | await self.offers.creators_bought_from(viewer_id)
            | await self.memberships.creators_joined_by(viewer_id)
        )

    async def get_picks(self, viewer_id: UUID, cursor: Cursor | None = None, limit: int | None = None) -> Page[Card]:
        """Published videos the viewer has not watched, from creators they favourited or paid, never
        their own; newest first, a page at a time."""
        creators = pick_creators(
            await self.favourites.creator_ids(viewer_id), await self.creators_paid_by(viewer_id), viewer_id
        )
        if not creators:
            return Page([], None, cursor is None)
        watched = await self.playback.watched_video_ids(viewer_id)
        size = clamp_limit(limit, PAGE_SIZE, MAX_PAGE_SIZE)
        return await self.catalog.listing(cursor, size, owner_ids=creators, exclude_ids=watched)
