"""Offers adapters: PostgreSQL (Piccolo; SQL for row locks and aggregates) and in memory.

Both keep the same promises (tests/contract/test_offers_repository.py runs each against both).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from core.db import Database
from features.offers.model import (
    Bundle,
    BundlePurchase,
    DiscountKind,
    OfferSales,
    PromoCode,
    Redemption,
    TargetKind,
)
from features.offers.tables import (
    BundlePurchaseTable,
    BundleTable,
    BundleVideoTable,
    PromoCodeTable,
    PromoRedemptionTable,
)

# ---------------------------------------------------------------------------------------------------
# In memory


class MemoryOffersRepository:
    """Each call runs without awaiting, so it is atomic on the event loop; no purchase step suspends in
    the memory adapters, so the locks need no object."""

    def __init__(self) -> None:
        self.bundles: dict[UUID, Bundle] = {}
        self.added: dict[tuple[UUID, UUID], datetime] = {}  # (bundle, video) → when it was put in
        self.purchases: dict[tuple[UUID, str], BundlePurchase] = {}
        self.codes: dict[UUID, PromoCode] = {}
        self.redemptions: list[Redemption] = []

    async def add_bundle(self, bundle: Bundle) -> None:
        self.bundles[bundle.id] = bundle

    async def update_bundle(self, bundle: Bundle) -> None:
        current = self.bundles[bundle.id]
        self.bundles[bundle.id] = replace(
            current,
            title=bundle.title,
            description=bundle.description,
            price=bundle.price,
            updated_at=bundle.updated_at,
        )

    async def bundle(self, public_id: str) -> Bundle | None:
        return next((b for b in self.bundles.values() if b.public_id == public_id), None)

    async def bundle_by_id(self, bundle_id: UUID) -> Bundle | None:
        return self.bundles.get(bundle_id)

    async def lock_bundle(self, bundle_id: UUID, *, exclusive: bool) -> Bundle | None:
        return self.bundles.get(bundle_id)

    async def bundles_of(self, creator_id: UUID) -> list[Bundle]:
        found = [b for b in self.bundles.values() if b.creator_id == creator_id]
        return sorted(found, key=lambda b: (b.created_at, b.id), reverse=True)

    async def bundles_with(self, video_id: UUID) -> list[Bundle]:
        found = [b for b in self.bundles.values() if video_id in b.video_ids]
        return sorted(found, key=lambda b: (b.created_at, b.id))

    async def add_video(self, bundle_id: UUID, video_id: UUID, at: datetime) -> bool:
        bundle = self.bundles[bundle_id]
        if video_id in bundle.video_ids:
            return False
        self.bundles[bundle_id] = replace(bundle, video_ids=(*bundle.video_ids, video_id))
        self.added[(bundle_id, video_id)] = at
        return True

    async def remove_video(self, bundle_id: UUID, video_id: UUID) -> bool:
        bundle = self.bundles[bundle_id]
        if video_id not in bundle.video_ids:
            return False
        self.bundles[bundle_id] = replace(bundle, video_ids=tuple(v for v in bundle.video_ids if v != video_id))
        self.added.pop((bundle_id, video_id), None)
        return True

    async def added_at(self, bundle_id: UUID, video_id: UUID) -> datetime | None:
        return self.added.get((bundle_id, video_id))

    async def lock_purchases(self, bundle_id: UUID, viewer_id: UUID) -> None:
        return None

    async def purchase_by_key(self, viewer_id: UUID, key: str) -> BundlePurchase | None:
        return self.purchases.get((viewer_id, key))

    async def has_bought(self, bundle_id: UUID, viewer_id: UUID) -> bool:
        return any(p.bundle_id == bundle_id and p.viewer_id == viewer_id for p in self.purchases.values())

    async def record_purchase(self, purchase: BundlePurchase) -> bool:
        slot = (purchase.viewer_id, purchase.idempotency_key)
        if slot in self.purchases:
            return False
        self.purchases[slot] = purchase
        return True

    async def buyers(self, bundle_id: UUID) -> list[UUID]:
        return list(dict.fromkeys(p.viewer_id for p in self.purchases.values() if p.bundle_id == bundle_id))

    async def add_code(self, code: PromoCode) -> bool:
        if any(c.creator_id == code.creator_id and c.code == code.code for c in self.codes.values()):
            return False
        self.codes[code.id] = code
        return True

    async def codes_named(self, code: str) -> list[PromoCode]:
        return [c for c in self.codes.values() if c.code == code]

    async def codes_of(self, creator_id: UUID) -> list[PromoCode]:
        found = [c for c in self.codes.values() if c.creator_id == creator_id]
        return sorted(found, key=lambda c: (c.created_at, c.id), reverse=True)

    async def lock_code(self, code_id: UUID) -> PromoCode | None:
        return self.codes.get(code_id)

    async def redeem(self, redemption: Redemption) -> None:
        code = self.codes[redemption.code_id]
        if code.uses >= code.max_uses:
            raise RuntimeError("a code's uses cannot pass its limit")
        self.codes[code.id] = replace(code, uses=code.uses + 1)
        self.redemptions.append(redemption)

    async def delete_code(self, creator_id: UUID, code_id: UUID) -> bool:
        code = self.codes.get(code_id)
        if code is None or code.creator_id != creator_id or code.uses:
            return False
        del self.codes[code_id]
        return True

    async def sales(self, creator_id: UUID, since: datetime, until: datetime) -> OfferSales:
        bought = await self.purchases_of_creator(creator_id, since, until)
        used = await self.redemptions_of_creator(creator_id, since, until)
        return OfferSales(
            bundles_sold=len(bought),
            bundle_points=sum(p.points for p in bought),
            redemptions=len(used),
            discount_points=sum(r.discount for r in used),
            code_revenue=sum(r.points for r in used),
        )

    async def purchases_of_creator(self, creator_id: UUID, since: datetime, until: datetime) -> list[BundlePurchase]:
        found = [p for p in self.purchases.values() if p.creator_id == creator_id and since <= p.created_at < until]
        return sorted(found, key=lambda p: (p.created_at, p.id))

    async def redemptions_of_creator(
        self, creator_id: UUID, since: datetime, until: datetime, target_kind: TargetKind | None = None
    ) -> list[Redemption]:
        found = [
            r
            for r in self.redemptions
            if r.creator_id == creator_id
            and since <= r.created_at < until
            and (target_kind is None or r.target_kind is target_kind)
        ]
        return sorted(found, key=lambda r: (r.created_at, r.id))

    async def purchases_of_viewer(self, viewer_id: UUID) -> list[BundlePurchase]:
        found = [p for p in self.purchases.values() if p.viewer_id == viewer_id]
        return sorted(found, key=lambda p: (p.created_at, p.id))

    async def redemptions_of_viewer(self, viewer_id: UUID) -> list[Redemption]:
        found = [r for r in self.redemptions if r.viewer_id == viewer_id]
        return sorted(found, key=lambda r: (r.created_at, r.id))

    async def codes_by_id(self, code_ids: list[UUID]) -> dict[UUID, PromoCode]:
        return {i: self.codes[i] for i in code_ids if i in self.codes}


# ---------------------------------------------------------------------------------------------------
# PostgreSQL


def _bundle(row: Any, video_ids: tuple[UUID, ...] = ()) -> Bundle:
    return Bundle(
        id=row["id"],
        public_id=row["public_id"],
        creator_id=row["creator_id"],
        title=row["title"],
        description=row["description"],
        price=row["price"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        video_ids=video_ids,
    )


def _code(row: Any) -> PromoCode:
    return PromoCode(
        id=row["id"],
        creator_id=row["creator_id"],
        code=row["code"],
        kind=DiscountKind(row["kind"]),
        amount=row["amount"],
        target_kind=TargetKind(row["target_kind"]),
        target_id=row["target_id"],
        max_uses=row["max_uses"],
        uses=row["uses"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
    )


def _purchase(row: Any) -> BundlePurchase:
    return BundlePurchase(**dict(row))


def _redemption(row: Any) -> Redemption:
    values = dict(row)
    values["target_kind"] = TargetKind(values["target_kind"])
    return Redemption(**values)


class PostgresOffersRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _videos(self, bundle_ids: list[UUID]) -> dict[UUID, tuple[UUID, ...]]:
        if not bundle_ids:
            return {}
        rows = (
            await BundleVideoTable.select(BundleVideoTable.bundle_id, BundleVideoTable.video_id)
            .where(BundleVideoTable.bundle_id.is_in(bundle_ids))
            .order_by(BundleVideoTable.added_at)
            .order_by(BundleVideoTable.video_id)
        )
        found: dict[UUID, list[UUID]] = {}
        for row in rows:
            found.setdefault(row["bundle_id"], []).append(row["video_id"])
        return {bundle_id: tuple(videos) for bundle_id, videos in found.items()}

    async def _with_videos(self, rows: list[Any]) -> list[Bundle]:
        videos = await self._videos([row["id"] for row in rows])
        return [_bundle(row, videos.get(row["id"], ())) for row in rows]

    async def add_bundle(self, bundle: Bundle) -> None:
        await BundleTable.insert(
            BundleTable(
                id=bundle.id,
                public_id=bundle.public_id,
                creator_id=bundle.creator_id,
                title=bundle.title,
                description=bundle.description,
                price=bundle.price,
                created_at=bundle.created_at,
                updated_at=bundle.updated_at,
            )
        )

    async def update_bundle(self, bundle: Bundle) -> None:
        await BundleTable.update(
            {
                BundleTable.title: bundle.title,
                BundleTable.description: bundle.description,
                BundleTable.price: bundle.price,
                BundleTable.updated_at: bundle.updated_at,
            }
        ).where(BundleTable.id == bundle.id)

    async def bundle(self, public_id: str) -> Bundle | None:
        rows = await BundleTable.select().where(BundleTable.public_id == public_id)
        found = await self._with_videos(rows)
        return found[0] if found else None

    async def bundle_by_id(self, bundle_id: UUID) -> Bundle | None:
        rows = await BundleTable.select().where(BundleTable.id == bundle_id)
        found = await self._with_videos(rows)
        return found[0] if found else None

    async def lock_bundle(self, bundle_id: UUID, *, exclusive: bool) -> Bundle | None:
        # SQL: a row lock (FOR SHARE / FOR UPDATE) has no Piccolo query.
        mode = "UPDATE" if exclusive else "SHARE"
        row = await self.db.fetchrow(f"SELECT * FROM bundles WHERE id = $1 FOR {mode}", bundle_id)  # noqa: S608
        if row is None:
            return None
        return (await self._with_videos([row]))[0]

    async def bundles_of(self, creator_id: UUID) -> list[Bundle]:
        rows = (
            await BundleTable.select()
            .where(BundleTable.creator_id == creator_id)
            .order_by(BundleTable.created_at, ascending=False)
        )
        return await self._with_videos(rows)

    async def bundles_with(self, video_id: UUID) -> list[Bundle]:
        ids = await BundleVideoTable.select(BundleVideoTable.bundle_id).where(BundleVideoTable.video_id == video_id)
        if not ids:
            return []
        rows = (
            await BundleTable.select()
            .where(BundleTable.id.is_in([row["bundle_id"] for row in ids]))
            .order_by(BundleTable.created_at)
        )
        return await self._with_videos(rows)

    async def add_video(self, bundle_id: UUID, video_id: UUID, at: datetime) -> bool:
        row = BundleVideoTable(bundle_id=bundle_id, video_id=video_id, added_at=at)
        target = (BundleVideoTable.bundle_id, BundleVideoTable.video_id)
        inserted = (
            await BundleVideoTable.insert(row)
            .on_conflict(target=target, action="DO NOTHING")
            .returning(BundleVideoTable.video_id)
        )
        return bool(inserted)

    async def remove_video(self, bundle_id: UUID, video_id: UUID) -> bool:
        removed = (
            await BundleVideoTable.delete()
            .where((BundleVideoTable.bundle_id == bundle_id) & (BundleVideoTable.video_id == video_id))
            .returning(BundleVideoTable.video_id)
        )
        return bool(removed)

    async def added_at(self, bundle_id: UUID, video_id: UUID) -> datetime | None:
        rows = await BundleVideoTable.select(BundleVideoTable.added_at).where(
            (BundleVideoTable.bundle_id == bundle_id) & (BundleVideoTable.video_id == video_id)
        )
        return rows[0]["added_at"] if rows else None

    async def lock_purchases(self, bundle_id: UUID, viewer_id: UUID) -> None:
        # SQL: a transaction-scoped advisory lock on (bundle, viewer).
        await self.db.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('bundle-purchase:' || $1::uuid || ':' || $2::uuid, 0))",
            bundle_id,
            viewer_id,
        )

    async def purchase_by_key(self, viewer_id: UUID, key: str) -> BundlePurchase | None:
        row = (
            await BundlePurchaseTable.select()
            .where((BundlePurchaseTable.viewer_id == viewer_id) & (BundlePurchaseTable.idempotency_key == key))
            .first()
        )
        return _purchase(row) if row else None

    async def has_bought(self, bundle_id: UUID, viewer_id: UUID) -> bool:
        return bool(
            await BundlePurchaseTable.exists().where(
                (BundlePurchaseTable.bundle_id == bundle_id) & (BundlePurchaseTable.viewer_id == viewer_id)
            )
        )

    async def record_purchase(self, purchase: BundlePurchase) -> bool:
        row = BundlePurchaseTable(**{name: getattr(purchase, name) for name in purchase.__dataclass_fields__})
        target = (BundlePurchaseTable.viewer_id, BundlePurchaseTable.idempotency_key)
        inserted = (
            await BundlePurchaseTable.insert(row)
            .on_conflict(target=target, action="DO NOTHING")
            .returning(BundlePurchaseTable.id)
        )
        return bool(inserted)

    async def buyers(self, bundle_id: UUID) -> list[UUID]:
        rows = (
            await BundlePurchaseTable.select(BundlePurchaseTable.viewer_id)
            .where(BundlePurchaseTable.bundle_id == bundle_id)
            .distinct()
        )
        return [row["viewer_id"] for row in rows]

    async def add_code(self, code: PromoCode) -> bool:
        row = PromoCodeTable(
            id=code.id,
            creator_id=code.creator_id,
            code=code.code,
            kind=code.kind.value,
            amount=code.amount,
            target_kind=code.target_kind.value,
            target_id=code.target_id,
            max_uses=code.max_uses,
            uses=code.uses,
            expires_at=code.expires_at,
            created_at=code.created_at,
        )
        target = (PromoCodeTable.creator_id, PromoCodeTable.code)
        inserted = (
            await PromoCodeTable.insert(row)
            .on_conflict(target=target, action="DO NOTHING")
            .returning(PromoCodeTable.id)
        )
        return bool(inserted)

    async def codes_named(self, code: str) -> list[PromoCode]:
        return [_code(row) for row in await PromoCodeTable.select().where(PromoCodeTable.code == code)]

    async def codes_of(self, creator_id: UUID) -> list[PromoCode]:
        rows = (
            await PromoCodeTable.select()
            .where(PromoCodeTable.creator_id == creator_id)
            .order_by(PromoCodeTable.created_at, ascending=False)
        )
        return [_code(row) for row in rows]

    async def lock_code(self, code_id: UUID) -> PromoCode | None:
        # SQL: a row lock (FOR UPDATE) has no Piccolo query.
        row = await self.db.fetchrow("SELECT * FROM promo_codes WHERE id = $1 FOR UPDATE", code_id)
        return _code(row) if row else None

    async def redeem(self, redemption: Redemption) -> None:
        await PromoCodeTable.update({PromoCodeTable.uses: PromoCodeTable.uses + 1}).where(
            PromoCodeTable.id == redemption.code_id
        )
        values = {name: getattr(redemption, name) for name in redemption.__dataclass_fields__}
        values["target_kind"] = redemption.target_kind.value
        await PromoRedemptionTable.insert(PromoRedemptionTable(**values))

    async def delete_code(self, creator_id: UUID, code_id: UUID) -> bool:
        deleted = (
            await PromoCodeTable.delete()
            .where(
                (PromoCodeTable.id == code_id) & (PromoCodeTable.creator_id == creator_id) & (PromoCodeTable.uses == 0)
            )
            .returning(PromoCodeTable.id)
        )
        return bool(deleted)

    async def sales(self, creator_id: UUID, since: datetime, until: datetime) -> OfferSales:
        # SQL: two aggregates in one round trip.
        row = await self.db.fetchrow(
            """
            SELECT
              (SELECT count(*) FROM bundle_purchases
                WHERE creator_id = $1 AND created_at >= $2 AND created_at < $3) AS bundles_sold,
              (SELECT coalesce(sum(points), 0) FROM bundle_purchases
                WHERE creator_id = $1 AND created_at >= $2 AND created_at < $3) AS bundle_points,
              r.redemptions, r.discount_points, r.code_revenue
            FROM (SELECT count(*) AS redemptions, coalesce(sum(discount), 0) AS discount_points,
                         coalesce(sum(points), 0) AS code_revenue
                  FROM promo_redemptions WHERE creator_id = $1 AND created_at >= $2 AND created_at < $3) AS r
            """,
            creator_id,
            since,
            until,
        )
        assert row is not None
        return OfferSales(
            bundles_sold=int(row["bundles_sold"]),
            bundle_points=int(row["bundle_points"]),
            redemptions=int(row["redemptions"]),
            discount_points=int(row["discount_points"]),
            code_revenue=int(row["code_revenue"]),
        )

    async def purchases_of_creator(self, creator_id: UUID, since: datetime, until: datetime) -> list[BundlePurchase]:
        rows = (
            await BundlePurchaseTable.select()
            .where(
                (BundlePurchaseTable.creator_id == creator_id)
                & (BundlePurchaseTable.created_at >= since)
                & (BundlePurchaseTable.created_at < until)
            )
            .order_by(BundlePurchaseTable.created_at)
            .order_by(BundlePurchaseTable.id)
        )
        return [_purchase(row) for row in rows]

    async def redemptions_of_creator(
        self, creator_id: UUID, since: datetime, until: datetime, target_kind: TargetKind | None = None
    ) -> list[Redemption]:
        where = (
            (PromoRedemptionTable.creator_id == creator_id)
            & (PromoRedemptionTable.created_at >= since)
            & (PromoRedemptionTable.created_at < until)
        )
        if target_kind is not None:
            where = where & (PromoRedemptionTable.target_kind == target_kind.value)
        rows = (
            await PromoRedemptionTable.select()
            .where(where)
            .order_by(PromoRedemptionTable.created_at)
            .order_by(PromoRedemptionTable.id)
        )
        return [_redemption(row) for row in rows]

    async def purchases_of_viewer(self, viewer_id: UUID) -> list[BundlePurchase]:
        rows = (
            await BundlePurchaseTable.select()
            .where(BundlePurchaseTable.viewer_id == viewer_id)
            .order_by(BundlePurchaseTable.created_at)
            .order_by(BundlePurchaseTable.id)
        )
        return [_purchase(row) for row in rows]

    async def redemptions_of_viewer(self, viewer_id: UUID) -> list[Redemption]:
        rows = (
            await PromoRedemptionTable.select()
            .where(PromoRedemptionTable.viewer_id == viewer_id)
            .order_by(PromoRedemptionTable.created_at)
            .order_by(PromoRedemptionTable.id)
        )
        return [_redemption(row) for row in rows]

    async def codes_by_id(self, code_ids: list[UUID]) -> dict[UUID, PromoCode]:
        if not code_ids:
            return {}
        rows = await PromoCodeTable.select().where(PromoCodeTable.id.is_in(code_ids))
        return {row["id"]: _code(row) for row in rows}
