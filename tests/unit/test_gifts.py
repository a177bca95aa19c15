"""Gift points on in-memory adapters: the form's rules, and points moving exactly once."""

from __future__ import annotations

import asyncio
import secrets
from datetime import timedelta

import pytest
from injector import Injector

from core.clock import Clock, FrozenClock
from core.di import get_port
from core.errors import PaymentRequired
from features.accounts.service import AccountService
from features.gifts.model import (
    GiftKeyReused,
    GiftPolicy,
    GiftState,
    GiftsThrottled,
    GiftYourself,
    InvalidGift,
    check_order,
)
from features.gifts.service import GiftService
from features.ledger.model import AccountRef
from features.ledger.service import LedgerService
from features.notifications.adapters import MemoryOutbox
from tests.support.videos import PASSWORD, fund, person

POLICY = GiftPolicy(min_points=10, max_points=1000)


def key() -> str:
    return secrets.token_urlsafe(18)


def test_the_form_is_checked_field_by_field() -> None:
    order = check_order("1,000", "  Bob@Example.COM ", " Hi\x07 ", POLICY)
    assert (order.amount, order.recipient_email, order.message) == (1000, "bob@example.com", "Hi")
    for amount in ("9", "1001", "-5", "ten", "", "5.5", "٥٠"):
        with pytest.raises(InvalidGift) as refused:
            check_order(amount, "bob@example.com", "", POLICY)
        assert set(refused.value.errors) == {"amount"}
    with pytest.raises(InvalidGift) as both:
        check_order("0", "nobody", "x" * 281, POLICY)
    assert set(both.value.errors) == {"amount", "email", "message"}


@pytest.fixture
def gifts(memory: Injector) -> GiftService:
    return memory.get(GiftService)


async def balances(memory: Injector, *users: object) -> list[int]:
    ledger = memory.get(LedgerService)
    return [await ledger.balance(AccountRef.wallet(u)) for u in users] + [
        await ledger.balance(AccountRef.gifts_pending())
    ]


async def test_send_claim_and_nothing_twice(memory: Injector, gifts: GiftService) -> None:
    alice = await person(memory, "Alice")
    await fund(memory, alice.id, 100)
    sent = await gifts.send(alice, "40", "bob@example.com", "Hello", k := key())
    assert not sent.replayed
    assert (await gifts.send(alice, "40", "bob@example.com", "Hello", k)).replayed
    with pytest.raises(GiftKeyReused):
        await gifts.send(alice, "41", "bob@example.com", "Hello", k)
    with pytest.raises(GiftYourself):
        await gifts.send(alice, "40", alice.email.upper(), "", key())
    with pytest.raises(PaymentRequired):
        await gifts.send(alice, "61", "bob@example.com", "", key())
    mails = [m for m in get_port(memory, MemoryOutbox).mails if m.to == "bob@example.com"]
    assert len(mails) == 1
    accounts = memory.get(AccountService)
    bob = await accounts.sign_up("Bob@example.com", PASSWORD, "Bob")
    assert await gifts.claim_for(bob) == []  # not confirmed: nothing
    await accounts.log_in("bob@example.com", PASSWORD, "127.0.0.1")  # still not confirmed
    assert await balances(memory, alice.id, bob.id) == [60, 0, 40]
    bob = await accounts.mark_email_verified(bob.id)
    claims = await asyncio.gather(*(gifts.claim_for(bob) for _ in range(3)))
    assert sorted(len(c) for c in claims) == [0, 0, 1]
    assert await balances(memory, alice.id, bob.id) == [60, 40, 0]
    [gift] = await gifts.sent_by(alice.id)
    assert gift.state is GiftState.CLAIMED


async def test_log_in_claims_through_the_listener(memory: Injector, gifts: GiftService) -> None:
    alice = await person(memory, "Alice")
    await fund(memory, alice.id, 100)
    bob = await person(memory, "Bob")
    await gifts.send(alice, "25", bob.email, "", key())
    await memory.get(AccountService).log_in(bob.email, PASSWORD, "127.0.0.1")
    assert await balances(memory, alice.id, bob.id) == [75, 25, 0]


async def test_unclaimed_gifts_return_once(memory: Injector, gifts: GiftService) -> None:
    clock = memory.get(Clock)
    assert isinstance(clock, FrozenClock)
    alice = await person(memory, "Alice")
    await fund(memory, alice.id, 100)
    await gifts.send(alice, "30", "far@example.com", "", key())
    clock.advance(gifts.policy.return_after - timedelta(seconds=1))
    assert await gifts.return_expired() == []
    clock.advance(timedelta(seconds=1))
    assert len(await gifts.return_expired()) == 1
    assert await gifts.return_expired() == []
    assert await balances(memory, alice.id) == [100, 0]
    assert any(m.to == alice.email and "returned" in m.subject for m in get_port(memory, MemoryOutbox).mails)


async def test_sends_are_limited_per_day(memory_settings: object) -> None:
    import msgspec

    from core.di import build_injector
    from features.bootstrap import features_for

    settings = msgspec.structs.replace(memory_settings, gifts_per_sender_per_day=1)
    memory = build_injector(settings, features_for(settings), memory=True)
    gifts = memory.get(GiftService)
    alice = await person(memory, "Alice")
    await fund(memory, alice.id, 100)
    await gifts.send(alice, "10", "a@example.com", "", key())
    with pytest.raises(GiftsThrottled):
        await gifts.send(alice, "10", "b@example.com", "", key())
    assert await balances(memory, alice.id) == [90, 10]


async def test_a_deleted_recipients_pending_gifts_go_back_and_their_address_is_erased(
    memory: Injector, gifts: GiftService
) -> None:
    alice, bob = await person(memory, "Alice"), await person(memory, "Bob")
    await fund(memory, alice.id, 100)
    await gifts.send(alice, "20", bob.email, "first", key())
    await memory.get(AccountService).log_in(bob.email, PASSWORD, "127.0.0.1")  # claims it
    await gifts.send(alice, "30", bob.email.upper(), "second", key())  # still pending
    await gifts.send(alice, "15", "carol@example.com", "", key())  # someone else's: untouched
    assert await balances(memory, alice.id, bob.id) == [35, 20, 45]

    assert await gifts.forget_recipient(bob.email) == (1, 2)

    assert await balances(memory, alice.id, bob.id) == [65, 20, 15]
    sent = await gifts.sent_by(alice.id)
    assert sorted(g.recipient_email for g in sent) == ["(address erased)", "(address erased)", "carol@example.com"]
    assert [g.state for g in sent if g.amount == 30] == [GiftState.RETURNED]
    statement = await memory.get(LedgerService).statement(AccountRef.wallet(alice.id), limit=50)
    assert len(statement.entries) == 5  # funded, three sent, one returned
    assert all(bob.email.lower() not in str(e.metadata).lower() for e in statement.entries)  # never in the books
    told = [m for m in get_port(memory, MemoryOutbox).mails if m.to == alice.email and "returned" in m.subject]
    assert len(told) == 1
    assert bob.email.lower() not in told[0].text.lower()
    assert await gifts.forget_recipient(bob.email) == (0, 0)  # a retry moves nothing
    assert await memory.get(LedgerService).verify() == []


async def test_a_deleted_senders_pending_gift_stays_claimable_then_is_forfeited_not_returned(
    memory: Injector, gifts: GiftService
) -> None:
    clock = memory.get(Clock)
    assert isinstance(clock, FrozenClock)
    alice = await person(memory, "Alice")
    await fund(memory, alice.id, 100)
    await gifts.send(alice, "30", "far@example.com", "a private note", key())
    await gifts.send(alice, "20", "near@example.com", "", key())
    accounts = memory.get(AccountService)
    assert await gifts.forget_sender(alice.id) == 1
    await accounts.erase_account(alice.id)
    assert all(g.message == "" for g in await gifts.sent_by(alice.id))
    near = await accounts.mark_email_verified((await accounts.sign_up("near@example.com", PASSWORD, "Near")).id)
    await gifts.claim_for(near)
    ledger = memory.get(LedgerService)
    assert await ledger.balance(AccountRef.wallet(near.id)) == 20  # still claimable
    platform = await ledger.balance(AccountRef.platform_revenue())
    clock.advance(gifts.policy.return_after)
    [forfeited] = await gifts.return_expired()
    assert forfeited.state is GiftState.RETURNED
    assert await balances(memory, alice.id) == [50, 0]  # nothing back into a closed account
    assert await ledger.balance(AccountRef.platform_revenue()) == platform + 30
    assert await ledger.verify() == []
