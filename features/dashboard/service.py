"""Dashboard use cases: the creator's live tiles, and the viewer counts that keep "watching now" live.

How each tile stays live, on the live pages' one SSE connection (core/live.py, topic
`user:<creator>`; the dashboard is a `LivePart` declared by its feature):

  today, tips  "sale" and "tip" events (published by unlocks in the transaction of the ledger transfer)
               re-render them from `AnalyticsService.today` / `recent_tips` — the folded aggregates plus
               the events not folded yet, so the figures are exact the moment the event arrives
  earnings     "sale", "tip" and "payout" events re-render it from `PayoutService.availability` (the
               same figures and words as the payouts page: available, on hold until, minimum)
  viewers      "viewers" events, which `refresh_viewers` publishes — a saq cron job every 10 s that
               reads new heartbeats (a cursor on their ids), keeps each viewer's latest sighting per
               creator, forgets sightings older than 30 s, and publishes a creator's count only when
               it changed (so a quiet creator costs nothing, and a viewer who leaves drops out).

Every fragment is rendered from the current state, not from the event, so a reconnecting browser
that replays missed events (Last-Event-ID) simply ends up with the current figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from core.clock import Clock
from core.eventlog import CursorStore
from core.events import Event, EventBus, LiveFragment, LogCursor
from core.uow import UnitOfWork
from features.analytics.model import viewer_key
from features.analytics.service import AnalyticsService
from features.dashboard.model import (
    PRESENCE_WINDOW,
    TILES_FOR,
    TIPS_SHOWN,
    VIEWERS_EVENT,
    Dashboard,
    Sighting,
    changed_counts,
    latest_sightings,
)
from features.dashboard.ports import PresenceStore
from features.ledger.service import LedgerService
from features.payouts.model import Availability
from features.payouts.service import PayoutService
from features.playback.service import PlaybackService
from features.studio.service import StudioService, topic_for

TILE_TEMPLATES = {
    "today": "dashboard/_today.html",
    "tips": "dashboard/_tips.html",
    "balance": "dashboard/_balance.html",
    "viewers": "dashboard/_viewers.html",
}
_OWNERS_CACHED = 50_000
HEARTBEATS, CONSUMER = "heartbeats", "dashboard"  # the dashboard's read position in core's cursor store


@dataclass(frozen=True)
class PresencePolicy:
    batch: int = 10_000


class DashboardService:
    def __init__(
        self,
        analytics: AnalyticsService,
        ledger: LedgerService,
        playback: PlaybackService,
        studio: StudioService,
        presence: PresenceStore,
        bus: EventBus,
        uow: UnitOfWork,
        clock: Clock,
        payouts: PayoutService,
        cursors: CursorStore,
        policy: PresencePolicy | None = None,
    ) -> None:
        self.analytics = analytics
        self.ledger = ledger
        self.playback = playback
        self.studio = studio
        self.presence = presence
        self.bus = bus
        self.uow = uow
        self.clock = clock
        self.payouts = payouts
        self.cursors = cursors
        self.policy = policy or PresencePolicy()
        self._owners: dict[UUID, UUID | None] = {}  # video → creator; never changes

    # -- the tiles ---------------------------------------------------------------------------------------

    async def snapshot(self, owner_id: UUID) -> Dashboard:
        """Every tile of the creator's dashboard, as of now."""
        return Dashboard(
            today=await self.analytics.today(owner_id),
            tips=await self.analytics.recent_tips(owner_id, TIPS_SHOWN),
            earnings=await self.earnings(owner_id),
            viewers=await self.viewers(owner_id),
        )

    async def earnings(self, owner_id: UUID) -> Availability:
        """The creator's earnings as the payouts page tells them: available, on hold (until when), the
        minimum payout — computed by the payouts feature, so both pages always agree."""
        return await self.payouts.availability(owner_id)

    async def viewers(self, owner_id: UUID) -> int:
        """Distinct viewers watching the creator's videos in the last 30 seconds (as last sighted)."""
        return await self.presence.viewers(owner_id, self.clock.now() - PRESENCE_WINDOW)

    async def fragments(self, owner_id: UUID, event: Event) -> Sequence[LiveFragment]:
        """The tiles an event of the creator's topic changes, re-rendered from the current state (the
        live stream calls this: the dashboard is a LivePart)."""
        return [
            LiveFragment(TILE_TEMPLATES[tile], await self._tile_context(tile, owner_id, event.name))
            for tile in TILES_FOR.get(event.name, ())
        ]

    async def _tile_context(self, tile: str, owner_id: UUID, cause: str = "") -> dict[str, Any]:
        if tile == "today":  # `cause`, the event's name: the tile's announcement says a refund is not a sale
            return {"today": await self.analytics.today(owner_id), "cause": cause}
        if tile == "tips":
            return {"tips": await self.analytics.recent_tips(owner_id, TIPS_SHOWN)}
        if tile == "balance":
            return {"earnings": await self.earnings(owner_id)}
        return {"viewers": await self.viewers(owner_id)}

    # -- who is watching now -----------------------------------------------------------------------------

    async def refresh_viewers(self) -> dict[UUID, int]:
        """Take in new heartbeats, forget stale sightings, and publish a "viewers" event to each creator
        whose count changed (in the same transaction, so counts and events agree). Returns those counts.
        Runs one at a time: the heartbeat cursor is locked while it works."""
        now = self.clock.now()
        cutoff = now - PRESENCE_WINDOW
        async with self.uow.atomic():
            position = (await self.cursors.locked(HEARTBEATS, CONSUMER)).position
            while True:
                beats = await self.playback.heartbeats_after(position, self.policy.batch)
                if not beats:
                    break
                recent = [b for b in beats if b.at >= cutoff]
                sightings = []
                for beat in recent:
                    owner = await self._owner_of(beat.video_id)
                    if owner is not None and owner != beat.viewer_id:
                        sightings.append(Sighting(owner, beat.video_id, viewer_key(beat), beat.at))
                await self.presence.seen(latest_sightings(sightings))
                position = beats[-1].id
                if len(beats) < self.policy.batch:
                    break
            await self.cursors.save(HEARTBEATS, CONSUMER, LogCursor(position))
            await self.presence.forget_before(cutoff)
            changed = changed_counts(await self.presence.counts(cutoff), await self.presence.published())
            await self.presence.set_published(changed)
            for owner, count in sorted(changed.items()):
                await self.bus.publish(topic_for(owner), VIEWERS_EVENT, {"viewers": count})
        return changed

    async def _owner_of(self, video_id: UUID) -> UUID | None:
        if video_id not in self._owners:
            if len(self._owners) > _OWNERS_CACHED:
                self._owners.clear()
            video = await self.studio.get_video(video_id)
            self._owners[video_id] = video.owner_id if video else None
        return self._owners[video_id]
