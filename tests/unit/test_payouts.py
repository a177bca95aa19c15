"""Payouts on in-memory adapters: the hold, the minimum, conversion and rounding, the state machine,
and every step moving the ledger exactly once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from injector import Injector

from core.clock import Clock, FrozenClock
from core.di import get_port
from core.events import EventBus, MemoryEventBus
from core.fsm import IllegalTransition
from core.uow import UnitOfWork
from features.ledger.model import AccountRef, Leg
from features.ledger.service import LedgerService
from features.payouts.adapters.memory_gateway import MemoryPayoutGateway
from features.payouts.adapters.records import MemoryEarningsWindowStore
from features.payouts.model import (
    BelowMinimum,
    EarningsEntry,
    InvalidConnectedAccount,
    InvalidPayoutKey,
    InvalidPoints,
    InvalidSignature,
    KeyReused,
    PayeeNotReady,
    Payout,
    PayoutNotFound,
    PayoutPolicy,
    PayoutState,
    Trigger,
    VendorUnavailable,
    availability,
    check_connected_account,
    parse_points,
    release_schedule,
)
from features.payouts.ports import EarningsWindowStore, PayeeRepository, PayoutGateway, PayoutRepository
from features.payouts.service import PAID_RETURN_WINDOW, PayoutService

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


class Harness:
    """A memory injector, its frozen clock, and a PayoutService with the policy a test wants."""

    def __init__(self, memory: Injector, policy: PayoutPolicy | None = None) -> None:
        self.clock = get_port(memory, Clock)
        assert isinstance(self.clock, FrozenClock)
        self.clock._now = T0
        self.ledger = memory.get(LedgerService)
        self.gateway = memory.get(MemoryPayoutGateway)
        self.bus = get_port(memory, EventBus)
        assert isinstance(self.bus, MemoryEventBus)
        self.service = PayoutService(
            get_port(memory, PayoutRepository),
            get_port(memory, PayeeRepository),
            get_port(memory, EarningsWindowStore),
            get_port(memory, PayoutGateway),
            self.ledger,
            self.bus,
            get_port(memory, UnitOfWork),
            self.clock,
            policy or PayoutPolicy(),
        )
        self._n = 0

    async def earn(self, creator: UUID, points: int, fee: int = 0) -> None:
        """A viewer buys points and spends them on the creator (with the platform's fee, as unlocks do)."""
        self._n += 1
        viewer = uuid4()
        await self.ledger.transfer(
            f"buy-{self._n}", "purchase", [Leg(AccountRef.vendor_clearing(), AccountRef.wallet(viewer), points)]
        )
        legs = [Leg(AccountRef.wallet(viewer), AccountRef.earnings(creator), points)]
        if fee:
            legs.append(Leg(AccountRef.earnings(creator), AccountRef.platform_revenue(), fee))
        await self.ledger.transfer(f"unlock-{self._n}", "unlock", legs)

    async def balances(self, creator: UUID) -> tuple[int, int, int]:
        """(earnings, payouts in transit, vendor clearing)."""
        found = await self.ledger.balances(
            [AccountRef.earnings(creator), AccountRef.payouts_in_transit(), AccountRef.vendor_clearing()]
        )
        return (
            found[AccountRef.earnings(creator)],
            found[AccountRef.payouts_in_transit()],
            found[AccountRef.vendor_clearing()],
        )

    def payout_events(self) -> list[tuple[str, dict[str, object]]]:
        return [(e.topic, dict(e.data)) for e in self.bus.events if e.name == "payout"]


@pytest.fixture
def h(memory: Injector) -> Harness:
    return Harness(memory)


# -- the hold --------------------------------------------------------------------------------------------


async def test_earnings_become_available_only_when_the_hold_is_over(h: Harness) -> None:
    creator = uuid4()
    await h.earn(creator, 3000)
    held = await h.service.availability(creator)
    assert (held.balance, held.available, held.on_hold) == (3000, 0, 3000)
    assert [(r.at, r.points) for r in held.releases] == [(T0 + 7 * DAY, 3000)]
    assert not held.can_request

    h.clock.advance(7 * DAY - timedelta(seconds=1))
    assert (await h.service.availability(creator)).available == 0
    h.clock.advance(timedelta(seconds=1))  # exactly the hold: available
    ready = await h.service.availability(creator)
    assert (ready.available, ready.on_hold, ready.releases) == (3000, 0, ())
    assert ready.can_request


async def test_newer_earnings_stay_on_hold_while_older_ones_are_available(h: Harness) -> None:
    creator = uuid4()
    await h.earn(creator, 2500)
    h.clock.advance(3 * DAY)
    await h.earn(creator, 400)
    h.clock.advance(4 * DAY + timedelta(hours=1))
    seen = await h.service.availability(creator)
    assert (seen.available, seen.on_hold) == (2500, 400)
    assert [(r.at, r.points) for r in seen.releases] == [(T0 + 10 * DAY, 400)]


async def test_the_platform_fee_taken_in_the_same_transfer_is_never_counted_as_held(h: Harness) -> None:
    creator = uuid4()
    await h.earn(creator, 1000, fee=100)
    seen = await h.service.availability(creator)
    assert (seen.balance, seen.on_hold, seen.available) == (900, 900, 0)


async def test_availability_copies_each_recent_entry_once_and_forgets_old_ones(memory: Injector) -> None:
    h = Harness(memory)
    window = memory.get(MemoryEarningsWindowStore)
    creator = uuid4()
    await h.earn(creator, 1000, fee=100)
    await h.service.availability(creator)
    assert len(window.entries[creator]) == 2  # the sale and its fee
    await h.earn(creator, 500)
    seen = await h.service.availability(creator)
    assert len(window.entries[creator]) == 3
    assert (seen.balance, seen.on_hold) == (1400, 1400)
    h.clock.advance(9 * DAY)
    await h.service.sweep()
    assert window.entries[creator] == {}
    assert (await h.service.availability(creator)).available == 1400


def test_a_debit_inside_the_hold_window_trims_the_latest_releases_first() -> None:
    policy = PayoutPolicy()
    now = T0 + 10 * DAY
    entries = [
        EarningsEntry(500, T0 + 5 * DAY, "unlock"),
        EarningsEntry(300, T0 + 6 * DAY, "tip"),
        EarningsEntry(-600, T0 + 9 * DAY, "refund"),  # points taken back
    ]
    seen = availability(1000, entries, now, policy)
    assert (seen.on_hold, seen.available) == (200, 800)
    assert sum(r.points for r in seen.releases) == 200
    assert release_schedule(entries, 200, policy.hold)[0].points == 200
    assert availability(100, entries[:2], now, policy).on_hold == 100  # never more than the balance


# -- minimum and conversion ------------------------------------------------------------------------------


async def test_a_payout_below_the_minimum_is_refused_and_nothing_moves(h: Harness) -> None:
    creator = uuid4()
    await h.earn(creator, 1999)
    h.clock.advance(8 * DAY)
    seen = await h.service.availability(creator)
    assert not seen.can_request
    assert "minimum payout is 2,000 points" in seen.reason
    with pytest.raises(BelowMinimum):
        await h.service.request_payout(creator, "k-1")
    assert await h.balances(creator) == (1999, 0, -1999)
    await h.earn(creator, 1)
    h.clock.advance(8 * DAY)
    assert (await h.service.request_payout(creator, "k-2")).payout.points == 2000


def test_points_convert_to_minor_units_in_whole_steps_and_the_rest_stays() -> None:
    usd = PayoutPolicy(points_per_unit=100, currency="USD")
    assert usd.step == (1, 1)
    assert usd.convert(2345) == usd.convert(2345)
    assert (usd.convert(2345).points, usd.convert(2345).amount_minor, usd.convert(2345).leftover) == (2345, 2345, 0)
    odd = PayoutPolicy(points_per_unit=150, currency="EUR")  # 1.5 points per cent
    assert odd.step == (3, 2)
    c = odd.convert(2000)
    assert (c.points, c.amount_minor, c.leftover) == (1998, 1332, 2)
    assert c.points * 100 == c.amount_minor * 150  # exact, no rounding at all
    yen = PayoutPolicy(points_per_unit=100, currency="JPY")  # no minor units
    c = yen.convert(2050)
    assert (c.points, c.amount_minor, c.leftover) == (2000, 20, 50)
    cheap = PayoutPolicy(points_per_unit=40, currency="USD")  # 2.5 cents per point
    c = cheap.convert(2001)
    assert (c.points, c.amount_minor, c.leftover) == (2000, 5000, 1)


async def test_a_payout_pays_whole_steps_and_leaves_the_leftover_in_earnings(memory: Injector) -> None:
    h = Harness(memory, PayoutPolicy(points_per_unit=150, currency="EUR"))
    creator = uuid4()
    await h.earn(creator, 2000)
    h.clock.advance(7 * DAY)
    payout = (await h.service.request_payout(creator, "k-1")).payout
    assert (payout.points, payout.amount_minor, payout.currency) == (1998, 1332, "EUR")
    assert await h.balances(creator) == (2, 1998, -2000)
    assert h.gateway.sent[payout.vendor_ref or ""] == (creator, 1332, "EUR")


async def test_a_creator_may_ask_for_part_of_what_is_available(h: Harness) -> None:
    creator = uuid4()
    await h.earn(creator, 3000)
    h.clock.advance(7 * DAY)
    with pytest.raises(InvalidPoints, match="at most 3,000"):
        await h.service.request_payout(creator, "k-1", 3001)
    with pytest.raises(BelowMinimum):
        await h.service.request_payout(creator, "k-1", 1500)
    payout = (await h.service.request_payout(creator, "k-1", 2500)).payout
    assert payout.points == 2500
    assert (await h.service.availability(creator)).available == 500


def test_form_values_are_checked() -> None:
    assert parse_points("") is None
    assert parse_points(" 2,500 ") == 2500
    for bad in ("-5", "0", "1.5", "abc", "9" * 16):
        with pytest.raises(InvalidPoints):
            parse_points(bad)
    assert check_connected_account(" acct_1A2b3C4d5E6f7G8h ") == "acct_1A2b3C4d5E6f7G8h"
    assert check_connected_account("") == ""
    for bad in ("acct_", "ba_123456789", "acct_12345678<script>", "acct 1234567"):
        with pytest.raises(InvalidConnectedAccount):
            check_connected_account(bad)


# -- the state machine -----------------------------------------------------------------------------------


def _payout(state: PayoutState) -> Payout:
    return Payout(uuid4(), uuid4(), "k", 2000, 2000, "USD", state, Trigger.REQUEST, "memory", T0, T0)


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (PayoutState.REQUESTED, PayoutState.PAID),
        (PayoutState.REQUESTED, PayoutState.REQUESTED),
        (PayoutState.PROCESSING, PayoutState.REQUESTED),
        (PayoutState.PAID, PayoutState.REQUESTED),
        (PayoutState.PAID, PayoutState.PROCESSING),
        (PayoutState.FAILED, PayoutState.PAID),
        (PayoutState.FAILED, PayoutState.PROCESSING),
    ],
)
def test_illegal_transitions_raise(start: PayoutState, target: PayoutState) -> None:
    with pytest.raises(IllegalTransition):
        _payout(start).moved_to(target, T0)


def test_legal_transitions_stamp_the_time() -> None:
    later = T0 + DAY
    processing = _payout(PayoutState.REQUESTED).moved_to(PayoutState.PROCESSING, later, vendor_ref="x")
    assert (processing.state, processing.vendor_ref, processing.updated_at) == (PayoutState.PROCESSING, "x", later)
    assert processing.moved_to(PayoutState.PAID, later).paid_at == later
    assert _payout(PayoutState.REQUESTED).moved_to(PayoutState.FAILED, later).failed_at == later
    returned = _payout(PayoutState.PAID).moved_to(PayoutState.FAILED, later)  # the bank sent it back
    assert (returned.state, returned.failed_at) == (PayoutState.FAILED, later)


# -- the ledger, step by step ----------------------------------------------------------------------------


async def test_a_paid_payout_moves_earnings_to_in_transit_then_to_vendor_clearing(h: Harness) -> None:
    creator = uuid4()
    await h.earn(creator, 2400)
    h.clock.advance(7 * DAY)
    outcome = await h.service.request_payout(creator, "k-1")
    payout = outcome.payout
    assert not outcome.replayed
    assert payout.state is PayoutState.PROCESSING
    assert await h.balances(creator) == (0, 2400, -2400)

    h.gateway.settle(payout.vendor_ref or "")
    paid = await h.service.refresh(payout.id)
    assert paid.state is PayoutState.PAID
    assert paid.paid_at == h.clock.now()
    assert await h.balances(creator) == (0, 0, 0)
    assert await h.service.refresh(payout.id) == paid  # nothing more happens
    assert await h.ledger.verify() == []

    topic = f"user:{creator}"
    expected = {"points": 2400, "amount_minor": 2400, "currency": "USD", "payout_id": str(payout.id)}
    assert h.payout_events() == [(topic, {"state": state, **expected}) for state in ("REQUESTED", "PROCESSING", "PAID")]
    trail = await h.service.payout_for(creator, payout.id)
    assert [step for step, _ in trail.transfers] == ["request", "paid"]
    assert [t.kind for _, t in trail.transfers] == ["payout", "payout"]


async def test_a_failed_payout_returns_the_points_which_are_available_at_once(h: Harness) -> None:
    creator = uuid4()
    await h.earn(creator, 2000)
    h.clock.advance(7 * DAY)
    payout = (await h.service.request_payout(creator, "k-1")).payout
    h.gateway.settle(payout.vendor_ref or "", paid=False, reason="Account closed.")
    failed = await h.service.refresh(payout.id)
    assert (failed.state, failed.failure_reason) == (PayoutState.FAILED, "Account closed.")
    assert h.gateway.returned == [payout.vendor_ref]
    assert await h.balances(creator) == (2000, 0, -2000)
    assert (await h.service.availability(creator)).available == 2000
    assert [d["state"] for _, d in h.payout_events()] == ["REQUESTED", "PROCESSING", "FAILED"]
    assert await h.ledger.verify() == []
    again = await h.service.request_payout(creator, "k-2")
    assert again.payout.state is PayoutState.PROCESSING


async def test_a_payout_the_vendor_refuses_fails_at_once_with_the_points_returned(h: Harness) -> None:
    creator = uuid4()
    await h.earn(creator, 2000)
    h.clock.advance(7 * DAY)
    h.gateway.reject_next = "No such destination."
    payout = (await h.service.request_payout(creator, "k-1")).payout
    assert (payout.state, payout.vendor_ref) == (PayoutState.FAILED, None)
    assert payout.failure_reason == "No such destination."
    assert await h.balances(creator) == (2000, 0, -2000)
    assert [d["state"] for _, d in h.payout_events()] == ["REQUESTED", "FAILED"]


async def test_an_unreachable_vendor_leaves_the_payout_requested_until_the_sweep(h: Harness) -> None:
    creator = uuid4()
    await h.earn(creator, 2000)
    h.clock.advance(7 * DAY)
    h.gateway.unavailable = True
    payout = (await h.service.request_payout(creator, "k-1")).payout
    assert payout.state is PayoutState.REQUESTED
    assert await h.balances(creator) == (0, 2000, -2000)
    h.gateway.unavailable = False
    assert (await h.service.sweep()).submitted == 0  # not yet stale
    h.clock.advance(timedelta(minutes=2))
    report = await h.service.sweep()
    assert (report.submitted, report.changed) == (1, 1)
    assert (await h.service.statement(creator))[0].state is PayoutState.PROCESSING
    assert len(h.gateway.sent) == 1


async def test_no_points_come_back_before_the_money_does(h: Harness) -> None:
    creator = uuid4()
    await h.earn(creator, 2000)
    h.clock.advance(7 * DAY)
    payout = (await h.service.request_payout(creator, "k-1")).payout
    h.gateway.settle(payout.vendor_ref or "", paid=False)
    h.gateway.returns_unavailable = True
    with pytest.raises(VendorUnavailable):
        await h.service.refresh(payout.id)
    assert (await h.service.statement(creator))[0].state is PayoutState.PROCESSING
    assert await h.balances(creator) == (0, 2000, -2000)
    h.gateway.returns_unavailable = False
    h.clock.advance(timedelta(minutes=11))
    assert (await h.service.sweep()).changed == 1
    assert (await h.service.statement(creator))[0].state is PayoutState.FAILED
    assert await h.balances(creator) == (2000, 0, -2000)


async def test_the_sweep_rechecks_a_payout_whose_news_was_lost(h: Harness) -> None:
    creator = uuid4()
    await h.earn(creator, 2000)
    h.clock.advance(7 * DAY)
    payout = (await h.service.request_payout(creator, "k-1")).payout
    h.gateway.settle(payout.vendor_ref or "")  # paid, but nobody told Hypha
    assert (await h.service.sweep()).rechecked == 0
    h.clock.advance(timedelta(minutes=11))
    assert (await h.service.sweep()).changed == 1
    assert (await h.service.statement(creator))[0].state is PayoutState.PAID


async def test_a_second_click_pays_nothing_twice(h: Harness) -> None:
    creator = uuid4()
    await h.earn(creator, 2000)
    h.clock.advance(7 * DAY)
    first = await h.service.request_payout(creator, "k-1")
    again = await h.service.request_payout(creator, "k-1")
    assert again.replayed
    assert again.payout.id == first.payout.id
    with pytest.raises(BelowMinimum):  # another click with a fresh key finds nothing left
        await h.service.request_payout(creator, "k-2")
    assert await h.balances(creator) == (0, 2000, -2000)
    assert len(h.gateway.sent) == 1


async def test_a_key_sent_again_with_another_amount_is_refused_not_replayed(h: Harness) -> None:
    """A retry is the same request: the same key with other points (a form replayed with another amount,
    a second tab) is refused as a used key, not answered with the first payout as if it were the one
    asked for. The same amount again — as asked or as shown — is a replay, as is "everything available"
    (what it was when the key was first used)."""
    creator = uuid4()
    await h.earn(creator, 6000)
    h.clock.advance(7 * DAY)
    first = await h.service.request_payout(creator, "k-1", 2000)
    assert (await h.service.request_payout(creator, "k-1", 2000)).replayed
    with pytest.raises(KeyReused):
        await h.service.request_payout(creator, "k-1", 3000)
    assert (await h.service.request_payout(creator, "k-1")).replayed  # "everything": what it was then
    again = await h.service.request_payout(creator, "k-1", shown_all=("2000", "2000"))
    assert again.replayed
    assert again.payout.id == first.payout.id
    assert await h.balances(creator) == (4000, 2000, -6000)
    assert len(h.gateway.sent) == 1


async def test_a_signed_webhook_applies_the_vendor_status_and_a_forged_one_is_refused(h: Harness) -> None:
    creator = uuid4()
    await h.earn(creator, 2000)
    h.clock.advance(7 * DAY)
    payout = (await h.service.request_payout(creator, "k-1")).payout
    h.gateway.settle(payout.vendor_ref or "")
    body, headers = h.gateway.webhook(payout.vendor_ref)
    with pytest.raises(InvalidSignature):
        await h.service.handle_webhook(body.replace(b"mev", b"xev"), headers)
    assert await h.service.handle_webhook(body, headers) == "PAID"
    assert await h.service.handle_webhook(body, headers) == "PAID"
    assert await h.service.handle_webhook(*h.gateway.webhook(None)) == "ignored"
    assert await h.service.handle_webhook(*h.gateway.webhook("mpo_nobody")) == "unknown"
    assert await h.balances(creator) == (0, 0, 0)


# -- the monthly run, payees, authorization --------------------------------------------------------------


async def test_the_monthly_run_pays_every_enrolled_creator_above_the_minimum_once(h: Harness) -> None:
    rich, poor, fresh = uuid4(), uuid4(), uuid4()
    await h.earn(rich, 5000)
    await h.earn(poor, 100)
    for creator in (rich, poor):
        await h.service.overview(creator)  # visiting the payouts page enrolls
    h.clock.advance(8 * DAY)
    await h.earn(fresh, 9000)  # not enrolled and still on hold
    report = await h.service.run_monthly(batch=1)
    assert (report.requested, report.skipped, report.failed) == (1, 1, 0)
    (payout,) = await h.service.statement(rich)
    assert (payout.trigger, payout.points, payout.idempotency_key) == (Trigger.MONTHLY, 5000, "monthly:2026-03")
    again = await h.service.run_monthly()
    assert again.requested == 0
    assert len(await h.service.statement(rich)) == 1


async def test_the_sweep_finds_a_paid_payout_the_bank_returned_when_the_news_was_lost(h: Harness) -> None:
    """The vendor's payout.failed after paid may never arrive (an outage, a misconfigured endpoint): the
    sweep asks the vendor again about payouts paid within the return window, once a day each, and gives
    the points back once; payouts paid longer ago are not asked about again."""
    creator, other = uuid4(), uuid4()
    for who in (creator, other):
        await h.earn(who, 2000)
    h.clock.advance(7 * DAY)
    old = (await h.service.request_payout(other, "k-old")).payout
    h.gateway.settle(old.vendor_ref or "")
    await h.service.refresh(old.id)
    h.clock.advance(PAID_RETURN_WINDOW + DAY)  # `old` was paid before the window
    payout = (await h.service.request_payout(creator, "k-1")).payout
    ref = payout.vendor_ref or ""
    h.gateway.settle(ref)
    assert (await h.service.refresh(payout.id)).state is PayoutState.PAID

    h.gateway.settle(ref, paid=False, reason="The bank account is closed.")  # no webhook comes
    h.gateway.settle(old.vendor_ref or "", paid=False, reason="Too late to matter.")
    await h.service.sweep()  # the same day: not asked again yet
    assert (await h.service.payout_for(creator, payout.id)).payout.state is PayoutState.PAID
    h.clock.advance(DAY + timedelta(minutes=1))
    report = await h.service.sweep()
    assert report.changed == 1
    returned = (await h.service.payout_for(creator, payout.id)).payout
    assert (returned.state, returned.failure_reason) == (PayoutState.FAILED, "The bank account is closed.")
    assert await h.balances(creator) == (2000, 0, -2000)
    h.clock.advance(2 * DAY)
    await h.service.sweep()
    assert await h.balances(creator) == (2000, 0, -2000)  # once
    assert (await h.service.payout_for(other, old.id)).payout.state is PayoutState.PAID
    assert await h.ledger.verify() == []


async def test_a_creators_request_cannot_take_the_key_of_a_monthly_run(h: Harness) -> None:
    """The monthly run's key names the month: a request sent with that key (a hand-made form or an API
    call) would make the next monthly run find "its" payout already made and pay nothing that month."""
    creator = uuid4()
    await h.earn(creator, 5000)
    await h.service.overview(creator)
    h.clock.advance(8 * DAY)
    for key in ("monthly:2026-04", "monthly:2026-03", "MONTHLY:2026-04"):
        with pytest.raises(InvalidPayoutKey):
            await h.service.request_payout(creator, key, 1000)
    assert await h.service.statement(creator) == []
    h.clock.advance(30 * DAY)
    report = await h.service.run_monthly()
    assert report.requested == 1
    (payout,) = await h.service.statement(creator)
    assert (payout.trigger, payout.points) == (Trigger.MONTHLY, 5000)


async def test_stripe_payouts_need_a_connected_account_first(memory: Injector) -> None:
    h = Harness(memory, PayoutPolicy(needs_connected_account=True))
    creator = uuid4()
    await h.earn(creator, 2000)
    h.clock.advance(7 * DAY)
    seen = await h.service.availability(creator)
    assert seen.reason == PayeeNotReady.message
    with pytest.raises(PayeeNotReady):
        await h.service.request_payout(creator, "k-1")
    with pytest.raises(InvalidConnectedAccount):
        await h.service.set_stripe_account(creator, "acct_<bad>")
    await h.service.set_stripe_account(creator, "acct_1A2b3C4d5E6f7G8h")
    assert (await h.service.request_payout(creator, "k-1")).payout.state is PayoutState.PROCESSING


async def test_another_creators_payout_is_not_found(h: Harness) -> None:
    creator = uuid4()
    await h.earn(creator, 2000)
    h.clock.advance(7 * DAY)
    payout = (await h.service.request_payout(creator, "k-1")).payout
    with pytest.raises(PayoutNotFound):
        await h.service.payout_for(uuid4(), payout.id)
    with pytest.raises(PayoutNotFound):
        await h.service.payout_for(creator, uuid4())


async def test_a_malformed_key_is_refused(h: Harness) -> None:
    with pytest.raises(InvalidPayoutKey):
        await h.service.request_payout(uuid4(), "has spaces")
    with pytest.raises(InvalidPayoutKey):
        await h.service.request_payout(uuid4(), "x" * 101)


async def test_a_payout_the_bank_returns_after_it_was_paid_gives_the_points_back_once(h: Harness) -> None:
    """Banks may return a payout days after the vendor reported it paid (Stripe then sends payout.failed):
    the money is back with the platform, so the points go back to the creator's earnings — once, however
    often the news comes — and the payout reads FAILED with the bank's reason."""
    creator = uuid4()
    await h.earn(creator, 2000)
    h.clock.advance(7 * DAY)
    payout = (await h.service.request_payout(creator, "k-1")).payout
    ref = payout.vendor_ref or ""
    h.gateway.settle(ref)
    assert (await h.service.refresh(payout.id)).state is PayoutState.PAID
    assert await h.balances(creator) == (0, 0, 0)

    h.gateway.settle(ref, paid=False, reason="The bank account is closed.")
    body, headers = h.gateway.webhook(ref)
    assert await h.service.handle_webhook(body, headers) == "FAILED"
    assert await h.service.handle_webhook(body, headers) == "FAILED"
    returned = await h.service.refresh(payout.id)
    assert (returned.state, returned.failure_reason) == (PayoutState.FAILED, "The bank account is closed.")
    assert h.gateway.returned == [ref]
    assert await h.balances(creator) == (2000, 0, -2000)
    assert (await h.service.availability(creator)).available == 2000
    assert [d["state"] for _, d in h.payout_events()] == ["REQUESTED", "PROCESSING", "PAID", "FAILED"]
    trail = await h.service.payout_for(creator, payout.id)
    assert [step for step, _ in trail.transfers] == ["request", "paid", "returned"]
    assert await h.ledger.verify() == []
