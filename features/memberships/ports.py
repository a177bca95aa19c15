"""What memberships need from the outside: storage for tiers, memberships and their charges."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from features.memberships.model import Charge, Membership, MonthFigures, Tier
from features.unlocks.model import Discount


class TierRepository(Protocol):
    async def tiers_of(self, creator_id: UUID, *, include_retired: bool = False) -> list[Tier]:
        """The creator's tiers, oldest first (retired ones only when asked)."""
        ...

    async def get(self, tier_id: UUID) -> Tier | None: ...

    async def save(self, tier: Tier) -> None:
        """Insert or replace the tier and its chosen videos."""
        ...

    async def lock_creator(self, creator_id: UUID) -> None:
        """Inside a transaction: wait for, and hold until it ends, the lock on the creator's tiers (so two
        new tiers at once cannot both pass the limit, and no join is decided while the creator's account
        closes)."""
        ...

    async def lock_creator_shared(self, creator_id: UUID) -> None:
        """Inside a transaction: hold the same lock shared until it ends — joins go on side by side, but
        wait for (and are waited for by) whoever holds it alone."""
        ...


class MembershipRepository(Protocol):
    async def lock(self, viewer_id: UUID, creator_id: UUID) -> None:
        """Inside a transaction: wait for, and hold until it ends, the lock on this viewer's membership of
        this creator. Every change of a membership (join, cancel, change of tier, renewal, end) takes it
        first and reads after, so they are decided one at a time, each seeing what the one before committed."""
        ...

    async def live(self, viewer_id: UUID, creator_id: UUID) -> Membership | None:
        """The viewer's membership of the creator that has not ended, or None."""
        ...

    async def by_key(self, viewer_id: UUID, join_key: str) -> Membership | None: ...

    async def get(self, membership_id: UUID) -> Membership | None: ...

    async def add(self, membership: Membership) -> None: ...

    async def save(self, membership: Membership) -> None:
        """Store the membership's new state (by id)."""
        ...

    async def add_charge(self, charge: Charge) -> None: ...

    async def charges_of(self, membership_id: UUID) -> list[Charge]:
        """Oldest first."""
        ...

    async def covering(self, viewer_id: UUID, creator_id: UUID, video_id: UUID, now: datetime) -> bool:
        """Whether the viewer has a membership of the creator with access at `now` whose tier includes the video."""
        ...

    async def due(self, now: datetime, reminder_until: datetime, limit: int) -> list[Membership]:
        """Memberships that need the renewal run at `now`: ends or grace ends passed, or renewals before
        `reminder_until` not reminded yet; earliest first."""
        ...

    async def live_of_creator(self, creator_id: UUID) -> list[Membership]:
        """The creator's memberships that have not ended, oldest first."""
        ...

    async def of_viewer(self, viewer_id: UUID) -> list[Membership]:
        """Every membership of the viewer, newest first."""
        ...

    async def month_figures(
        self, creator_id: UUID, months: list[tuple[datetime, datetime]], now: datetime
    ) -> list[MonthFigures]:
        """For each [start, end) month: members active at min(end, now), joined and lapsed in it, and
        the points charged in it."""
        ...


class JoinDiscount(Protocol):
    """A reduction of a tier's first month that another feature applies to one join (a promo code:
    features/offers), called by `MembershipService.join` inside the join's transaction, under the
    membership's lock. Renewals are never reduced."""

    async def reserve(self, viewer_id: UUID, tier: Tier) -> Discount:
        """Check and take the reduction for this join (count one use of a code under a lock held until the
        transaction ends); raise a DomainError to refuse the click (nothing is charged). The discount
        leaves at least one point to pay."""
        ...

    async def redeemed(self, membership: Membership, charge: Charge, discount: Discount) -> None:
        """The join was charged at the reduced price: record the redemption in the same transaction."""
        ...
