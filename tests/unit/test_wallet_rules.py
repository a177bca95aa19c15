"""The wallet's pure rules: packs, how a payment's state maps to ledger transfers, statement lines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.errors import InvalidInput
from core.settings import Settings, SettingsError
from features.wallet.model import (
    InvalidPacks,
    PaymentStatus,
    Reversal,
    ReversalKind,
    VendorPayment,
    ledger_plan,
    parse_packs,
    reconciliation_period,
    reversal_points,
    statement_description,
)
from features.wallet.module import pack_catalog

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_packs_are_read_from_points_and_price_pairs_cheapest_first() -> None:
    catalog = parse_packs(" 550:500, 100:100 ,1200:1000", "usd")
    assert [(p.id, p.points, p.price_minor, p.currency) for p in catalog.packs] == [
        ("p100", 100, 100, "USD"),
        ("p550", 550, 500, "USD"),
        ("p1200", 1200, 1000, "USD"),
    ]
    assert catalog.get("p550").price_minor == 500


@pytest.mark.parametrize(
    ("text", "currency", "complaint"),
    [
        ("", "USD", "at least one pack"),
        ("100", "USD", "points:price_minor"),
        ("100:1.50", "USD", "points:price_minor"),
        ("0:100", "USD", "positive"),
        ("100:-5", "USD", "points:price_minor"),
        ("100:100,100:200", "USD", "two packs have 100 points"),
        ("100:100", "dollars", "three-letter code"),
    ],
)
def test_a_bad_pack_setting_is_refused_with_a_reason(text: str, currency: str, complaint: str) -> None:
    with pytest.raises(InvalidPacks, match=complaint):
        parse_packs(text, currency)


def test_a_bad_pack_setting_is_a_settings_error_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="PACKS"):
        pack_catalog(Settings(packs="lots:cheap"))


def test_an_unknown_pack_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        parse_packs("100:100", "USD").get("p999")


def payment(status: PaymentStatus, *reversals: tuple[str, int], amount: int = 500) -> VendorPayment:
    return VendorPayment(
        ref="pay_1",
        status=status,
        amount_minor=amount,
        currency="USD",
        created_at=T0,
        reversals=tuple(
            Reversal(
                f"r{i}",
                ReversalKind.CHARGEBACK if kind == "chargeback" else ReversalKind.REFUND,
                money,
                T0 + timedelta(minutes=i),
            )
            for i, (kind, money) in enumerate(reversals)
        ),
    )


@pytest.mark.parametrize("status", [PaymentStatus.PENDING, PaymentStatus.FAILED, PaymentStatus.CANCELED])
def test_nothing_is_owed_for_a_payment_that_was_never_collected(status: PaymentStatus) -> None:
    assert ledger_plan(payment(status), 550) == []


def test_a_paid_payment_calls_for_one_credit_keyed_by_the_payment() -> None:
    [credit] = ledger_plan(payment(PaymentStatus.PAID), 550)
    assert (credit.key, credit.kind, credit.points, credit.credit) == ("purchase:pay_1", "purchase", 550, True)


def test_a_full_refund_takes_back_exactly_the_pack() -> None:
    plan = ledger_plan(payment(PaymentStatus.REFUNDED, ("refund", 500)), 550)
    assert [(p.key, p.kind, p.points, p.credit) for p in plan] == [
        ("purchase:pay_1", "purchase", 550, True),
        ("refund:pay_1:r0", "refund", 550, False),
    ]


def test_partial_refunds_take_back_points_in_proportion_rounded_up_and_never_more_than_the_pack() -> None:
    plan = ledger_plan(payment(PaymentStatus.REFUNDED, ("refund", 1), ("refund", 166), ("refund", 333)), 550)
    taken = [p.points for p in plan if not p.credit]
    assert taken == [2, 182, 366]  # ceil(550*1/500)=2, ceil(550*167/500)=184 → +182, then the rest
    assert sum(taken) == 550


def test_a_chargeback_after_a_partial_refund_takes_back_what_is_left() -> None:
    plan = ledger_plan(payment(PaymentStatus.DISPUTED, ("refund", 250), ("chargeback", 250)), 100)
    assert [(p.kind, p.points) for p in plan if not p.credit] == [("refund", 50), ("chargeback", 50)]
    assert plan[-1].key == "chargeback:pay_1:r1"


@pytest.mark.parametrize("total", [1, 7, 99, 100, 550, 1200])
def test_reversals_always_sum_to_the_pack_when_everything_is_refunded(total: int) -> None:
    pieces = [("refund", 1)] * 13 + [("refund", 487)]
    reversals = payment(PaymentStatus.REFUNDED, *pieces).reversals
    assert sum(points for _, points in reversal_points(total, 500, reversals)) == total


def chargeback(
    reversal_id: str,
    money: int,
    minute: int,
    won_minute: int | None = None,
    kind: ReversalKind = ReversalKind.CHARGEBACK,
) -> Reversal:
    won = None if won_minute is None else T0 + timedelta(minutes=won_minute)
    return Reversal(reversal_id, kind, money, T0 + timedelta(minutes=minute), won)


def test_a_won_chargeback_is_no_longer_taken_and_gives_back_its_points_if_they_were_taken() -> None:
    won = VendorPayment("pay_1", PaymentStatus.PAID, 500, "USD", T0, reversals=(chargeback("dp_1", 500, 1, 2),))
    plan = ledger_plan(won, 550)
    assert [(p.key, p.kind, p.points, p.credit, p.restores) for p in plan] == [
        ("purchase:pay_1", "purchase", 550, True, ""),
        ("dispute-won:pay_1:dp_1", "dispute_won", 550, True, "chargeback:pay_1:dp_1"),
    ]


def test_a_refund_after_a_won_dispute_takes_back_its_own_share_again() -> None:
    history = (
        chargeback("re_1", 250, 0, kind=ReversalKind.REFUND),
        chargeback("dp_1", 250, 1, 2),  # the rest disputed, then won
        chargeback("re_2", 250, 3, kind=ReversalKind.REFUND),  # the money was ours again, and refunded
    )
    plan = ledger_plan(VendorPayment("pay_1", PaymentStatus.REFUNDED, 500, "USD", T0, reversals=history), 550)
    assert [(p.kind, p.points, p.credit) for p in plan] == [
        ("purchase", 550, True),
        ("refund", 275, False),
        ("dispute_won", 275, True),
        ("refund", 275, False),
    ]
    # the shares do not change as the history grows: the same payment before the win and the refund
    earlier = ledger_plan(VendorPayment("pay_1", PaymentStatus.DISPUTED, 500, "USD", T0, reversals=history[:1]), 550)
    still_open = (history[0], chargeback("dp_1", 250, 1))
    open_plan = ledger_plan(VendorPayment("pay_1", PaymentStatus.DISPUTED, 500, "USD", T0, reversals=still_open), 550)
    assert [p.points for p in earlier] == [550, 275]
    assert [(p.kind, p.points) for p in open_plan] == [("purchase", 550), ("refund", 275), ("chargeback", 275)]


def test_only_a_chargeback_can_be_won() -> None:
    with pytest.raises(ValueError, match="chargeback"):
        chargeback("re_1", 100, 0, 1, kind=ReversalKind.REFUND)


def test_statement_lines_speak_the_business_language() -> None:
    catalog = parse_packs("550:500", "USD")
    assert statement_description("purchase", {"pack": "p550"}, catalog) == "Bought 550 Hypha points"
    assert statement_description("refund", {}, catalog) == "Refund of a pack purchase"
    assert statement_description("chargeback", {}, catalog).startswith("Chargeback")
    assert statement_description("dispute_won", {}, catalog) == "Dispute won — points restored"
    assert statement_description("unlock", {"memo": "Sunset"}, catalog) == "Unlock: Sunset"


def test_a_reconciliation_period_includes_the_whole_last_day() -> None:
    now = datetime(2026, 3, 10, 15, tzinfo=UTC)
    assert reconciliation_period("2026-03-01", "2026-03-02", now) == (
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 3, 3, tzinfo=UTC),
    )
    assert reconciliation_period("2026-03-01", "", now)[1] == now
    with pytest.raises(InvalidInput):
        reconciliation_period("2026-03-05", "2026-03-01", now)
    with pytest.raises(InvalidInput):
        reconciliation_period("March 1st", "", now)


async def test_the_app_refuses_to_start_with_a_bad_pack_setting() -> None:
    from core.di import build_injector
    from core.settings import load_settings
    from features.bootstrap import features_for
    from features.wallet.module import check_packs

    bad_packs = load_settings({}, packs="100:1.00")
    injector = build_injector(bad_packs, features_for(bad_packs), memory=True)
    with pytest.raises(SettingsError, match=r"PACKS.*100:1\.00"):
        await check_packs(injector)
