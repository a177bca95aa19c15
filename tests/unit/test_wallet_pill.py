"""The wallet's balance pill as a live part, on in-memory adapters: every change of a wallet through
the app (a pack paid, an unlock, a tip, a take-down refund, a creator's closing refund) tells the
owner's topic, and the part renders the owner's current balance for those events only."""

from __future__ import annotations

from uuid import uuid4

import pytest
from injector import Injector

from core.events import Event, EventBus, MemoryEventBus
from core.identity import Principal
from core.live import LiveParts
from features.accounts.service import AccountService
from features.ledger.model import WALLET_CHANGED_EVENT
from features.moderation.service import ModerationService
from features.studio.model import Video
from features.unlocks.service import TipService, UnlockService
from features.wallet.live import PILL, WalletPill
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish
from tests.support.wallet import WalletHarness


@pytest.fixture
def bus(memory: Injector) -> MemoryEventBus:
    found = memory.get(EventBus)
    assert isinstance(found, MemoryEventBus)
    return found


def wallet_events(bus: MemoryEventBus) -> list[tuple[str, str]]:
    return [(e.topic, e.data["kind"]) for e in bus.events if e.name == WALLET_CHANGED_EVENT]


async def published(memory: Injector) -> tuple[Principal, Video]:
    creator = await person(memory, "Creator", creator=True)
    video = (await add_synthetic_video(memory, creator.id)).video
    return creator, await price_and_publish(memory, creator.id, video, rent_day=50)


def test_the_wallet_declares_its_pill_a_live_part(memory: Injector) -> None:
    assert memory.get(WalletPill) in memory.get(LiveParts).resolve(memory)


async def test_the_pill_renders_the_owners_current_balance_on_wallet_events_only(memory: Injector) -> None:
    owner = uuid4()
    await fund(memory, owner, 120)
    pill = memory.get(WalletPill)
    [fragment] = await pill.fragments(owner, Event(1, f"user:{owner}", WALLET_CHANGED_EVENT, {"kind": "unlock"}))
    assert fragment.template == PILL
    assert fragment.context == {"balance": 120}
    for other in ("sale", "tip", "video", "viewers", "payout"):
        assert await pill.fragments(owner, Event(2, f"user:{owner}", other, {})) == []


async def test_paying_for_a_pack_tells_the_buyer_once(memory: Injector, bus: MemoryEventBus) -> None:
    shop = WalletHarness(memory)
    user = uuid4()
    purchase = await shop.buy(user, "p550")
    await shop.pay(purchase, hold=True)
    [(body, headers)] = shop.held.sent
    for _ in range(3):  # a replayed webhook changes nothing, and says nothing
        await shop.receive(body, headers)
    assert wallet_events(bus) == [(f"user:{user}", "purchase")]
    [fragment] = await memory.get(WalletPill).fragments(user, bus.events[-1])
    assert fragment.context == {"balance": 550}


async def test_a_refunded_pack_tells_the_buyer_again(memory: Injector, bus: MemoryEventBus) -> None:
    shop = WalletHarness(memory)
    user = uuid4()
    purchase = await shop.buy(user, "p550")
    await shop.pay(purchase)
    await shop.refund(purchase)
    topics = [topic for topic, _ in wallet_events(bus)]
    assert topics == [f"user:{user}", f"user:{user}"]
    assert await shop.balance(user) == 0


async def test_an_unlock_and_a_tip_tell_the_viewer_and_a_retry_tells_nobody(
    memory: Injector, bus: MemoryEventBus
) -> None:
    creator, video = await published(memory)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 200)
    unlocks, tips = memory.get(UnlockService), memory.get(TipService)
    for _ in range(2):
        await unlocks.unlock(viewer.id, video.public_id, "rent_day", "unlock-key-0000000001", "50")
        await tips.tip(viewer, video.public_id, "10", "", "tip-key-000000000001")
    assert wallet_events(bus) == [(f"user:{viewer.id}", "unlock"), (f"user:{viewer.id}", "tip")]
    pill = memory.get(WalletPill)
    [fragment] = await pill.fragments(viewer.id, bus.events[-1])
    assert fragment.context == {"balance": 140}
    assert not [e for e in bus.events if e.name == WALLET_CHANGED_EVENT and e.topic == f"user:{creator.id}"]


async def test_refunds_of_a_take_down_and_of_a_closing_creator_tell_each_buyer(
    memory: Injector, bus: MemoryEventBus
) -> None:
    creator, video = await published(memory)
    other = (await add_synthetic_video(memory, creator.id)).video
    other = await price_and_publish(memory, creator.id, other, rent_day=50)
    first, second = await person(memory, "First"), await person(memory, "Second")
    unlocks = memory.get(UnlockService)
    for who, key in ((first, "unlock-key-0000000011"), (second, "unlock-key-0000000012")):
        await fund(memory, who.id, 100)
        await unlocks.unlock(who.id, video.public_id, "rent_day", key, "50")
        await unlocks.unlock(who.id, other.public_id, "rent_day", key.replace("-00", "-10"), "50")

    staff_person = await person(memory, "Stella")
    staff = (await memory.get(AccountService).set_staff(staff_person.email, True)).principal()
    await memory.get(ModerationService).take_down(staff, video.id, "Scam")
    refunds = [topic for topic, kind in wallet_events(bus) if kind == "moderation_refund"]
    assert sorted(refunds) == sorted([f"user:{first.id}", f"user:{second.id}"])

    # The closure refunds the rentals of the other video (those of the taken-down one were refunded).
    await unlocks.refund_running_rentals(creator.id)
    closing = [(topic, kind) for topic, kind in wallet_events(bus) if kind == "rental_refund"]
    assert sorted(closing) == sorted([(f"user:{first.id}", "rental_refund"), (f"user:{second.id}", "rental_refund")])
