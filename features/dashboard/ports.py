"""What the dashboard needs from the outside: a store of who is watching whose videos right now."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from features.dashboard.model import Sighting


class PresenceStore(Protocol):
    """Recent sightings of viewers and the viewer counts last published (the heartbeat cursor is in
    core's `CursorStore`)."""

    async def seen(self, sightings: Sequence[Sighting]) -> None:
        """Record sightings (one per creator, viewer and video); a later sighting replaces an earlier one."""
        ...

    async def forget_before(self, cutoff: datetime) -> None:
        """Drop sightings older than `cutoff`."""
        ...

    async def counts(self, since: datetime) -> dict[UUID, int]:
        """Distinct viewers seen since `since`, per creator (creators with none are absent)."""
        ...

    async def viewers(self, owner_id: UUID, since: datetime) -> int:
        """Distinct viewers of this creator's videos seen since `since`."""
        ...

    async def published(self) -> dict[UUID, int]:
        """The viewer counts last published, per creator (absent: 0)."""
        ...

    async def set_published(self, counts: Mapping[UUID, int]) -> None:
        """Remember these counts as published (a 0 forgets the creator)."""
        ...
