"""Preferences: the videos a viewer keeps as favourites, and the rule that picks videos for them.

Picks are published videos the viewer has not watched yet, from the creators they care about:
creators of videos they favourited, and creators they paid (bought from or tipped) — never their
own videos. Newest first, like every list in Hypha.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from core.paging import Cursor
from features.catalog.model import Card
from features.studio.model import VideoState, VideoSummary

PAGE_SIZE = 12
MAX_PAGE_SIZE = 50


@dataclass(frozen=True)
class Favourite:
    """A viewer keeps a video. The video's creator is kept with it (a video never changes hands), so
    "creators I favourited" needs no look-up in another feature."""

    viewer_id: UUID
    video_id: UUID
    creator_id: UUID
    created_at: datetime

    @property
    def position(self) -> Cursor:
        return Cursor(self.created_at, self.video_id)


@dataclass(frozen=True)
class FavouriteEntry:
    """A favourite as the account page lists it."""

    favourite: Favourite
    card: Card


def pick_creators(favourited: Iterable[UUID], paid: Iterable[UUID], viewer_id: UUID) -> set[UUID]:
    """Whose videos to pick from: creators the viewer favourited or paid, without the viewer."""
    return (set(favourited) | set(paid)) - {viewer_id}


def listable_for(video: VideoSummary, viewer_id: UUID) -> bool:
    """A favourite is listed while its video is published and not hidden by moderators (taken down, or
    its creator suspended), or when it is the viewer's own."""
    return (video.state is VideoState.PUBLISHED and not video.hidden) or video.owner_id == viewer_id
