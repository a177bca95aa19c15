"""Memberships: the month, the pro-rata rule, tiers, joining, cancelling, changing tier and renewals —
on the in-memory adapters, with a clock the tests move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from injector import Injector

from core.clock import Clock, FrozenClock
from core.events import EventBus, MemoryEventBus
from core.identity import Principal
from features.ledger.model import AccountRef, InsufficientPoints
from features.ledger.service import LedgerService
from features.memberships.model import (
    AlreadyMember,
    InvalidKey,
    InvalidTier,
    MembershipPriceChanged,
    MembershipState,
    NotAMember,
    OwnTier,
    TierClosed,
    TierNotFound,
    add_month,
    prorata_upgrade,
    unused_refund,
)
from features.memberships.service import MembershipService
from features.studio.model import Video
from features.unlocks.model import AccessLevel
from features.unlocks.service import UnlockService
from tests.support.videos import add_synthetic_video, balances, fund, person, price_and_publish


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# -- the month --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "anchor", "end"),
    [
        (at(2026, 1, 15, 10, 30), 15, at(2026, 2, 15, 10, 30)),
        (at(2026, 1, 31, 9), 31, at(2026, 2, 28, 9)),  # clamped to February's last day
        (at(2028, 1, 31, 9), 31, at(2028, 2, 29, 9)),  # a leap year
        (at(2026, 2, 28, 9), 31, at(2026, 3, 31, 9)),  # the anchor day comes back after a short month
        (at(2026, 3, 31, 9), 31, at(2026, 4, 30, 9)),
        (at(2026, 12, 31, 23, 59), 31, at(2027, 1, 31, 23, 59)),  # across the year
        (at(2026, 8, 30), 30, at(2026, 9, 30)),
    ],
)
def test_a_month_is_the_same_day_next_month_clamped_to_its_last_day(
    start: datetime, anchor: int, end: datetime
) -> None:
    assert add_month(start, anchor) == end


def test_twelve_months_from_the_31st_keep_coming_back_to_the_31st_where_it_exists() -> None:
    start = at(2026, 1, 31, 12)
    days = []
    for _ in range(12):
        start = add_month(start, 31)
        days.append(start.day)
    assert days == [28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31]


@pytest.mark.parametrize(
    ("old", "new", "now", "cost"),
    [
        (100, 300, at(2026, 1, 1), 200),  # at the start: the whole difference
        (100, 300, at(2026, 1, 16, 12), 100),  # half of January left (31 days; 15.5 left)
        (100, 300, at(2026, 2, 1), 0),  # at the end: nothing
        (100, 300, at(2026, 1, 31, 23, 59), 0),  # a minute left: rounds down to nothing
        (300, 100, at(2026, 1, 10), 0),  # a downgrade charges nothing
        (100, 101, at(2026, 1, 2), 0),  # one point's difference for 30 of 31 days rounds down
    ],
)
def test_an_upgrade_costs_the_difference_for_the_time_left_rounded_down(
    old: int, new: int, now: datetime, cost: int
) -> None:
    assert prorata_upgrade(old, new, at(2026, 1, 1), at(2026, 2, 1), now) == cost


# -- the service -------------------------------------------------------------------------------------

KEYS = iter(f"key-{n:020d}" for n in range(10_000))


def key() -> str:
    return next(KEYS)


@pytest.fixture
def clock(memory: Injector) -> FrozenClock:
    found = memory.get(Clock)  # type: ignore[type-abstract]
    assert isinstance(found, FrozenClock)
    return found


@pytest.fixture
def service(memory: Injector) -> MembershipService:
    return memory.get(MembershipService)


async def creator_with_video(memory: Injector) -> tuple[Principal, Video]:
    creator = await person(memory, "Creator", creator=True)
    video = (await add_synthetic_video(memory, creator.id)).video
    video = await price_and_publish(memory, creator.id, video, rent_day=50)
    return creator, video


async def test_creating_tiers_checks_every_field_and_allows_three(memory: Injector, service: MembershipService) -> None:
    creator, _video = await creator_with_video(memory)
    other, theirs = await creator_with_video(memory)
    with pytest.raises(InvalidTier) as error:
        await service.create_tier(creator.id, name=" ", price="0", all_videos=False, video_ids=[str(theirs.id)])
    assert set(error.value.errors) == {"name", "price", "videos"}
    with pytest.raises(InvalidTier) as error:
        await service.create_tier(creator.id, name="Fans", price="10", all_videos=False, video_ids=["nope"])
    assert error.value.errors == {"videos": "Choose only your own videos."}
    for n in range(3):
        await service.create_tier(creator.id, name=f"Tier {n}", price=str(10 + n), all_videos=True, video_ids=[])
    with pytest.raises(InvalidTier) as error:
        await service.create_tier(creator.id, name="Fourth", price="40", all_videos=True, video_ids=[])
    assert "at most 3" in error.value.errors["form"]
    tiers = (await service.studio_page(creator.id)).tiers
    await service.retire_tier(creator.id, tiers[0].id)
    await service.create_tier(creator.id, name="Fourth", price="40", all_videos=True, video_ids=[])
    with pytest.raises(TierNotFound):  # another creator's tier
        await service.retire_tier(other.id, tiers[1].id)


async def test_joining_charges_a_month_with_the_fee_and_opens_the_included_videos(
    memory: Injector, service: MembershipService, clock: FrozenClock
) -> None:
    creator, video = await creator_with_video(memory)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 250)
    tier = await service.create_tier(creator.id, name="Fans", price="100", all_videos=True, video_ids=[])
    unlocks = memory.get(UnlockService)
    assert (await unlocks.access(viewer.id, video)).level is AccessLevel.LOCKED
    joined = await service.join(viewer.id, tier.id, key(), "100")
    m = joined.membership
    assert m.state is MembershipState.ACTIVE
    assert m.period_end == add_month(clock.now(), clock.now().day)
    assert await balances(memory, viewer.id, creator.id) == (150, 90, 10)
    access = await unlocks.access(viewer.id, video)
    assert access.level is AccessLevel.MEMBER
    assert access.full
    panel = await unlocks.panel(viewer.id, video.public_id)
    assert panel.choices == []  # "Included in your membership" instead of prices
    # a video uploaded later is included too
    later = (await add_synthetic_video(memory, creator.id, title="Later")).video
    later = await price_and_publish(memory, creator.id, later, rent_day=50)
    assert (await unlocks.access(viewer.id, later)).level is AccessLevel.MEMBER


async def test_a_chosen_videos_tier_opens_only_those(memory: Injector, service: MembershipService) -> None:
    creator, video = await creator_with_video(memory)
    other = await price_and_publish(
        memory, creator.id, (await add_synthetic_video(memory, creator.id)).video, rent_day=5
    )
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 100)
    tier = await service.create_tier(creator.id, name="One", price="30", all_videos=False, video_ids=[str(video.id)])
    await service.join(viewer.id, tier.id, key(), "30")
    unlocks = memory.get(UnlockService)
    assert (await unlocks.access(viewer.id, video)).level is AccessLevel.MEMBER
    assert (await unlocks.access(viewer.id, other)).level is AccessLevel.LOCKED


async def test_bad_joins_change_nothing(memory: Injector, service: MembershipService) -> None:
    creator, _ = await creator_with_video(memory)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 100)
    tier = await service.create_tier(creator.id, name="Fans", price="60", all_videos=True, video_ids=[])
    ledger = memory.get(LedgerService)
    with pytest.raises(OwnTier):
        await service.join(creator.id, tier.id, key(), "60")
    with pytest.raises(MembershipPriceChanged):
        await service.join(viewer.id, tier.id, key(), "59")
    with pytest.raises(InvalidKey):
        await service.join(viewer.id, tier.id, "short", "60")
    with pytest.raises(TierNotFound):
        await service.join(viewer.id, uuid4(), key(), "60")
    first = key()
    await service.join(viewer.id, tier.id, first, "60")
    again = await service.join(viewer.id, tier.id, first, "60")  # the same click again: nothing charged
    assert again.replayed
    with pytest.raises(AlreadyMember):
        await service.join(viewer.id, tier.id, key(), "60")
    await service.retire_tier(creator.id, tier.id)
    late = await person(memory, "Late")
    await fund(memory, late.id, 100)
    with pytest.raises(TierClosed):
        await service.join(late.id, tier.id, key(), "60")
    poor = await person(memory, "Poor")
    tier2 = await service.create_tier(creator.id, name="Gold", price="60", all_videos=True, video_ids=[])
    with pytest.raises(InsufficientPoints):
        await service.join(poor.id, tier2.id, key(), "60")
    assert await service.memberships.live(poor.id, creator.id) is None
    assert await ledger.balance(AccountRef.wallet(viewer.id)) == 40
    assert await ledger.balance(AccountRef.wallet(late.id)) == 100


async def test_renewal_charges_once_per_period_and_reminds_before(
    memory: Injector, service: MembershipService, clock: FrozenClock
) -> None:
    creator, _ = await creator_with_video(memory)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 300)
    tier = await service.create_tier(creator.id, name="Fans", price="100", all_videos=True, video_ids=[])
    m = (await service.join(viewer.id, tier.id, key(), "100")).membership
    bus = memory.get(EventBus)  # type: ignore[type-abstract]
    assert isinstance(bus, MemoryEventBus)
    clock.advance(m.period_end - clock.now() - timedelta(days=2))
    assert (await service.run_renewals())["remind"] == 1
    assert (await service.run_renewals())["remind"] == 0  # once
    mails = [e for e in bus.events if e.name == "membership"]
    assert [e.data["state"] for e in mails] == ["RENEWS_SOON"]
    clock.advance(timedelta(days=2))
    assert (await service.run_renewals())["renew"] == 1
    assert (await service.run_renewals())["renew"] == 0  # the cron again: nothing
    renewed = await service.memberships.live(viewer.id, creator.id)
    assert renewed is not None
    assert renewed.period_start == m.period_end
    assert await memory.get(LedgerService).balance(AccountRef.wallet(viewer.id)) == 100


async def test_too_few_points_lapses_with_grace_then_ends(
    memory: Injector, service: MembershipService, clock: FrozenClock
) -> None:
    creator, video = await creator_with_video(memory)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 150)
    tier = await service.create_tier(creator.id, name="Fans", price="100", all_videos=True, video_ids=[])
    m = (await service.join(viewer.id, tier.id, key(), "100")).membership
    unlocks = memory.get(UnlockService)
    clock.advance(m.period_end - clock.now())
    assert (await service.run_renewals())["lapsed"] == 1
    lapsed = await service.memberships.live(viewer.id, creator.id)
    assert lapsed is not None
    assert lapsed.state is MembershipState.LAPSED
    assert lapsed.grace_until == m.period_end + service.policy.grace
    assert (await unlocks.access(viewer.id, video)).level is AccessLevel.MEMBER  # grace
    assert await memory.get(LedgerService).balance(AccountRef.wallet(viewer.id)) == 50  # never below zero
    clock.advance(service.policy.grace)
    assert (await service.run_renewals())["end"] == 1
    assert (await unlocks.access(viewer.id, video)).level is AccessLevel.LOCKED
    assert await service.memberships.live(viewer.id, creator.id) is None


async def test_a_top_up_during_grace_renews_from_the_old_end(
    memory: Injector, service: MembershipService, clock: FrozenClock
) -> None:
    creator, _ = await creator_with_video(memory)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 100)
    tier = await service.create_tier(creator.id, name="Fans", price="100", all_videos=True, video_ids=[])
    m = (await service.join(viewer.id, tier.id, key(), "100")).membership
    clock.advance(m.period_end - clock.now() + timedelta(hours=1))
    await service.run_renewals()
    await fund(memory, viewer.id, 100)
    clock.advance(timedelta(days=1))
    assert (await service.run_renewals())["renew"] == 1
    renewed = await service.memberships.live(viewer.id, creator.id)
    assert renewed is not None
    assert renewed.state is MembershipState.ACTIVE
    assert renewed.period_start == m.period_end
    assert renewed.grace_until is None


async def test_cancel_keeps_access_to_the_period_end_and_never_renews(
    memory: Injector, service: MembershipService, clock: FrozenClock
) -> None:
    creator, video = await creator_with_video(memory)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 500)
    tier = await service.create_tier(creator.id, name="Fans", price="100", all_videos=True, video_ids=[])
    m = (await service.join(viewer.id, tier.id, key(), "100")).membership
    cancelled = await service.cancel(viewer.id, creator.id)
    assert cancelled.state is MembershipState.CANCELLED
    assert (await service.cancel(viewer.id, creator.id)).state is MembershipState.CANCELLED  # idempotent
    unlocks = memory.get(UnlockService)
    assert (await unlocks.access(viewer.id, video)).level is AccessLevel.MEMBER
    clock.advance(m.period_end - clock.now())
    assert (await service.run_renewals())["end"] == 1
    assert (await unlocks.access(viewer.id, video)).level is AccessLevel.LOCKED
    assert await memory.get(LedgerService).balance(AccountRef.wallet(viewer.id)) == 400
    with pytest.raises(NotAMember):
        await service.cancel(viewer.id, creator.id)


async def test_upgrade_charges_pro_rata_now_and_downgrade_waits_for_renewal(
    memory: Injector, service: MembershipService, clock: FrozenClock
) -> None:
    creator, _ = await creator_with_video(memory)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 1000)
    low = await service.create_tier(creator.id, name="Low", price="100", all_videos=True, video_ids=[])
    high = await service.create_tier(creator.id, name="High", price="300", all_videos=True, video_ids=[])
    m = (await service.join(viewer.id, low.id, key(), "100")).membership
    clock.advance((m.period_end - m.period_start) / 2)
    cost = prorata_upgrade(100, 300, m.period_start, m.period_end, clock.now())
    assert cost == 100
    with pytest.raises(MembershipPriceChanged):
        await service.change_tier(viewer.id, high.id, key(), "99")
    up = await service.change_tier(viewer.id, high.id, key(), str(cost))
    assert up.tier_id == high.id
    assert up.price == 300
    assert up.period_end == m.period_end
    ledger = memory.get(LedgerService)
    assert await ledger.balance(AccountRef.wallet(viewer.id)) == 1000 - 100 - 100
    down = await service.change_tier(viewer.id, low.id, key(), "0")
    assert down.tier_id == high.id
    assert down.next_tier_id == low.id
    assert await ledger.balance(AccountRef.wallet(viewer.id)) == 800
    clock.advance(m.period_end - clock.now())
    await service.run_renewals()
    renewed = await service.memberships.live(viewer.id, creator.id)
    assert renewed is not None
    assert renewed.tier_id == low.id
    assert renewed.price == 100
    assert await ledger.balance(AccountRef.wallet(viewer.id)) == 700


async def test_monthly_figures_count_members_and_revenue(
    memory: Injector, service: MembershipService, clock: FrozenClock
) -> None:
    creator, _ = await creator_with_video(memory)
    tier = await service.create_tier(creator.id, name="Fans", price="100", all_videos=True, video_ids=[])
    for n in range(3):
        viewer = await person(memory, f"Viewer {n}")
        await fund(memory, viewer.id, 100 if n == 0 else 500)
        await service.join(viewer.id, tier.id, key(), "100")
    figures = await service.figures(creator.id)
    this_month = figures[0]
    assert this_month.month == clock.now().strftime("%Y-%m")
    assert (this_month.active, this_month.joined, this_month.lapsed, this_month.revenue) == (3, 3, 0, 300)
    assert len(figures) == 6


@pytest.mark.parametrize(
    ("state", "subject", "says"),
    [
        ("RENEWS_SOON", "Your membership of Mira renews on 3 Feb 2027", "renews on 3 Feb 2027 for 120 points"),
        ("LAPSED", "Your membership of Mira could not be renewed", "You keep access until 6 Feb 2027"),
        ("ENDED", "Your membership of Mira has ended", "has ended"),
    ],
)
def test_membership_events_become_mail_linking_to_the_creator(state: str, subject: str, says: str) -> None:
    from core.events import Event
    from features.notifications.mails import MailComposer
    from features.notifications.model import MailKind, notification_for

    creator_id = uuid4()
    data = {
        "state": state,
        "tier": "Harbour club",
        "creator": "Mira",
        "creator_id": str(creator_id),
        "points": 120,
        "renews_on": "3 Feb 2027",
        "grace_until": "6 Feb 2027",
    }
    notification = notification_for(Event(7, f"user:{uuid4()}", "membership", data))
    assert notification is not None
    assert notification.kind is MailKind.MEMBERSHIP
    mail = MailComposer("https://hypha.example").compose(notification, "sam@example.com", "Sam")
    assert mail.subject == subject
    assert says in mail.text
    assert f"https://hypha.example/c/{creator_id}" in mail.text
    assert notification_for(Event(8, f"user:{uuid4()}", "membership", {**data, "state": "OTHER"})) is None


async def test_a_suspended_creator_takes_no_members_and_charges_no_renewal(
    memory: Injector, service: MembershipService, clock: FrozenClock
) -> None:
    from features.accounts.service import AccountService

    creator, _ = await creator_with_video(memory)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 500)
    tier = await service.create_tier(creator.id, name="Fans", price="100", all_videos=True, video_ids=[])
    m = (await service.join(viewer.id, tier.id, key(), "100")).membership
    await memory.get(AccountService).suspend(creator.id, "spam")
    late = await person(memory, "Late")
    await fund(memory, late.id, 500)
    with pytest.raises(TierClosed):
        await service.join(late.id, tier.id, key(), "100")
    clock.advance(m.period_end - clock.now())
    assert (await service.run_renewals())["end"] == 1
    assert await memory.get(LedgerService).balance(AccountRef.wallet(viewer.id)) == 400


def test_the_unused_part_of_a_period_is_refunded_rounded_down_with_the_fee_in_proportion() -> None:
    start, end = at(2026, 1, 1), at(2026, 1, 31)  # 30 days
    assert unused_refund(100, 10, start, end, start) == (100, 10)  # nothing used: everything back
    assert unused_refund(100, 10, start, end, at(2026, 1, 16)) == (50, 5)
    assert unused_refund(100, 10, start, end, at(2026, 1, 21)) == (33, 3)  # 33.3 and 3.3, rounded down
    assert unused_refund(100, 10, start, end, end) == (0, 0)
    assert unused_refund(100, 10, start, end, at(2026, 2, 5)) == (0, 0)  # a lapsed one in its grace days
    assert unused_refund(0, 0, start, end, start) == (0, 0)


async def test_a_creator_closing_their_account_refunds_the_unused_days_once_and_ends_every_membership(
    memory: Injector, service: MembershipService, clock: FrozenClock
) -> None:
    creator, video = await creator_with_video(memory)
    tier = await service.create_tier(creator.id, name="Fans", price="100", all_videos=True, video_ids=[])
    active, cancelled, lapsed = [await person(memory, name) for name in ("Active", "Cancelled", "Lapsed")]
    for viewer in (active, cancelled):
        await fund(memory, viewer.id, 1000)
    await fund(memory, lapsed.id, 100)
    late = (await service.join(lapsed.id, tier.id, key(), "100")).membership
    clock.advance(late.period_end - clock.now() + timedelta(hours=1))
    assert (await service.run_renewals())["lapsed"] == 1  # in its grace days: paid nothing for them
    first = (await service.join(active.id, tier.id, key(), "100")).membership
    second = (await service.join(cancelled.id, tier.id, key(), "100")).membership
    await service.cancel(cancelled.id, creator.id)  # still has the rest of its month
    clock.advance((first.period_end - first.period_start) / 4)
    now = clock.now()
    expected = [unused_refund(100, 10, m.period_start, m.period_end, now) for m in (first, second)]
    assert all(points > 0 for points, _ in expected)
    before = await balances(memory, active.id, creator.id)
    assert await service.closure_preview(creator.id) == (
        2,
        sum(p for p, _ in expected),
        sum(p - f for p, f in expected),
    )

    refunds = await service.refund_for_closed_creator(creator.id)

    assert len(refunds) == 2
    ledger = memory.get(LedgerService)
    wallets = [await ledger.balance(AccountRef.wallet(v.id)) for v in (active, cancelled, lapsed)]
    assert wallets == [900 + expected[0][0], 900 + expected[1][0], 0]
    after = await balances(memory, active.id, creator.id)
    assert after[1] == before[1] - sum(p - f for p, f in expected)  # the creator's share back
    assert after[2] == before[2] - sum(f for _, f in expected)  # the fee back
    for viewer in (active, cancelled, lapsed):
        assert await service.memberships.live(viewer.id, creator.id) is None
    unlocks = memory.get(UnlockService)
    assert (await unlocks.access(active.id, video)).level is AccessLevel.LOCKED
    transfer = refunds[0]
    assert transfer.metadata["paid"] == "100"
    assert await ledger.verify() == []
    # a retry (a second click, a redelivered job) refunds nothing again
    assert await service.refund_for_closed_creator(creator.id) == []
    assert [await ledger.balance(AccountRef.wallet(v.id)) for v in (active, cancelled, lapsed)] == wallets
    assert await service.closure_preview(creator.id) == (0, 0, 0)


async def test_a_member_closing_their_account_ends_their_memberships_without_charges(
    memory: Injector, service: MembershipService, clock: FrozenClock
) -> None:
    creator, _video = await creator_with_video(memory)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 1000)
    tier = await service.create_tier(creator.id, name="Fans", price="100", all_videos=True, video_ids=[])
    m = (await service.join(viewer.id, tier.id, key(), "100")).membership
    assert await service.end_for_closed_member(viewer.id) == 1
    assert await service.end_for_closed_member(viewer.id) == 0
    clock.advance(m.period_end - clock.now() + timedelta(hours=1))
    await service.run_renewals()
    assert await memory.get(LedgerService).balance(AccountRef.wallet(viewer.id)) == 900  # never renewed
