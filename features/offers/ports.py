"""What offers need from the outside: storage for bundles, their purchases, promo codes and redemptions."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from features.offers.model import Bundle, BundlePurchase, OfferSales, PromoCode, Redemption, TargetKind


class OffersRepository(Protocol):
    # -- bundles --
    async def add_bundle(self, bundle: Bundle) -> None: ...

    async def update_bundle(self, bundle: Bundle) -> None:
        """Store the bundle's title, description and price."""
        ...

    async def bundle(self, public_id: str) -> Bundle | None:
        """The bundle with its videos (in the order they were added), or None."""
        ...

    async def bundle_by_id(self, bundle_id: UUID) -> Bundle | None: ...

    async def lock_bundle(self, bundle_id: UUID, *, exclusive: bool) -> Bundle | None:
        """Inside a transaction: lock the bundle row until it ends — shared for a purchase, exclusive
        for adding a video — and read it with its videos after the lock was granted. A purchase and an
        added video thus never miss each other: whichever commits second sees the first."""
        ...

    async def bundles_of(self, creator_id: UUID) -> list[Bundle]:
        """The creator's bundles, newest first."""
        ...

    async def bundles_with(self, video_id: UUID) -> list[Bundle]:
        """The bundles that include the video, oldest first."""
        ...

    async def add_video(self, bundle_id: UUID, video_id: UUID, at: datetime) -> bool:
        """Put the video in the bundle; False if it was already in."""
        ...

    async def remove_video(self, bundle_id: UUID, video_id: UUID) -> bool: ...

    async def added_at(self, bundle_id: UUID, video_id: UUID) -> datetime | None:
        """When the video was put in the bundle (the last time, if it was taken out and put back), or None
        when it is not in it."""
        ...

    # -- bundle purchases --
    async def lock_purchases(self, bundle_id: UUID, viewer_id: UUID) -> None:
        """Inside a transaction: wait for, and hold until it ends, the lock on this viewer's purchases
        of this bundle (parallel clicks with distinct keys are decided one after another)."""
        ...

    async def purchase_by_key(self, viewer_id: UUID, key: str) -> BundlePurchase | None: ...

    async def has_bought(self, bundle_id: UUID, viewer_id: UUID) -> bool: ...

    async def record_purchase(self, purchase: BundlePurchase) -> bool:
        """Store the purchase; False (nothing stored) when the viewer's key was used already."""
        ...

    async def buyers(self, bundle_id: UUID) -> list[UUID]:
        """Every viewer who bought the bundle."""
        ...

    # -- codes --
    async def add_code(self, code: PromoCode) -> bool:
        """Store the code; False when the creator already has a code spelled so."""
        ...

    async def codes_named(self, code: str) -> list[PromoCode]:
        """Every creator's code spelled `code` (upper-case)."""
        ...

    async def codes_of(self, creator_id: UUID) -> list[PromoCode]:
        """The creator's codes, newest first."""
        ...

    async def lock_code(self, code_id: UUID) -> PromoCode | None:
        """Inside a transaction: lock the code until it ends and read it after the lock was granted (two
        purchases with the last use left: the second sees the first's use)."""
        ...

    async def redeem(self, redemption: Redemption) -> None:
        """Count one use of the code (under the lock `lock_code` took) and record the redemption."""
        ...

    async def delete_code(self, creator_id: UUID, code_id: UUID) -> bool: ...

    # -- figures --
    async def sales(self, creator_id: UUID, since: datetime, until: datetime) -> OfferSales: ...

    async def purchases_of_creator(
        self, creator_id: UUID, since: datetime, until: datetime
    ) -> list[BundlePurchase]: ...

    async def redemptions_of_creator(
        self, creator_id: UUID, since: datetime, until: datetime, target_kind: TargetKind | None = None
    ) -> list[Redemption]: ...

    async def codes_by_id(self, code_ids: list[UUID]) -> dict[UUID, PromoCode]: ...

    # -- a viewer's own (preferences, the privacy export) --
    async def purchases_of_viewer(self, viewer_id: UUID) -> list[BundlePurchase]:
        """Every bundle the viewer bought, oldest first."""
        ...

    async def redemptions_of_viewer(self, viewer_id: UUID) -> list[Redemption]:
        """Every promo code the viewer used, oldest first."""
        ...
