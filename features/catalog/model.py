"""The catalog's words: a card in a list of videos, the rules for a search, and what cannot be found.

The catalog stores nothing of its own: it reads published videos from the studio and creators'
names from accounts, and decides how a list of videos is shown to whoever asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from core.errors import NotFound
from core.text import one_line
from features.studio.model import VideoSummary

PAGE_SIZE = 24
MAX_PAGE_SIZE = 50
QUERY_MIN = 2
QUERY_MAX = 80


class CreatorNotFound(NotFound):
    message = "We could not find that creator."


@dataclass(frozen=True)
class Card:
    """One video in a list: the video as lists show it, and who made it."""

    video: VideoSummary
    creator_id: UUID
    creator_name: str

    @property
    def public_id(self) -> str:
        return self.video.public_id


@dataclass(frozen=True)
class SearchQuery:
    """What a visitor typed, tidied; `usable` once it is long enough to search for."""

    text: str

    @property
    def usable(self) -> bool:
        return len(self.text) >= QUERY_MIN

    @property
    def hint(self) -> str:
        if not self.text:
            return ""
        return "" if self.usable else f"Type at least {QUERY_MIN} characters to search."


def search_query(raw: str | None) -> SearchQuery:
    """Collapse whitespace, compose (NFC, as titles are stored: "é" typed as e + U+0301 finds "é") and cap
    the length (a title is at most 120 characters; no one types more)."""
    return SearchQuery(one_line(raw or "")[:QUERY_MAX])
