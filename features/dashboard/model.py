"""The creator's live dashboard: today's sales and tips, the latest tips with their messages, the
earnings balance, and who is watching right now.

"Watching now" counts the distinct viewers (a visitor: one per playback session) with a heartbeat in
the last 30 seconds on any of the creator's videos — the creator's own playback aside. The player beats
every 10 s while playing, so a viewer who pauses or leaves drops out within 30 s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from features.analytics.model import DaySales, TipNote
from features.payouts.model import Availability

PRESENCE_WINDOW = timedelta(seconds=30)
VIEWERS_EVENT = "viewers"
SALE_EVENT = "sale"
TIP_EVENT = "tip"
PAYOUT_EVENT = "payout"
BUNDLE_SALE_EVENT = "bundle_sale"  # features/offers
REFUND_EVENT = "refund"  # a take-down's refund (features/unlocks, features/offers)
TIPS_SHOWN = 5

# Which tiles each event of the creator's topic changes.
TILES_FOR: Mapping[str, tuple[str, ...]] = {
    SALE_EVENT: ("today", "balance"),
    TIP_EVENT: ("today", "tips", "balance"),
    BUNDLE_SALE_EVENT: ("today", "balance"),
    REFUND_EVENT: ("today", "balance"),
    VIEWERS_EVENT: ("viewers",),
    PAYOUT_EVENT: ("balance",),
}


@dataclass(frozen=True)
class Sighting:
    """A viewer seen watching one of the creator's videos."""

    owner_id: UUID
    video_id: UUID
    viewer_key: str
    at: datetime


def latest_sightings(sightings: Sequence[Sighting]) -> list[Sighting]:
    """One sighting per (creator, viewer, video): the latest."""
    latest: dict[tuple[UUID, str, UUID], Sighting] = {}
    for s in sightings:
        key = (s.owner_id, s.viewer_key, s.video_id)
        if key not in latest or latest[key].at < s.at:
            latest[key] = s
    return list(latest.values())


def changed_counts(current: Mapping[UUID, int], published: Mapping[UUID, int]) -> dict[UUID, int]:
    """The creators whose viewer count differs from the one last published (0 for those who had some)."""
    owners = set(current) | set(published)
    return {o: current.get(o, 0) for o in owners if current.get(o, 0) != published.get(o, 0)}


@dataclass(frozen=True)
class Dashboard:
    today: DaySales
    tips: list[TipNote]
    earnings: Availability  # the payouts' one account of the earnings: available, on hold, minimum
    viewers: int
