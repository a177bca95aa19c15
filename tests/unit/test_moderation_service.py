"""Moderation on in-memory adapters: the same rules as on PostgreSQL (tests/integration/test_moderation_web.py),
with the frozen clock moving through the refund window and the report limit's day."""

from __future__ import annotations

from datetime import timedelta

import pytest
from injector import Injector

from core.clock import Clock, FrozenClock
from core.events import EventBus, MemoryEventBus
from core.identity import Principal
from features.accounts.model import AccountSuspended
from features.accounts.service import AccountService
from features.ledger.service import LedgerService
from features.moderation.model import Action, InvalidReport, NothingToReport, ReportsThrottled
from features.moderation.service import ModerationService
from features.offers.service import OffersService
from features.studio.model import Video
from features.studio.service import StudioService
from features.unlocks.model import VideoRemoved
from features.unlocks.service import UnlockService
from tests.support.videos import PASSWORD, add_synthetic_video, balances, fund, person, price_and_publish

KEY = "a-click-key-000000001"


@pytest.fixture
def clock(memory: Injector) -> FrozenClock:
    found = memory.get(Clock)
    assert isinstance(found, FrozenClock)
    return found


async def published(memory: Injector) -> tuple[Principal, Video]:
    creator = await person(memory, "Creator", creator=True)
    video = (await add_synthetic_video(memory, creator.id, title="Night ferry")).video
    return creator, await price_and_publish(memory, creator.id, video, rent_day=50)


async def staff(memory: Injector) -> Principal:
    who = await person(memory, "Stella")
    return (await memory.get(AccountService).set_staff(who.email, True)).principal()


async def test_a_take_down_refunds_purchases_inside_the_window_once_and_mails_the_creator_once(
    memory: Injector, clock: FrozenClock
) -> None:
    creator, video = await published(memory)
    early, recent = await person(memory, "Early"), await person(memory, "Recent")
    await fund(memory, early.id, 50)
    await fund(memory, recent.id, 50)
    unlocks = memory.get(UnlockService)
    await unlocks.unlock(early.id, video.public_id, "rent_day", KEY, "50")
    clock.advance(timedelta(days=31))  # past the 30-day window by the time of the take-down
    await unlocks.unlock(recent.id, video.public_id, "rent_day", KEY, "50")
    desk = memory.get(ModerationService)
    moderator = await staff(memory)
    first = await desk.take_down(moderator, video.id, "Scam")
    second = await desk.take_down(moderator, video.id, "Scam")
    assert (first.refunded, first.refunded_points) == (1, 50)
    assert (second.refunded, second.refunded_points) == (0, 0)
    assert await balances(memory, recent.id, creator.id) == (50, 45, 5)
    assert await balances(memory, early.id, creator.id) == (0, 45, 5)
    bus = memory.get(EventBus)
    assert isinstance(bus, MemoryEventBus)
    mails = [e for e in bus.events if e.name == "moderation"]
    assert [(e.topic, e.data["state"]) for e in mails] == [(f"user:{creator.id}", "TAKEN_DOWN")]
    with pytest.raises(VideoRemoved):
        await unlocks.visible_video(recent.id, video.public_id)
    assert (await unlocks.visible_video(creator.id, video.public_id)).id == video.id
    assert (await unlocks.visible_video(moderator.id, video.public_id)).id == video.id
    page = await memory.get(StudioService).published_page(None, 10)
    assert video.id not in [card.id for card in page.items]
    assert [e.action for e in await desk.audit_page()] == [Action.TAKE_DOWN, Action.TAKE_DOWN]


async def test_suspension_refuses_log_in_and_hides_every_video_until_lifted(memory: Injector) -> None:
    creator, video = await published(memory)
    desk, moderator = memory.get(ModerationService), await staff(memory)
    accounts = memory.get(AccountService)
    await desk.suspend(moderator, creator.id, "Spam")
    with pytest.raises(AccountSuspended):
        await accounts.log_in(creator.email, PASSWORD, "10.0.0.1")
    with pytest.raises(VideoRemoved, match="suspended"):
        await memory.get(UnlockService).visible_video(None, video.public_id)
    await desk.unsuspend(moderator, creator.id)
    user, _ = await accounts.log_in(creator.email, PASSWORD, "10.0.0.1")
    assert user.id == creator.id
    assert (await memory.get(UnlockService).visible_video(None, video.public_id)).id == video.id


async def test_reports_are_validated_and_limited_per_day(memory: Injector, clock: FrozenClock) -> None:
    creator, video = await published(memory)
    reporter = await person(memory, "Reporter")
    desk = memory.get(ModerationService)
    with pytest.raises(InvalidReport):
        await desk.report(reporter, "video", video.public_id, "nonsense", "")
    with pytest.raises(NothingToReport):
        await desk.report(reporter, "video", "no-such-video", "spam", "")
    for _ in range(desk.policy.reports_per_day):
        await desk.report(reporter, "creator", str(creator.id), "spam", "")
    with pytest.raises(ReportsThrottled) as refused:
        await desk.report(reporter, "video", video.public_id, "spam", "")
    assert 1 <= refused.value.retry_after <= 86400
    clock.advance(timedelta(days=1, seconds=1))
    await desk.report(reporter, "video", video.public_id, "spam", "")
    queue = await desk.queue()
    assert [(item.row.subject_kind.value, item.row.open_reports) for item in queue] == [
        ("creator", desk.policy.reports_per_day),
        ("video", 1),
    ]


async def test_a_take_down_refunds_the_videos_share_of_recent_bundle_purchases_once(
    memory: Injector, clock: FrozenClock
) -> None:
    """Issue 17: a bundle bought inside the refund window gets the taken-down video's equal share back."""
    offers = memory.get(OffersService)
    creator = await person(memory, "Creator", creator=True)
    parts = []
    for title in ("Part 1", "Part 2", "Part 3"):
        made = (await add_synthetic_video(memory, creator.id, title=title)).video
        parts.append(await price_and_publish(memory, creator.id, made, lifetime=200))
    bundle = await offers.create_bundle(creator.id, "Course", "", "500")
    for part in parts:
        await offers.add_video(creator.id, bundle.public_id, part.public_id)
    early, recent = await person(memory, "Early"), await person(memory, "Recent")
    for buyer in (early, recent):
        await fund(memory, buyer.id, 500)
    await offers.buy_bundle(early.id, bundle.public_id, "e" * 20, "500")
    clock.advance(timedelta(days=31))  # past the 30-day window by the time of the take-down
    await offers.buy_bundle(recent.id, bundle.public_id, "r" * 20, "500")
    assert await balances(memory, recent.id, creator.id) == (0, 900, 100)
    desk, moderator = memory.get(ModerationService), await staff(memory)

    first = await desk.take_down(moderator, parts[1].id, "Scam")
    second = await desk.take_down(moderator, parts[1].id, "Scam")

    assert (first.refunded, first.refunded_points) == (1, 166)  # 500 // 3, of which 16 was the fee
    assert (second.refunded, second.refunded_points) == (0, 0)
    assert await balances(memory, recent.id, creator.id) == (166, 900 - 150, 100 - 16)
    assert await balances(memory, early.id, creator.id) == (0, 750, 84)
    assert await memory.get(LedgerService).verify() == []
    unlocks = memory.get(UnlockService)
    assert (await unlocks.access(recent.id, parts[0])).full  # the bundle's other videos stay theirs


async def test_take_downs_never_refund_a_bundle_purchase_more_than_was_paid_for_the_videos_it_bought(
    memory: Injector, clock: FrozenClock
) -> None:
    """A video's share is the price over the videos the bundle held when it was bought: taking one out of
    the bundle later (as a creator must, to sell it again after a take-down) does not grow the shares of
    the others, and a video added after the purchase — a bonus — gives nothing back."""
    offers = memory.get(OffersService)
    creator = await person(memory, "Creator", creator=True)
    parts = []
    for title in ("Part 1", "Part 2", "Bonus"):
        made = (await add_synthetic_video(memory, creator.id, title=title)).video
        parts.append(await price_and_publish(memory, creator.id, made, lifetime=200))
    bundle = await offers.create_bundle(creator.id, "Course", "", "100")
    for part in parts[:2]:
        await offers.add_video(creator.id, bundle.public_id, part.public_id)
    buyer = await person(memory, "Buyer")
    await fund(memory, buyer.id, 100)
    await offers.buy_bundle(buyer.id, bundle.public_id, "b" * 20, "100")
    clock.advance(timedelta(minutes=1))
    await offers.add_video(creator.id, bundle.public_id, parts[2].public_id)  # the buyer gets it too
    desk, moderator = memory.get(ModerationService), await staff(memory)

    assert (await desk.take_down(moderator, parts[0].id, "Scam")).refunded_points == 50
    await offers.remove_video(creator.id, bundle.public_id, parts[0].public_id)
    assert (await desk.take_down(moderator, parts[2].id, "Scam")).refunded_points == 0  # not paid for
    assert (await desk.take_down(moderator, parts[1].id, "Scam")).refunded_points == 50

    assert (await balances(memory, buyer.id, creator.id))[0] == 100  # all of it back, not more
    assert await memory.get(LedgerService).verify() == []


async def test_staff_can_look_at_a_video_taken_down_but_cannot_buy_it(memory: Injector) -> None:
    """A moderator sees a taken-down video (to review it) but a click on one of its offers charges
    nothing: no one pays for a video the platform removed, staff included."""
    creator, video = await published(memory)
    moderator = await staff(memory)
    await fund(memory, moderator.id, 50)
    await memory.get(ModerationService).take_down(moderator, video.id, "Scam")
    unlocks = memory.get(UnlockService)
    assert (await unlocks.visible_video(moderator.id, video.public_id)).id == video.id
    with pytest.raises(VideoRemoved):
        await unlocks.unlock(moderator.id, video.public_id, "rent_day", KEY, "50")
    assert await balances(memory, moderator.id, creator.id) == (50, 0, 0)
