"""Memberships adapters: PostgreSQL (Piccolo; SQL for locks, the access check and the monthly figures)
and in memory. Both keep the same promises (tests/contract/test_memberships_repositories.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from piccolo.columns import Column

from core.db import Database
from features.memberships.model import Charge, ChargeKind, Membership, MembershipState, MonthFigures, Tier
from features.memberships.tables import ChargeTable, MembershipTable, TierTable, TierVideoTable

# ---------------------------------------------------------------------------------------------------
# In memory


class MemoryTierRepository:
    def __init__(self) -> None:
        self.tiers: dict[UUID, Tier] = {}

    async def tiers_of(self, creator_id: UUID, *, include_retired: bool = False) -> list[Tier]:
        found = [t for t in self.tiers.values() if t.creator_id == creator_id and (include_retired or t.on_sale)]
        return sorted(found, key=lambda t: (t.created_at or datetime.min.replace(tzinfo=UTC), t.id))

    async def get(self, tier_id: UUID) -> Tier | None:
        return self.tiers.get(tier_id)

    async def save(self, tier: Tier) -> None:
        self.tiers[tier.id] = tier

    async def lock_creator(self, creator_id: UUID) -> None:
        # Nothing the memory adapters do suspends, so a use case runs from its lock to its end alone.
        return None

    async def lock_creator_shared(self, creator_id: UUID) -> None:
        return None


class MemoryMembershipRepository:
    def __init__(self, tiers: MemoryTierRepository) -> None:
        self.tiers = tiers
        self.memberships: dict[UUID, Membership] = {}
        self.charges: list[Charge] = []

    async def lock(self, viewer_id: UUID, creator_id: UUID) -> None:
        return None

    async def live(self, viewer_id: UUID, creator_id: UUID) -> Membership | None:
        return next(
            (
                m
                for m in self.memberships.values()
                if m.viewer_id == viewer_id and m.creator_id == creator_id and m.state is not MembershipState.ENDED
            ),
            None,
        )

    async def by_key(self, viewer_id: UUID, join_key: str) -> Membership | None:
        return next((m for m in self.memberships.values() if m.viewer_id == viewer_id and m.join_key == join_key), None)

    async def get(self, membership_id: UUID) -> Membership | None:
        return self.memberships.get(membership_id)

    async def add(self, membership: Membership) -> None:
        if await self.live(membership.viewer_id, membership.creator_id) is not None:
            raise ValueError("one live membership per viewer and creator")
        self.memberships[membership.id] = membership

    async def save(self, membership: Membership) -> None:
        self.memberships[membership.id] = membership

    async def add_charge(self, charge: Charge) -> None:
        if any(c.idempotency_key == charge.idempotency_key for c in self.charges):
            raise ValueError("a charge's key is unique")
        self.charges.append(charge)

    async def charges_of(self, membership_id: UUID) -> list[Charge]:
        return sorted((c for c in self.charges if c.membership_id == membership_id), key=lambda c: (c.created_at, c.id))

    async def covering(self, viewer_id: UUID, creator_id: UUID, video_id: UUID, now: datetime) -> bool:
        membership = await self.live(viewer_id, creator_id)
        if membership is None or not membership.has_access(now):
            return False
        tier = self.tiers.tiers.get(membership.tier_id)
        return tier is not None and tier.includes(video_id)

    async def due(self, now: datetime, reminder_until: datetime, limit: int) -> list[Membership]:
        found = [m for m in self.memberships.values() if _due(m, now, reminder_until)]
        return sorted(found, key=lambda m: (m.period_end, m.id))[:limit]

    async def live_of_creator(self, creator_id: UUID) -> list[Membership]:
        found = [
            m for m in self.memberships.values() if m.creator_id == creator_id and m.state is not MembershipState.ENDED
        ]
        return sorted(found, key=lambda m: (m.joined_at, m.id))

    async def of_viewer(self, viewer_id: UUID) -> list[Membership]:
        found = [m for m in self.memberships.values() if m.viewer_id == viewer_id]
        return sorted(found, key=lambda m: (m.joined_at, m.id), reverse=True)

    async def month_figures(
        self, creator_id: UUID, months: list[tuple[datetime, datetime]], now: datetime
    ) -> list[MonthFigures]:
        mine = [m for m in self.memberships.values() if m.creator_id == creator_id]
        figures = []
        for start, stop in months:
            at = min(stop, now)
            figures.append(
                MonthFigures(
                    start.strftime("%Y-%m"),
                    sum(1 for m in mine if m.joined_at <= at and (m.ended_at is None or m.ended_at > at)),
                    sum(1 for m in mine if start <= m.joined_at < stop),
                    sum(1 for m in mine if m.lapsed_at is not None and start <= m.lapsed_at < stop),
                    sum(c.points for c in self.charges if c.creator_id == creator_id and start <= c.created_at < stop),
                )
            )
        return sorted(figures, key=lambda f: f.month, reverse=True)


def _due(m: Membership, now: datetime, reminder_until: datetime) -> bool:
    if m.state is MembershipState.ACTIVE:
        return m.period_end <= now or (m.period_end <= reminder_until and m.reminded_for != m.period_end)
    if m.state is MembershipState.CANCELLED:
        return m.period_end <= now
    return m.state is MembershipState.LAPSED


# ---------------------------------------------------------------------------------------------------
# PostgreSQL

# Advisory lock namespaces (see migrations/1100_unlock_purchase_lock.sql for the others in use): taken
# before the ledger locks any account, and never after one, so they add no deadlock.
_TIERS_LOCK = 2030
_MEMBERSHIP_LOCK = 2031


def _tier(row: Any, video_ids: frozenset[UUID]) -> Tier:
    return Tier(
        id=row["id"],
        creator_id=row["creator_id"],
        name=row["name"],
        price=row["price_points"],
        all_videos=row["all_videos"],
        video_ids=video_ids,
        retired_at=row["retired_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _membership(row: Any) -> Membership:
    return Membership(
        id=row["id"],
        viewer_id=row["viewer_id"],
        creator_id=row["creator_id"],
        tier_id=row["tier_id"],
        price=row["price_points"],
        state=MembershipState(row["state"]),
        anchor_day=row["anchor_day"],
        period_start=row["period_start"],
        period_end=row["period_end"],
        join_key=row["join_key"],
        joined_at=row["joined_at"],
        updated_at=row["updated_at"],
        grace_until=row["grace_until"],
        next_tier_id=row["next_tier_id"],
        next_price=row["next_price_points"],
        reminded_for=row["reminded_for"],
        lapsed_at=row["lapsed_at"],
        ended_at=row["ended_at"],
    )


def _membership_values(m: Membership) -> dict[str, Any]:
    return {
        "id": m.id,
        "viewer_id": m.viewer_id,
        "creator_id": m.creator_id,
        "tier_id": m.tier_id,
        "price_points": m.price,
        "state": m.state.value,
        "anchor_day": m.anchor_day,
        "period_start": m.period_start,
        "period_end": m.period_end,
        "grace_until": m.grace_until,
        "next_tier_id": m.next_tier_id,
        "next_price_points": m.next_price,
        "reminded_for": m.reminded_for,
        "join_key": m.join_key,
        "joined_at": m.joined_at,
        "lapsed_at": m.lapsed_at,
        "ended_at": m.ended_at,
        "updated_at": m.updated_at,
    }


def _charge(row: Any) -> Charge:
    return Charge(
        id=row["id"],
        membership_id=row["membership_id"],
        viewer_id=row["viewer_id"],
        creator_id=row["creator_id"],
        tier_id=row["tier_id"],
        kind=ChargeKind(row["kind"]),
        period_start=row["period_start"],
        points=row["points"],
        fee=row["fee"],
        transfer_id=row["transfer_id"],
        idempotency_key=row["idempotency_key"],
        created_at=row["created_at"],
    )


class PostgresTierRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _with_videos(self, rows: list[dict[str, Any]]) -> list[Tier]:
        ids = [row["id"] for row in rows if not row["all_videos"]]
        chosen: dict[UUID, set[UUID]] = {}
        if ids:
            for link in await TierVideoTable.select().where(TierVideoTable.tier_id.is_in(ids)):
                chosen.setdefault(link["tier_id"], set()).add(link["video_id"])
        return [_tier(row, frozenset(chosen.get(row["id"], ()))) for row in rows]

    async def tiers_of(self, creator_id: UUID, *, include_retired: bool = False) -> list[Tier]:
        query = TierTable.select().where(TierTable.creator_id == creator_id)
        if not include_retired:
            query = query.where(TierTable.retired_at.is_null())
        return await self._with_videos(await query.order_by(TierTable.created_at, TierTable.id))

    async def get(self, tier_id: UUID) -> Tier | None:
        row = await TierTable.select().where(TierTable.id == tier_id).first()
        return (await self._with_videos([row]))[0] if row else None

    async def save(self, tier: Tier) -> None:
        row = TierTable(
            id=tier.id,
            creator_id=tier.creator_id,
            name=tier.name,
            price_points=tier.price,
            all_videos=tier.all_videos,
            retired_at=tier.retired_at,
            created_at=tier.created_at,
            updated_at=tier.updated_at,
        )
        changed = [c for c in TierTable._meta.columns if c._meta.name not in ("id", "creator_id", "created_at")]
        await TierTable.insert(row).on_conflict(target=TierTable.id, action="DO UPDATE", values=changed)
        await TierVideoTable.delete().where(TierVideoTable.tier_id == tier.id)
        if not tier.all_videos and tier.video_ids:
            await TierVideoTable.insert(*(TierVideoTable(tier_id=tier.id, video_id=v) for v in sorted(tier.video_ids)))

    async def lock_creator(self, creator_id: UUID) -> None:
        # SQL: an advisory transaction lock (the creator's tiers have no row to lock before the first).
        await self.db.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _TIERS_LOCK, str(creator_id))

    async def lock_creator_shared(self, creator_id: UUID) -> None:
        # SQL: the same advisory lock, shared.
        await self.db.execute("SELECT pg_advisory_xact_lock_shared($1, hashtext($2))", _TIERS_LOCK, str(creator_id))


# SQL: the access check runs on every key and segment request of a locked video: one EXISTS.
_COVERING = """
    SELECT EXISTS (
        SELECT 1 FROM memberships m JOIN membership_tiers t ON t.id = m.tier_id
        WHERE m.viewer_id = $1 AND m.creator_id = $2 AND m.state <> 'ended'
          AND (CASE WHEN m.state = 'lapsed' THEN m.grace_until ELSE m.period_end END) > $4
          AND (t.all_videos OR EXISTS (
              SELECT 1 FROM membership_tier_videos v WHERE v.tier_id = t.id AND v.video_id = $3))
    )
"""

# SQL: the renewal run's selection, one indexed read over the three cases.
_DUE = """
    SELECT * FROM memberships
    WHERE (state = 'active' AND (period_end <= $1
                                 OR (period_end <= $2 AND reminded_for IS DISTINCT FROM period_end)))
       OR (state = 'cancelled' AND period_end <= $1)
       OR state = 'lapsed'
    ORDER BY period_end, id
    LIMIT $3
"""

# SQL: the monthly figures, one aggregate per month over unnest()ed month bounds.
_MONTHS = """
    SELECT s.start,
        (SELECT count(*) FROM memberships m WHERE m.creator_id = $1 AND m.joined_at <= least(s.stop, $4)
            AND (m.ended_at IS NULL OR m.ended_at > least(s.stop, $4))) AS active,
        (SELECT count(*) FROM memberships m WHERE m.creator_id = $1
            AND m.joined_at >= s.start AND m.joined_at < s.stop) AS joined,
        (SELECT count(*) FROM memberships m WHERE m.creator_id = $1
            AND m.lapsed_at >= s.start AND m.lapsed_at < s.stop) AS lapsed,
        (SELECT coalesce(sum(c.points), 0) FROM membership_charges c WHERE c.creator_id = $1
            AND c.created_at >= s.start AND c.created_at < s.stop) AS revenue
    FROM unnest($2::timestamptz[], $3::timestamptz[]) AS s(start, stop)
    ORDER BY s.start DESC
"""


class PostgresMembershipRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def lock(self, viewer_id: UUID, creator_id: UUID) -> None:
        # SQL: an advisory transaction lock: a join has no row to lock yet. The reads after it are later
        # statements, so in READ COMMITTED they see whatever the lock's previous holder committed.
        await self.db.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))", _MEMBERSHIP_LOCK, f"{viewer_id}/{creator_id}"
        )

    async def live(self, viewer_id: UUID, creator_id: UUID) -> Membership | None:
        row = (
            await MembershipTable.select()
            .where(
                (MembershipTable.viewer_id == viewer_id)
                & (MembershipTable.creator_id == creator_id)
                & (MembershipTable.state != MembershipState.ENDED.value)
            )
            .first()
        )
        return _membership(row) if row else None

    async def by_key(self, viewer_id: UUID, join_key: str) -> Membership | None:
        row = (
            await MembershipTable.select()
            .where((MembershipTable.viewer_id == viewer_id) & (MembershipTable.join_key == join_key))
            .first()
        )
        return _membership(row) if row else None

    async def get(self, membership_id: UUID) -> Membership | None:
        row = await MembershipTable.select().where(MembershipTable.id == membership_id).first()
        return _membership(row) if row else None

    async def add(self, membership: Membership) -> None:
        await MembershipTable.insert(MembershipTable(**_membership_values(membership)))

    async def save(self, membership: Membership) -> None:
        values: dict[Column | str, Any] = {k: v for k, v in _membership_values(membership).items() if k != "id"}
        await MembershipTable.update(values).where(MembershipTable.id == membership.id)

    async def add_charge(self, charge: Charge) -> None:
        await ChargeTable.insert(
            ChargeTable(
                id=charge.id,
                membership_id=charge.membership_id,
                viewer_id=charge.viewer_id,
                creator_id=charge.creator_id,
                tier_id=charge.tier_id,
                kind=charge.kind.value,
                period_start=charge.period_start,
                points=charge.points,
                fee=charge.fee,
                transfer_id=charge.transfer_id,
                idempotency_key=charge.idempotency_key,
                created_at=charge.created_at,
            )
        )

    async def charges_of(self, membership_id: UUID) -> list[Charge]:
        rows = (
            await ChargeTable.select()
            .where(ChargeTable.membership_id == membership_id)
            .order_by(ChargeTable.created_at, ChargeTable.id)
        )
        return [_charge(row) for row in rows]

    async def covering(self, viewer_id: UUID, creator_id: UUID, video_id: UUID, now: datetime) -> bool:
        return bool(await self.db.fetchval(_COVERING, viewer_id, creator_id, video_id, now))

    async def due(self, now: datetime, reminder_until: datetime, limit: int) -> list[Membership]:
        return [_membership(row) for row in await self.db.fetch(_DUE, now, reminder_until, limit)]

    async def live_of_creator(self, creator_id: UUID) -> list[Membership]:
        rows = (
            await MembershipTable.select()
            .where((MembershipTable.creator_id == creator_id) & (MembershipTable.state != MembershipState.ENDED.value))
            .order_by(MembershipTable.joined_at, MembershipTable.id)
        )
        return [_membership(row) for row in rows]

    async def of_viewer(self, viewer_id: UUID) -> list[Membership]:
        rows = (
            await MembershipTable.select()
            .where(MembershipTable.viewer_id == viewer_id)
            .order_by(MembershipTable.joined_at, ascending=False)
        )
        return [_membership(row) for row in rows]

    async def month_figures(
        self, creator_id: UUID, months: list[tuple[datetime, datetime]], now: datetime
    ) -> list[MonthFigures]:
        starts = [start for start, _ in months]
        stops = [stop for _, stop in months]
        rows = await self.db.fetch(_MONTHS, creator_id, starts, stops, now)
        return [
            MonthFigures(row["start"].strftime("%Y-%m"), row["active"], row["joined"], row["lapsed"], row["revenue"])
            for row in rows
        ]
