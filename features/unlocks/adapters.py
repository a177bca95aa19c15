"""Unlocks adapters: PostgreSQL (Piccolo; SQL for the measured unlock path) and in memory.

Both keep the same promises (tests/contract/test_unlocks_repositories.py runs each against both).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from core.db import Database
from core.events import EventBus
from core.postgres import CHANNEL as EVENTS_CHANNEL
from core.postgres import PostgresEventBus, PostgresRateLimiter
from core.ratelimit import RateLimiter, allowance
from features.ledger.model import PLATFORM_REVENUE_SHARDS, Transfer
from features.studio.model import video_from_row
from features.unlocks.model import (
    Checkout,
    Entitlement,
    Offer,
    Pricing,
    RecordedSale,
    Tip,
    Unlock,
    merged_expiry,
)
from features.unlocks.ports import Click, Clicked
from features.unlocks.tables import EntitlementTable, PricingTable, TipTable, UnlockTable


class NoMemberships:
    """The MembershipAccess of an application without memberships: nobody is a member."""

    async def covers(self, viewer_id: UUID, creator_id: UUID, video_id: UUID) -> bool:
        return False


# ---------------------------------------------------------------------------------------------------
# In memory


class MemoryPricingRepository:
    def __init__(self) -> None:
        self.pricings: dict[UUID, Pricing] = {}

    async def get(self, video_id: UUID) -> Pricing | None:
        return self.pricings.get(video_id)

    async def save(self, pricing: Pricing) -> None:
        self.pricings[pricing.video_id] = pricing


class MemoryUnlockRepository:
    """Each call runs without awaiting, so it is atomic on the event loop, as the SQL statements are.
    It reads prices from the memory pricing repository it is given (as the SQL joins the tables)."""

    def __init__(self, pricing: MemoryPricingRepository | None = None) -> None:
        self.pricing = pricing or MemoryPricingRepository()
        self.unlocks: dict[tuple[UUID, str], Unlock] = {}
        self.entitlements: dict[tuple[UUID, UUID], Entitlement] = {}

    async def checkout(self, video_id: UUID, viewer_id: UUID | None, key: str = "") -> Checkout:
        if viewer_id is None:
            return Checkout(self.pricing.pricings.get(video_id), None, None)
        return Checkout(
            self.pricing.pricings.get(video_id),
            self.unlocks.get((viewer_id, key)) if key else None,
            self.entitlements.get((viewer_id, video_id)),
        )

    async def begin_purchase(self, video_id: UUID, viewer_id: UUID, key: str) -> Checkout:
        # No lock object is needed: nothing here or in the other memory adapters a purchase calls
        # suspends, so one purchase runs from this read to its record without another in between.
        return await self.checkout(video_id, viewer_id, key)

    async def click(self, click: Click) -> Clicked | None:
        return None  # no ledger here: the service decides every click on the general path

    async def record_sale(
        self,
        transfer: Transfer,
        unlock: Unlock,
        fresh_expiry: datetime | None,
        waiting: timedelta | None,
        events: Sequence[tuple[str, str, Mapping[str, Any]]],
    ) -> RecordedSale | None:
        return None  # no ledger here: the service posts, records and publishes one by one

    async def record(
        self, unlock: Unlock, fresh_expiry: datetime | None, waiting: timedelta | None = None
    ) -> Entitlement | None:
        if (unlock.viewer_id, unlock.idempotency_key) in self.unlocks:
            return None
        self.unlocks[(unlock.viewer_id, unlock.idempotency_key)] = unlock
        slot = (unlock.viewer_id, unlock.video_id)
        now = unlock.created_at
        current = self.entitlements.get(slot)
        if current is None:
            entitlement = Entitlement(
                unlock.viewer_id, unlock.video_id, unlock.offer, fresh_expiry, now, now, waiting=waiting
            )
        elif waiting is not None and not (current.active(now) and current.lifetime):
            entitlement = replace(
                current, offer=unlock.offer, expires_at=fresh_expiry, updated_at=now, waiting=waiting, started_at=None
            )
        else:
            active = current.active(now)
            expiry = merged_expiry(current.expires_at, active, fresh_expiry)
            offer = current.offer if expiry == current.expires_at and active else unlock.offer
            replaced = fresh_expiry is None or current.expires_at is None or not active
            entitlement = replace(
                current,
                offer=offer,
                expires_at=expiry,
                updated_at=now,
                waiting=None if replaced else current.waiting,
                started_at=None if fresh_expiry is None or not active else current.started_at,
            )
        self.entitlements[slot] = entitlement
        return entitlement

    async def lock_purchases(self, slots: Sequence[tuple[UUID, UUID]]) -> None:
        return None  # nothing here suspends between a refund's check and its transfer

    async def start(self, viewer_id: UUID, video_id: UUID, now: datetime) -> Entitlement | None:
        current = self.entitlements.get((viewer_id, video_id))
        if current is None or not current.waits(now):
            return None
        self.entitlements[(viewer_id, video_id)] = started = current.started(now)
        return started

    async def entitlement(self, viewer_id: UUID, video_id: UUID) -> Entitlement | None:
        return self.entitlements.get((viewer_id, video_id))

    async def grant_lifetime(self, grants: Sequence[tuple[UUID, UUID]], now: datetime) -> int:
        changed = 0
        for slot in dict.fromkeys(grants):
            current = self.entitlements.get(slot)
            if current is None:
                self.entitlements[slot] = Entitlement(slot[0], slot[1], Offer.LIFETIME, None, now, now)
            elif current.expires_at is not None:
                self.entitlements[slot] = replace(
                    current, offer=Offer.LIFETIME, expires_at=None, waiting=None, started_at=None, updated_at=now
                )
            else:
                continue
            changed += 1
        return changed

    async def purchases_of_video(self, video_id: UUID, since: datetime) -> list[Unlock]:
        found = [u for u in self.unlocks.values() if u.video_id == video_id and u.created_at >= since]
        return sorted(found, key=lambda u: (u.created_at, u.id))

    async def creators_paid_by(self, viewer_id: UUID) -> set[UUID]:
        return {u.creator_id for (viewer, _), u in self.unlocks.items() if viewer == viewer_id}

    async def purchases_of(self, viewer_id: UUID) -> list[Unlock]:
        found = [u for (viewer, _), u in self.unlocks.items() if viewer == viewer_id]
        return sorted(found, key=lambda u: (u.created_at, u.id))

    async def entitlements_of(self, viewer_id: UUID) -> list[Entitlement]:
        found = [e for (viewer, _), e in self.entitlements.items() if viewer == viewer_id]
        return sorted(found, key=lambda e: (e.granted_at, e.video_id))

    async def creator_sales_since(self, creator_id: UUID, since: datetime) -> list[Unlock]:
        found = [u for u in self.unlocks.values() if u.creator_id == creator_id and u.created_at >= since]
        return sorted(found, key=lambda u: (u.created_at, u.id))


class MemoryTipRepository:
    def __init__(self) -> None:
        self.tips: dict[tuple[UUID, str], Tip] = {}

    async def add(self, tip: Tip) -> bool:
        if (tip.viewer_id, tip.idempotency_key) in self.tips:
            return False
        self.tips[(tip.viewer_id, tip.idempotency_key)] = tip
        return True

    async def by_key(self, viewer_id: UUID, key: str) -> Tip | None:
        return self.tips.get((viewer_id, key))

    async def creators_tipped_by(self, viewer_id: UUID) -> set[UUID]:
        return {t.creator_id for (viewer, _), t in self.tips.items() if viewer == viewer_id}

    async def sent_by(self, viewer_id: UUID) -> list[Tip]:
        return sorted((t for t in self.tips.values() if t.viewer_id == viewer_id), key=lambda t: (t.created_at, t.id))

    async def received_by(self, creator_id: UUID) -> list[Tip]:
        found = (t for t in self.tips.values() if t.creator_id == creator_id)
        return sorted(found, key=lambda t: (t.created_at, t.id))

    async def erase_messages_of(self, viewer_id: UUID) -> int:
        changed = 0
        for slot, tip in list(self.tips.items()):
            if tip.viewer_id == viewer_id and tip.message:
                self.tips[slot] = replace(tip, message="")
                changed += 1
        return changed


# ---------------------------------------------------------------------------------------------------
# PostgreSQL

_PRICE_COLUMNS = {
    Offer.RENT_DAY: "rent_day_points",
    Offer.RENT_MONTH: "rent_month_points",
    Offer.LIFETIME: "lifetime_points",
}


def _pricing(row: Any, prefix: str = "") -> Pricing:
    prices = {
        offer: row[prefix + column] for offer, column in _PRICE_COLUMNS.items() if row[prefix + column] is not None
    }
    return Pricing(
        row[prefix + "video_id"],
        row[prefix + "free"],
        prices,
        row[prefix + "preview_seconds"],
        row[prefix + "updated_at"],
    )


class PostgresPricingRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, video_id: UUID) -> Pricing | None:
        row = await PricingTable.select().where(PricingTable.video_id == video_id).first()
        return _pricing(row) if row else None

    async def save(self, pricing: Pricing) -> None:
        row = PricingTable(
            video_id=pricing.video_id,
            free=pricing.free,
            rent_day_points=pricing.prices.get(Offer.RENT_DAY),
            rent_month_points=pricing.prices.get(Offer.RENT_MONTH),
            lifetime_points=pricing.prices.get(Offer.LIFETIME),
            preview_seconds=pricing.preview_seconds,
            updated_at=pricing.updated_at,
        )
        changed = [column for column in PricingTable._meta.columns if column._meta.name != "video_id"]
        await PricingTable.insert(row).on_conflict(target=PricingTable.video_id, action="DO UPDATE", values=changed)


_UNLOCK_COLUMNS = "id, idempotency_key, viewer_id, video_id, creator_id, offer, points, fee, transfer_id, created_at"
_ENTITLEMENT_COLUMNS = "viewer_id, video_id, offer, expires_at, granted_at, updated_at"
_ENTITLEMENT_READ = _ENTITLEMENT_COLUMNS + ", waiting_seconds, started_at"


def _unlock(row: Any, prefix: str = "") -> Unlock:
    return Unlock(
        id=row[f"{prefix}id"],
        idempotency_key=row[f"{prefix}idempotency_key"],
        viewer_id=row[f"{prefix}viewer_id"],
        video_id=row[f"{prefix}video_id"],
        creator_id=row[f"{prefix}creator_id"],
        offer=Offer(row[f"{prefix}offer"]),
        points=row[f"{prefix}points"],
        fee=row[f"{prefix}fee"],
        transfer_id=row[f"{prefix}transfer_id"],
        created_at=row[f"{prefix}created_at"],
    )


def _entitlement(row: Any, prefix: str = "") -> Entitlement:
    waiting = row[f"{prefix}waiting_seconds"]
    return Entitlement(
        viewer_id=row[f"{prefix}viewer_id"],
        video_id=row[f"{prefix}video_id"],
        offer=Offer(row[f"{prefix}offer"]),
        expires_at=row[f"{prefix}expires_at"],
        granted_at=row[f"{prefix}granted_at"],
        updated_at=row[f"{prefix}updated_at"],
        waiting=None if waiting is None else timedelta(seconds=waiting),
        started_at=row[f"{prefix}started_at"],
    )


# SQL: the unlock path (checkout, begin_purchase, record) is measured (bench/unlock.py): one round trip each.
_CHECKOUT = f"""
    SELECT p.video_id AS p_video_id, p.free AS p_free, p.rent_day_points AS p_rent_day_points,
           p.rent_month_points AS p_rent_month_points, p.lifetime_points AS p_lifetime_points,
           p.preview_seconds AS p_preview_seconds, p.updated_at AS p_updated_at,
           {", ".join(f"u.{c} AS u_{c}" for c in _UNLOCK_COLUMNS.split(", "))},
           {", ".join(f"e.{c} AS e_{c}" for c in _ENTITLEMENT_READ.split(", "))}
    FROM (SELECT 1) AS one
    LEFT JOIN video_pricing p ON p.video_id = $1
    LEFT JOIN unlocks u ON u.viewer_id = $2 AND u.idempotency_key = $3
    LEFT JOIN entitlements e ON e.viewer_id = $2 AND e.video_id = $1
"""  # noqa: S608 — column names only

_BEGIN_PURCHASE = "SELECT * FROM unlock_begin_purchase($1, $2, $3)"

# The plain click in one call (migrations/2610_unlock_click.sql): checks, then unlock_record_sale.
_CLICK = """
    SELECT * FROM unlock_click($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::jsonb, $17,
                               $18, $19::jsonb, $20, $21, $22, $23, $24)
"""
_CLICK_UNDONE = "HU001"  # unlock_click found a key used meanwhile and undid itself
# unlock_click finds the owner's shard by the owner's last byte, which is owner.int % shards only when
# the number of shards divides 256.
assert 256 % PLATFORM_REVENUE_SHARDS == 0

# The transfer, the purchase, the entitlement and the events of a decided sale: one call of the plpgsql
# function (migrations/2090_unlock_record_sale.sql), which posts through ledger_post_transfer.
_RECORD_SALE = """
    SELECT * FROM unlock_record_sale($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                                     $16, $17, $18, $19, $20, $21, $22, $23, $24)
"""

# The purchase and the access it grants, in one statement. The entitlement merges as
# model.merged_expiry says: lifetime (NULL) wins, an expired one is replaced, else the later end. A
# rental that waits for its first play ($12, seconds) was merged by the caller under the purchase lock
# (model.grant_after): it replaces anything but a lifetime entitlement.
_RECORD = f"""
    WITH bought AS (
        INSERT INTO unlocks ({_UNLOCK_COLUMNS})
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        ON CONFLICT (viewer_id, idempotency_key) DO NOTHING
        RETURNING viewer_id, video_id, offer, created_at
    )
    INSERT INTO entitlements AS e ({_ENTITLEMENT_COLUMNS}, waiting_seconds)
    SELECT viewer_id, video_id, offer, $11::timestamptz, created_at, created_at, $12::integer FROM bought
    ON CONFLICT (viewer_id, video_id) DO UPDATE SET
        expires_at = CASE
            WHEN e.expires_at IS NULL AND e.waiting_seconds IS NULL THEN NULL
            WHEN EXCLUDED.waiting_seconds IS NOT NULL THEN EXCLUDED.expires_at
            WHEN e.expires_at IS NULL OR EXCLUDED.expires_at IS NULL THEN NULL
            WHEN e.expires_at <= EXCLUDED.updated_at THEN EXCLUDED.expires_at
            ELSE greatest(e.expires_at, EXCLUDED.expires_at)
        END,
        offer = CASE
            WHEN e.expires_at IS NULL THEN e.offer
            WHEN EXCLUDED.waiting_seconds IS NOT NULL OR EXCLUDED.expires_at IS NULL
                 OR e.expires_at <= EXCLUDED.updated_at OR EXCLUDED.expires_at > e.expires_at THEN EXCLUDED.offer
            ELSE e.offer
        END,
        waiting_seconds = CASE
            WHEN e.expires_at IS NULL THEN NULL
            WHEN EXCLUDED.waiting_seconds IS NOT NULL THEN EXCLUDED.waiting_seconds
            WHEN EXCLUDED.expires_at IS NULL OR e.expires_at <= EXCLUDED.updated_at THEN NULL
            ELSE e.waiting_seconds
        END,
        started_at = CASE
            WHEN e.expires_at IS NULL OR EXCLUDED.waiting_seconds IS NOT NULL OR EXCLUDED.expires_at IS NULL
                 OR e.expires_at <= EXCLUDED.updated_at THEN NULL
            ELSE e.started_at
        END,
        updated_at = EXCLUDED.updated_at
    RETURNING {_ENTITLEMENT_READ}
"""  # noqa: S608 — column names only

# SQL: the first play starts a waiting rental once, under the purchase lock of (viewer, video) (the one
# unlock_begin_purchase takes), so a purchase deciding on the waiting rental and two tabs starting it at
# once are decided one after the other; the guard on waiting_seconds makes the second start a no-op.
_START_LOCK = "SELECT pg_advisory_xact_lock(5001, hashtext($1::uuid::text || '/' || $2::uuid::text))"
# SQL: the purchase locks of several (viewer, video), each once, in the order of their keys (the sorted
# subquery is read in order, and each row's lock is taken as it is read).
_LOCK_PURCHASES = """
    SELECT count(pg_advisory_xact_lock(5001, k)) FROM (
        SELECT DISTINCT hashtext(v::text || '/' || w::text) AS k FROM unnest($1::uuid[], $2::uuid[]) AS x(v, w)
        ORDER BY k
    ) AS sorted
"""
_START = f"""
    UPDATE entitlements SET expires_at = $3 + waiting_seconds * interval '1 second', started_at = $3,
                            waiting_seconds = NULL, updated_at = $3
    WHERE viewer_id = $1 AND video_id = $2 AND waiting_seconds IS NOT NULL AND expires_at > $3
    RETURNING {_ENTITLEMENT_READ}
"""  # noqa: S608 — column names only


class PostgresUnlockRepository:
    def __init__(self, db: Database, bus: EventBus | None = None, limiter: RateLimiter | None = None) -> None:
        self.db = db
        self.bus = bus
        self.limiter = limiter  # the click counts its abuse-limit hit in its own call when this is PostgreSQL's

    async def checkout(self, video_id: UUID, viewer_id: UUID | None, key: str = "") -> Checkout:
        return self._checkout(await self.db.fetchrow(_CHECKOUT, video_id, viewer_id, key or None))

    async def begin_purchase(self, video_id: UUID, viewer_id: UUID, key: str) -> Checkout:
        # One round trip: the function (migrations/1100_unlock_purchase_lock.sql) takes the lock, then
        # reads with a snapshot taken after it was granted.
        return self._checkout(await self.db.fetchrow(_BEGIN_PURCHASE, video_id, viewer_id, key))

    @staticmethod
    def _checkout(row: Any) -> Checkout:
        assert row is not None
        return Checkout(
            _pricing(row, "p_") if row["p_video_id"] is not None else None,
            _unlock(row, "u_") if row["u_id"] is not None else None,
            _entitlement(row, "e_") if row["e_viewer_id"] is not None else None,
        )

    async def click(self, click: Click) -> Clicked | None:
        # Only where the events are this database's (event_log + NOTIFY in the same step) and the call is
        # its own transaction (the video and purchase locks end with it; an error cannot spoil a caller's).
        if not (self.bus is None or isinstance(self.bus, PostgresEventBus)):
            return None
        if self.db.engine.current_transaction.get() is not None:
            return None
        if click.rate_key is not None and not isinstance(self.limiter, PostgresRateLimiter):
            return None
        rate_now = self.limiter.clock.now() if isinstance(self.limiter, PostgresRateLimiter) else click.now
        try:
            row = await self.db.fetchrow(
                _CLICK,
                click.viewer_id,
                click.public_id,
                click.offer.value,
                click.points,
                click.fee,
                click.key,
                click.unlock_id,
                click.transfer_id,
                click.transfer_key,
                click.now,
                click.expires_at,
                None if click.waiting is None else int(click.waiting.total_seconds()),
                PLATFORM_REVENUE_SHARDS,
                click.user_topic,
                click.sale_event,
                json.dumps(click.sale_data, separators=(",", ":"), default=str),
                click.wallet_topic,
                click.wallet_event,
                json.dumps(click.wallet_data, separators=(",", ":"), default=str),
                EVENTS_CHANNEL,
                click.rate_key,
                rate_now,
                float(click.rate_window),
                click.rate_limit,
            )
        except asyncpg.PostgresError as error:
            if error.sqlstate == _CLICK_UNDONE:  # a key used meanwhile: undone, the general path decides
                return None
            raise
        assert row is not None
        status = row["status"]
        if status == "insufficient":
            return Clicked(
                status, short_kind=row["account_kind"], short_owner=row["account_owner"], shortfall=row["shortfall"]
            )
        if status == "throttled":
            hits, start = row["rate_hits"], row["rate_window_start"]
            return Clicked(status, allowance(hits, click.rate_limit, start, click.rate_window, rate_now))
        if status != "posted":
            return Clicked("general") if click.rate_key is not None else None
        return Clicked(
            status, video=video_from_row(row["v"]), pricing=_pricing(row, "p_"), entitlement=_entitlement(row, "e_")
        )

    async def record_sale(
        self,
        transfer: Transfer,
        unlock: Unlock,
        fresh_expiry: datetime | None,
        waiting: timedelta | None,
        events: Sequence[tuple[str, str, Mapping[str, Any]]],
    ) -> RecordedSale | None:
        # The events go into the same call when the bus is the one on this database (event_log + NOTIFY,
        # as PostgresEventBus.publish_all writes them; also without a bus given); any other bus gets them after.
        folded = self.bus is None or isinstance(self.bus, PostgresEventBus)
        legs = transfer.legs
        row = await self.db.fetchrow(
            _RECORD_SALE,
            transfer.id,
            transfer.idempotency_key,
            json.dumps(dict(transfer.metadata), sort_keys=True),
            transfer.created_at,
            [leg.source.kind.value for leg in legs],
            [leg.source.stored_owner for leg in legs],
            [leg.destination.kind.value for leg in legs],
            [leg.destination.stored_owner for leg in legs],
            [leg.amount for leg in legs],
            unlock.id,
            unlock.idempotency_key,
            unlock.viewer_id,
            unlock.video_id,
            unlock.creator_id,
            unlock.offer.value,
            unlock.points,
            unlock.fee,
            unlock.created_at,
            fresh_expiry,
            None if waiting is None else int(waiting.total_seconds()),
            [topic for topic, _, _ in events] if folded else [],
            [name for _, name, _ in events] if folded else [],
            [json.dumps(data, separators=(",", ":"), default=str) for _, _, data in events] if folded else [],
            EVENTS_CHANNEL,
        )
        assert row is not None
        status = row["status"]
        if status == "insufficient":
            return RecordedSale(status, None, row["account_kind"], row["account_owner"], row["shortfall"])
        if status != "posted":
            return RecordedSale(status)
        if not folded and self.bus is not None:  # (mypy: not folded implies a bus)
            await self.bus.publish_all(events)
        return RecordedSale(status, _entitlement(row, "e_"))

    async def record(
        self, unlock: Unlock, fresh_expiry: datetime | None, waiting: timedelta | None = None
    ) -> Entitlement | None:
        row = await self.db.fetchrow(
            _RECORD,
            unlock.id,
            unlock.idempotency_key,
            unlock.viewer_id,
            unlock.video_id,
            unlock.creator_id,
            unlock.offer.value,
            unlock.points,
            unlock.fee,
            unlock.transfer_id,
            unlock.created_at,
            fresh_expiry,
            None if waiting is None else int(waiting.total_seconds()),
        )
        return _entitlement(row) if row else None

    async def grant_lifetime(self, grants: Sequence[tuple[UUID, UUID]], now: datetime) -> int:
        # SQL: one unnest() batch upsert for all grants; lifetime ones are left untouched.
        rows = await self.db.fetch(
            """
            INSERT INTO entitlements AS e (viewer_id, video_id, offer, expires_at, granted_at, updated_at)
            SELECT DISTINCT g.viewer_id, g.video_id, 'lifetime', NULL::timestamptz, $3::timestamptz, $3::timestamptz
            FROM unnest($1::uuid[], $2::uuid[]) AS g(viewer_id, video_id)
            ON CONFLICT (viewer_id, video_id) DO UPDATE
                SET offer = 'lifetime', expires_at = NULL, waiting_seconds = NULL, started_at = NULL,
                    updated_at = EXCLUDED.updated_at
                WHERE e.expires_at IS NOT NULL
            RETURNING viewer_id
            """,
            [viewer for viewer, _ in grants],
            [video for _, video in grants],
            now,
        )
        return len(rows)

    async def lock_purchases(self, slots: Sequence[tuple[UUID, UUID]]) -> None:
        if slots:
            await self.db.fetchval(_LOCK_PURCHASES, [v for v, _ in slots], [w for _, w in slots])

    async def start(self, viewer_id: UUID, video_id: UUID, now: datetime) -> Entitlement | None:
        # Call inside a transaction (UnlockService.start_rental): the lock is held until it ends.
        await self.db.fetchval(_START_LOCK, viewer_id, video_id)
        row = await self.db.fetchrow(_START, viewer_id, video_id, now)
        return _entitlement(row) if row else None

    async def entitlement(self, viewer_id: UUID, video_id: UUID) -> Entitlement | None:
        row = (
            await EntitlementTable.select()
            .where((EntitlementTable.viewer_id == viewer_id) & (EntitlementTable.video_id == video_id))
            .first()
        )
        return _entitlement(row) if row else None

    async def purchases_of_video(self, video_id: UUID, since: datetime) -> list[Unlock]:
        rows = (
            await UnlockTable.select()
            .where((UnlockTable.video_id == video_id) & (UnlockTable.created_at >= since))
            .order_by(UnlockTable.created_at, UnlockTable.id)
        )
        return [_unlock(row) for row in rows]

    async def creators_paid_by(self, viewer_id: UUID) -> set[UUID]:
        rows = await UnlockTable.select(UnlockTable.creator_id).where(UnlockTable.viewer_id == viewer_id).distinct()
        return {row["creator_id"] for row in rows}

    async def purchases_of(self, viewer_id: UUID) -> list[Unlock]:
        rows = (
            await UnlockTable.select()
            .where(UnlockTable.viewer_id == viewer_id)
            .order_by(UnlockTable.created_at, UnlockTable.id)
        )
        return [_unlock(row) for row in rows]

    async def entitlements_of(self, viewer_id: UUID) -> list[Entitlement]:
        rows = (
            await EntitlementTable.select()
            .where(EntitlementTable.viewer_id == viewer_id)
            .order_by(EntitlementTable.granted_at, EntitlementTable.video_id)
        )
        return [_entitlement(row) for row in rows]

    async def creator_sales_since(self, creator_id: UUID, since: datetime) -> list[Unlock]:
        rows = (
            await UnlockTable.select()
            .where((UnlockTable.creator_id == creator_id) & (UnlockTable.created_at >= since))
            .order_by(UnlockTable.created_at, UnlockTable.id)
        )
        return [_unlock(row) for row in rows]


class PostgresTipRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, tip: Tip) -> bool:
        row = TipTable(
            id=tip.id,
            idempotency_key=tip.idempotency_key,
            viewer_id=tip.viewer_id,
            creator_id=tip.creator_id,
            video_id=tip.video_id,
            amount=tip.amount,
            message=tip.message,
            transfer_id=tip.transfer_id,
            created_at=tip.created_at,
        )
        key = (TipTable.viewer_id, TipTable.idempotency_key)
        return bool(await TipTable.insert(row).on_conflict(target=key, action="DO NOTHING"))

    async def by_key(self, viewer_id: UUID, key: str) -> Tip | None:
        row = (
            await TipTable.select().where((TipTable.viewer_id == viewer_id) & (TipTable.idempotency_key == key)).first()
        )
        return Tip(**row) if row else None

    async def creators_tipped_by(self, viewer_id: UUID) -> set[UUID]:
        rows = await TipTable.select(TipTable.creator_id).where(TipTable.viewer_id == viewer_id).distinct()
        return {row["creator_id"] for row in rows}

    async def sent_by(self, viewer_id: UUID) -> list[Tip]:
        rows = await TipTable.select().where(TipTable.viewer_id == viewer_id).order_by(TipTable.created_at, TipTable.id)
        return [Tip(**row) for row in rows]

    async def received_by(self, creator_id: UUID) -> list[Tip]:
        rows = (
            await TipTable.select().where(TipTable.creator_id == creator_id).order_by(TipTable.created_at, TipTable.id)
        )
        return [Tip(**row) for row in rows]

    async def erase_messages_of(self, viewer_id: UUID) -> int:
        erased = (
            await TipTable.update({TipTable.message: ""})
            .where((TipTable.viewer_id == viewer_id) & (TipTable.message != ""))
            .returning(TipTable.id)
        )
        return len(erased)
