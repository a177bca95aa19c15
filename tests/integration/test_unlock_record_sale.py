"""The one-call sale (`PostgresUnlockRepository.record_sale`, migrations/2090_unlock_record_sale.sql) on
real PostgreSQL: it writes all of a decided sale — transfer, purchase, entitlement, events — or, refused,
none of it; the ledger stays verified."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from injector import Injector

from core.clock import SystemClock
from core.db import Database
from core.di import get_port
from core.events import EventBus
from features.ledger.adapters import MemoryLedgerRepository, PostgresLedgerRepository
from features.ledger.model import AccountRef, Leg, wallet_topic
from features.ledger.service import LedgerService
from features.unlocks.adapters import MemoryUnlockRepository, PostgresUnlockRepository
from features.unlocks.model import Offer, Unlock

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _setup(pg: Injector) -> tuple[Database, LedgerService, PostgresUnlockRepository]:
    db = pg.get(Database)
    return (
        db,
        LedgerService(PostgresLedgerRepository(db), SystemClock()),
        PostgresUnlockRepository(db, get_port(pg, EventBus)),
    )


async def _counts(db: Database, viewer: object, key: str) -> tuple[int, int, int, int]:
    return (
        await db.fetchval("SELECT count(*) FROM ledger_transfers WHERE idempotency_key = $1", key),
        await db.fetchval("SELECT count(*) FROM unlocks WHERE viewer_id = $1", viewer),
        await db.fetchval("SELECT count(*) FROM entitlements WHERE viewer_id = $1", viewer),
        await db.fetchval("SELECT count(*) FROM event_log WHERE topic = $1", wallet_topic(viewer)),
    )


async def test_a_posted_sale_writes_the_transfer_purchase_entitlement_and_events_together(pg: Injector) -> None:
    db, ledger, unlocks = _setup(pg)
    viewer, creator, video = uuid4(), uuid4(), uuid4()
    await ledger.transfer("top-up", "purchase", [Leg(AccountRef.vendor_clearing(), AccountRef.wallet(viewer), 80)])
    legs = [
        Leg(AccountRef.wallet(viewer), AccountRef.earnings(creator), 50),
        Leg(AccountRef.earnings(creator), AccountRef.platform_revenue_for(creator), 5),
    ]
    key = f"unlock:{viewer}:k1"
    requested = ledger.prepare(key, "unlock", legs, {"video_id": str(video)})
    unlock = Unlock(uuid4(), "k1", viewer, video, creator, Offer.RENT_DAY, 50, 5, requested.id, NOW)
    events = [(wallet_topic(viewer), "wallet_changed", {"kind": "unlock"})]
    async with db.atomic():
        recorded = await unlocks.record_sale(requested, unlock, NOW + timedelta(days=1), None, events)
    assert recorded is not None
    assert recorded.status == "posted"
    assert recorded.entitlement is not None
    assert recorded.entitlement.offer is Offer.RENT_DAY
    assert recorded.entitlement.expires_at == NOW + timedelta(days=1)
    assert recorded.entitlement.granted_at == NOW  # the purchase's time, not the transfer's
    assert await _counts(db, viewer, key) == (1, 1, 1, 1)
    assert await ledger.balance(AccountRef.wallet(viewer)) == 30
    assert await ledger.balance(AccountRef.earnings(creator)) == 45
    stored = await ledger.transfer_by_key(key)
    assert stored is not None
    assert (stored.id, stored.legs) == (requested.id, tuple(legs))
    assert (await unlocks.checkout(video, viewer, "k1")).prior == unlock
    assert await ledger.verify() == []


async def test_a_sale_the_wallet_cannot_pay_writes_nothing(pg: Injector) -> None:
    db, ledger, unlocks = _setup(pg)
    viewer, creator, video = uuid4(), uuid4(), uuid4()
    await ledger.transfer("top-up", "purchase", [Leg(AccountRef.vendor_clearing(), AccountRef.wallet(viewer), 20)])
    key = f"unlock:{viewer}:k1"
    requested = ledger.prepare(key, "unlock", [Leg(AccountRef.wallet(viewer), AccountRef.earnings(creator), 50)])
    unlock = Unlock(uuid4(), "k1", viewer, video, creator, Offer.LIFETIME, 50, 0, requested.id, NOW)
    events = [(wallet_topic(viewer), "wallet_changed", {"kind": "unlock"})]
    async with db.atomic():
        recorded = await unlocks.record_sale(requested, unlock, None, None, events)
    assert recorded is not None
    assert (recorded.status, recorded.short_kind, recorded.short_owner, recorded.shortfall) == (
        "insufficient",
        "wallet",
        viewer,
        30,
    )
    assert await _counts(db, viewer, key) == (0, 0, 0, 0)
    assert await ledger.balance(AccountRef.wallet(viewer)) == 20


async def test_a_used_transfer_key_writes_nothing_and_says_so(pg: Injector) -> None:
    db, ledger, unlocks = _setup(pg)
    viewer, creator, video = uuid4(), uuid4(), uuid4()
    await ledger.transfer("top-up", "purchase", [Leg(AccountRef.vendor_clearing(), AccountRef.wallet(viewer), 200)])
    key = f"unlock:{viewer}:k1"
    legs = [Leg(AccountRef.wallet(viewer), AccountRef.earnings(creator), 50)]
    await ledger.transfer(key, "unlock", legs)
    requested = ledger.prepare(key, "unlock", legs)
    unlock = Unlock(uuid4(), "k1", viewer, video, creator, Offer.RENT_DAY, 50, 0, requested.id, NOW)
    async with db.atomic():
        recorded = await unlocks.record_sale(requested, unlock, NOW + timedelta(days=1), None, [])
    assert recorded is not None
    assert recorded.status == "exists"
    assert await _counts(db, viewer, key) == (1, 0, 0, 0)
    assert await ledger.balance(AccountRef.wallet(viewer)) == 150


async def test_the_memory_repository_leaves_the_sale_to_the_general_path() -> None:
    viewer, creator, video = uuid4(), uuid4(), uuid4()
    unlock = Unlock(uuid4(), "k1", viewer, video, creator, Offer.RENT_DAY, 50, 0, uuid4(), NOW)
    ledger = LedgerService(MemoryLedgerRepository(), SystemClock())
    requested = ledger.prepare("unlock:x", "unlock", [Leg(AccountRef.wallet(viewer), AccountRef.earnings(creator), 50)])
    assert await MemoryUnlockRepository().record_sale(requested, unlock, None, None, []) is None


async def test_without_a_bus_given_the_events_still_reach_this_databases_event_log(pg: Injector) -> None:
    db, ledger, _ = _setup(pg)
    unlocks = PostgresUnlockRepository(db)
    viewer, creator, video = uuid4(), uuid4(), uuid4()
    await ledger.transfer("top-up", "purchase", [Leg(AccountRef.vendor_clearing(), AccountRef.wallet(viewer), 50)])
    key = f"unlock:{viewer}:k1"
    requested = ledger.prepare(key, "unlock", [Leg(AccountRef.wallet(viewer), AccountRef.earnings(creator), 50)])
    unlock = Unlock(uuid4(), "k1", viewer, video, creator, Offer.LIFETIME, 50, 0, requested.id, NOW)
    events = [(wallet_topic(viewer), "wallet_changed", {"kind": "unlock"})]
    async with db.atomic():
        recorded = await unlocks.record_sale(requested, unlock, None, None, events)
    assert recorded is not None
    assert recorded.status == "posted"
    assert await _counts(db, viewer, key) == (1, 1, 1, 1)
