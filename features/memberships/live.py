"""Memberships' part of the live pages: the creator dashboard's members tile, sent again whenever a
membership of the creator changes (joined, renewed, upgraded, lapsed, cancelled, ended)."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from core.events import Event, LiveFragment
from features.memberships.service import MEMBERS_CHANGED_EVENT, MembershipService

TILE = "memberships/_members_tile.html"


class MembersTile:
    """A `LivePart` (core/live.py): the members tile of the creator's dashboard, from the current figures."""

    def __init__(self, memberships: MembershipService) -> None:
        self.memberships = memberships

    async def fragments(self, owner_id: UUID, event: Event) -> Sequence[LiveFragment]:
        if event.name != MEMBERS_CHANGED_EVENT:
            return []
        return [LiveFragment(TILE, {"members": await self.memberships.this_month(owner_id)})]
