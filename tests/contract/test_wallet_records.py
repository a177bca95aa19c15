"""The wallet's and the sandbox vendor's record ports, against their in-memory and PostgreSQL adapters."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from injector import Injector

from core.db import Database
from features.sandbox_pay.adapters import MemorySandboxStore, PostgresSandboxStore
from features.sandbox_pay.model import OutboxMessage, SandboxPayment, SandboxReversal, SandboxStatus
from features.sandbox_pay.ports import SandboxStore
from features.wallet.adapters.records import (
    MemoryPurchaseRepository,
    MemoryReconciliationRepository,
    MemoryWebhookInbox,
    PostgresPurchaseRepository,
    PostgresReconciliationRepository,
    PostgresWebhookInbox,
)
from features.wallet.model import (
    Finding,
    FindingKind,
    PaymentStatus,
    Purchase,
    ReconciliationRun,
    VendorEvent,
)
from features.wallet.ports import PurchaseRepository, ReconciliationRepository, WebhookInbox

T0 = datetime(2026, 2, 1, 12, tzinfo=UTC)


@pytest.fixture(params=["memory", "postgres"])
def store(request: pytest.FixtureRequest, pg: Injector) -> SandboxStore:
    return MemorySandboxStore() if request.param == "memory" else PostgresSandboxStore(pg.get(Database))


def checkout(key: str = "k1", at: datetime = T0) -> SandboxPayment:
    return SandboxPayment(
        id=f"sbp_{key}",
        idempotency_key=key,
        amount_minor=500,
        currency="USD",
        description="550 points",
        metadata={"pack": "p550"},
        success_url="/ok",
        cancel_url="/back",
        status=SandboxStatus.OPEN,
        created_at=at,
        updated_at=at,
    )


async def test_the_sandbox_store_keeps_one_checkout_per_idempotency_key(store: SandboxStore) -> None:
    first = await store.add(checkout("k1"))
    again = await store.add(replace(checkout("k1"), id="sbp_other"))
    assert again.id == first.id == "sbp_k1"
    assert again.metadata == {"pack": "p550"}
    await store.set_status("sbp_k1", SandboxStatus.PAID, T0 + timedelta(minutes=1))
    refund = SandboxReversal("re_1", "sbp_k1", "refund", 200, "rk", T0 + timedelta(minutes=2))
    assert await store.add_reversal(refund) == refund
    assert (await store.add_reversal(replace(refund, id="re_2"))).id == "re_1"
    stored = await store.get("sbp_k1", lock=True)
    assert stored is not None
    assert (stored.status, stored.amount_refunded, stored.refundable) == (SandboxStatus.PAID, 200, 300)
    assert await store.get("sbp_missing") is None


async def test_the_sandbox_store_lists_payments_by_creation_time(store: SandboxStore) -> None:
    for i in range(3):
        await store.add(checkout(f"k{i}", T0 + timedelta(hours=i)))
    window = await store.created_between(T0 + timedelta(minutes=30), T0 + timedelta(hours=2))
    assert [p.id for p in window] == ["sbp_k1"]
    assert [p.id for p in await store.recent(2)] == ["sbp_k2", "sbp_k1"]


async def test_the_outbox_leases_each_webhook_to_one_deliverer_and_retries_when_due(store: SandboxStore) -> None:
    await store.add(checkout())

    def message(n: int) -> OutboxMessage:
        return OutboxMessage(0, f"evt_{n}", "payment.succeeded", "sbp_k1", "{}", 0, T0 + timedelta(seconds=20))

    one, two = await store.enqueue_webhook(message(1)), await store.enqueue_webhook(message(2))
    lease = T0 + timedelta(minutes=1)
    assert [m.id for m in await store.claim_webhooks(T0, lease, ids=[one])] == [one]
    assert await store.claim_webhooks(T0, lease, ids=[one]) == []  # already tried: the sweep's job now
    assert await store.claim_webhooks(T0, lease) == []  # nothing due yet
    later = T0 + timedelta(seconds=30)
    due = await store.claim_webhooks(later, later + timedelta(minutes=1))
    assert [(m.id, m.attempts) for m in due] == [(two, 1)]
    await store.mark_delivered(two, later)
    await store.mark_failed(one, "HTTP 500", later + timedelta(minutes=5))
    assert await store.claim_webhooks(later + timedelta(minutes=2), later + timedelta(minutes=3)) == []
    retry = await store.claim_webhooks(later + timedelta(minutes=6), later + timedelta(minutes=7))
    assert [(m.id, m.attempts, m.last_error) for m in retry] == [(one, 2, "HTTP 500")]
    assert [m.event_id for m in await store.outbox("sbp_k1")] == ["evt_2", "evt_1"]


async def test_a_shared_secret_is_created_once(store: SandboxStore) -> None:
    name = f"contract_secret_{uuid4().hex[:8]}"
    assert await store.shared_secret(name, "first") == "first"
    assert await store.shared_secret(name, "second") == "first"


@pytest.fixture(params=["memory", "postgres"])
def records(
    request: pytest.FixtureRequest, pg: Injector
) -> tuple[PurchaseRepository, WebhookInbox, ReconciliationRepository]:
    if request.param == "memory":
        return MemoryPurchaseRepository(), MemoryWebhookInbox(), MemoryReconciliationRepository()
    db = pg.get(Database)
    return PostgresPurchaseRepository(db), PostgresWebhookInbox(db), PostgresReconciliationRepository(db)


def purchase(ref: str, user: object, key: str, at: datetime = T0) -> Purchase:
    return Purchase(ref, user, "p550", 550, 500, "USD", key, f"/pay/{ref}", PaymentStatus.PENDING, at, at)  # type: ignore[arg-type]


async def test_purchases_are_kept_once_per_user_and_key_and_per_payment(
    records: tuple[PurchaseRepository, WebhookInbox, ReconciliationRepository],
) -> None:
    purchases, _, _ = records
    alice, bob = uuid4(), uuid4()
    first = await purchases.add(purchase("pay_1", alice, "k"))
    assert await purchases.add(purchase("pay_2", alice, "k")) == first  # same user and key
    assert (await purchases.add(purchase("pay_3", bob, "k"))).payment_ref == "pay_3"  # keys are per user
    assert (await purchases.add(purchase("pay_1", bob, "other"))).user_id == alice  # the payment is taken
    await purchases.set_status("pay_1", PaymentStatus.PAID, T0 + timedelta(minutes=1))
    stored = await purchases.get("pay_1")
    assert stored is not None
    assert stored.status is PaymentStatus.PAID
    assert await purchases.by_key(bob, "k") == await purchases.get("pay_3")
    assert await purchases.get("pay_404") is None
    await purchases.add(purchase("pay_late", bob, "k2", T0 + timedelta(days=1)))
    window = await purchases.created_between(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    assert {p.payment_ref for p in window} == {"pay_1", "pay_3"}
    await purchases.lock_payment("pay_1")  # outside a transaction: a no-op that must not fail


async def test_the_inbox_records_each_vendor_event_once(
    records: tuple[PurchaseRepository, WebhookInbox, ReconciliationRepository],
) -> None:
    _, inbox, _ = records
    event = VendorEvent("evt_1", "payment.succeeded", "pay_1", T0)
    assert not await inbox.seen("sandbox", "evt_1")
    assert await inbox.record("sandbox", event, T0)
    assert not await inbox.record("sandbox", event, T0)
    assert await inbox.record("stripe", event, T0)  # event ids are per vendor
    await inbox.set_outcome("sandbox", "evt_1", "applied")
    assert await inbox.seen("sandbox", "evt_1")
    assert await inbox.outcome("sandbox", "evt_1") == "applied"
    assert await inbox.outcome("sandbox", "evt_2") is None


async def test_reconciliation_runs_come_back_newest_first_with_their_findings(
    records: tuple[PurchaseRepository, WebhookInbox, ReconciliationRepository],
) -> None:
    _, _, runs = records
    finding = Finding(FindingKind.MISSING_CREDIT, "pay_1", "credited 550", healed=True, points=550, amount_minor=500)
    older = ReconciliationRun(uuid4(), T0, T0 + timedelta(days=1), T0, T0, 3, 2, (finding,))
    newer = ReconciliationRun(uuid4(), T0, T0 + timedelta(days=1), T0 + timedelta(hours=1), None, 0, 0)
    await runs.save(older)
    await runs.save(newer)
    assert [r.id for r in await runs.recent()] == [newer.id, older.id]
    assert await runs.get(older.id) == older
    assert await runs.get(uuid4()) is None
