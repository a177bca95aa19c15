"""Prices, one-click unlocks and tips on in-memory adapters: the rules, and money moving exactly once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from injector import Injector

from core.clock import Clock, FrozenClock
from core.errors import PaymentRequired
from core.events import EventBus, MemoryEventBus
from core.identity import Principal
from features.studio.model import IllegalVideoTransition, Video, VideoState
from features.unlocks.model import (
    MAX_PRICE,
    AccessLevel,
    Entitlement,
    InvalidKey,
    InvalidPricing,
    InvalidTip,
    KeyReused,
    NotForSale,
    NothingToExtend,
    Offer,
    OfferNotAvailable,
    OwnVideo,
    PriceChanged,
    Pricing,
    TipYourself,
    VideoUnavailable,
    check_pricing,
    check_tip,
    decide_access,
    expiry_after,
    extends,
    merged_expiry,
    offer_choices,
    parse_tip_amounts,
    shows_price,
    split,
)
from features.unlocks.service import PricingService, TipService, UnlockService
from tests.support.videos import add_synthetic_video, balances, fund, person, price_and_publish

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = "k" * 24


def key(n: int) -> str:
    return f"click-{n:018d}"


# -- prices ----------------------------------------------------------------------------------------------


def prices(day: str = "", month: str = "", life: str = "") -> dict[Offer, str]:
    return {Offer.RENT_DAY: day, Offer.RENT_MONTH: month, Offer.LIFETIME: life}


def test_a_blank_price_means_the_offer_is_not_sold() -> None:
    pricing = check_pricing(uuid4(), free=False, prices=prices(day="50", life="500"), preview="", duration=60, now=NOW)
    assert pricing.offers == [(Offer.RENT_DAY, 50), (Offer.LIFETIME, 500)]
    assert pricing.preview_seconds == 0
    assert pricing.sellable


@pytest.mark.parametrize("bad", ["0", "-5", "1.5", "ten", str(MAX_PRICE + 1), "１０"])
def test_prices_are_whole_points_within_bounds(bad: str) -> None:
    with pytest.raises(InvalidPricing) as caught:
        check_pricing(uuid4(), free=False, prices=prices(day=bad), preview="", duration=60, now=NOW)
    assert set(caught.value.errors) == {"rent_day"}


def test_a_priced_video_needs_at_least_one_offer_unless_it_is_free() -> None:
    with pytest.raises(InvalidPricing) as caught:
        check_pricing(uuid4(), free=False, prices=prices(), preview="", duration=60, now=NOW)
    assert "form" in caught.value.errors
    free = check_pricing(uuid4(), free=True, prices=prices(day="50"), preview="10", duration=60, now=NOW)
    assert free.free
    assert free.offers == []
    assert free.preview_seconds == 0
    assert free.sellable


def test_the_preview_is_at_most_the_video_length() -> None:
    ok = check_pricing(uuid4(), free=False, prices=prices(day="5"), preview="60", duration=60.4, now=NOW)
    assert ok.preview_seconds == 60
    for bad in ("61", "abc", "-1"):
        with pytest.raises(InvalidPricing) as caught:
            check_pricing(uuid4(), free=False, prices=prices(day="5"), preview=bad, duration=60.4, now=NOW)
        assert set(caught.value.errors) == {"preview_seconds"}


@pytest.mark.parametrize(
    ("price", "percent", "fee", "net"),
    [(100, 10, 10, 90), (5, 10, 0, 5), (19, 10, 1, 18), (99, 15, 14, 85), (50, 0, 0, 50), (50, 100, 50, 0)],
)
def test_the_fee_is_rounded_down_in_the_creators_favour(price: int, percent: int, fee: int, net: int) -> None:
    sale = split(price, percent)
    assert (sale.fee, sale.net) == (fee, net)


def test_tip_amounts_come_from_the_settings_and_messages_are_short() -> None:
    assert parse_tip_amounts("100, 10,50") == (10, 50, 100)
    with pytest.raises(ValueError, match="tip amounts"):
        parse_tip_amounts("10,-1")
    assert check_tip("50", (10, 50), "  thanks!\x07 ") == (50, "thanks!")
    with pytest.raises(InvalidTip):
        check_tip("51", (10, 50), "")
    for lenient in ("5_0", "+50", "050", "٥٠", "５０", "50.0", "²"):  # int() reads most of these as 50
        with pytest.raises(InvalidTip):
            check_tip(lenient, (10, 50), "")
    with pytest.raises(InvalidTip):
        check_tip(10, (10, 50), "x" * 281)


# -- entitlements -----------------------------------------------------------------------------------------


def held(offer: Offer, expires: datetime | None) -> Entitlement:
    return Entitlement(uuid4(), uuid4(), offer, expires, NOW - timedelta(hours=1), NOW - timedelta(hours=1))


def test_a_rental_runs_from_now_and_lifetime_never_ends() -> None:
    assert expiry_after(None, Offer.RENT_DAY, NOW) == NOW + timedelta(hours=24)
    assert expiry_after(None, Offer.RENT_MONTH, NOW) == NOW + timedelta(days=30)
    assert expiry_after(None, Offer.LIFETIME, NOW) is None


def test_buying_a_longer_offer_during_a_rental_extends_to_the_later_end() -> None:
    day = held(Offer.RENT_DAY, NOW + timedelta(hours=3))
    assert extends(day, Offer.RENT_MONTH, NOW)
    assert expiry_after(day, Offer.RENT_MONTH, NOW) == NOW + timedelta(days=30)
    assert expiry_after(day, Offer.RENT_DAY, NOW) == NOW + timedelta(hours=24)
    just_bought = held(Offer.RENT_DAY, NOW + timedelta(hours=23, minutes=30))
    assert not extends(just_bought, Offer.RENT_DAY, NOW)  # half an hour more is not worth a full price
    month = held(Offer.RENT_MONTH, NOW + timedelta(days=20))
    assert not extends(month, Offer.RENT_DAY, NOW)
    assert expiry_after(month, Offer.RENT_DAY, NOW) == NOW + timedelta(days=20)


def test_lifetime_wins_over_any_rental_and_nothing_extends_it() -> None:
    day = held(Offer.RENT_DAY, NOW + timedelta(hours=3))
    assert expiry_after(day, Offer.LIFETIME, NOW) is None
    forever = held(Offer.LIFETIME, None)
    assert not any(extends(forever, offer, NOW) for offer in Offer)
    assert merged_expiry(None, True, NOW + timedelta(days=1)) is None


def test_an_expired_rental_is_replaced_not_extended() -> None:
    old = held(Offer.RENT_MONTH, NOW - timedelta(seconds=1))
    assert not old.active(NOW)
    assert extends(old, Offer.RENT_DAY, NOW)
    assert expiry_after(old, Offer.RENT_DAY, NOW) == NOW + timedelta(hours=24)


def test_who_may_watch() -> None:
    owner, viewer = uuid4(), uuid4()
    paid = Pricing(uuid4(), prices={Offer.RENT_DAY: 50})
    previewed = Pricing(uuid4(), prices={Offer.RENT_DAY: 50}, preview_seconds=10)
    assert decide_access(owner, owner, paid, None, NOW).level is AccessLevel.OWNER
    assert decide_access(None, owner, Pricing(uuid4(), free=True), None, NOW).level is AccessLevel.FREE
    assert decide_access(viewer, owner, paid, None, NOW).level is AccessLevel.LOCKED
    assert decide_access(None, owner, previewed, None, NOW).preview_seconds == 10
    rented = held(Offer.RENT_DAY, NOW + timedelta(hours=1))
    assert decide_access(viewer, owner, paid, rented, NOW).full
    assert decide_access(viewer, owner, paid, rented, NOW + timedelta(hours=2)).level is AccessLevel.LOCKED


def test_offers_show_until_when_they_would_give_access() -> None:
    pricing = Pricing(uuid4(), prices={Offer.RENT_DAY: 50, Offer.RENT_MONTH: 200, Offer.LIFETIME: 500})
    month = held(Offer.RENT_MONTH, NOW + timedelta(days=10))
    choices = {c.offer: c for c in offer_choices(pricing, month, NOW)}
    assert not choices[Offer.RENT_DAY].available
    assert choices[Offer.RENT_MONTH].available
    assert choices[Offer.RENT_MONTH].access_until == NOW + timedelta(days=30)
    assert choices[Offer.LIFETIME].available
    assert choices[Offer.LIFETIME].access_until is None


# -- the services, in memory --------------------------------------------------------------------------------


@pytest.fixture
def clock(memory: Injector) -> FrozenClock:
    found = memory.get(Clock)
    assert isinstance(found, FrozenClock)
    return found


@pytest.fixture
def bus(memory: Injector) -> MemoryEventBus:
    found = memory.get(EventBus)
    assert isinstance(found, MemoryEventBus)
    return found


@pytest.fixture
def unlocks(memory: Injector) -> UnlockService:
    return memory.get(UnlockService)


async def published(memory: Injector, **pricing: int | None) -> tuple[Principal, Video]:
    creator = await person(memory, "Creator", creator=True)
    video = (await add_synthetic_video(memory, creator.id)).video
    video = await price_and_publish(memory, creator.id, video, **pricing)  # type: ignore[arg-type]
    return creator, video


async def test_one_click_moves_the_price_less_the_fee_and_grants_a_day(
    memory: Injector, unlocks: UnlockService, bus: MemoryEventBus, clock: FrozenClock
) -> None:
    creator, video = await published(memory, rent_day=50)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 120)
    outcome = await unlocks.unlock(viewer.id, video.public_id, "rent_day", KEY, "50")
    assert not outcome.result.replayed
    assert outcome.result.entitlement.expires_at == clock.now() + timedelta(hours=24)
    assert outcome.panel.access.level is AccessLevel.ENTITLED
    assert await balances(memory, viewer.id, creator.id) == (70, 45, 5)
    sale = [e for e in bus.events if e.name == "sale"]
    assert len(sale) == 1
    assert sale[0].topic == f"user:{creator.id}"
    assert sale[0].data == {
        "video_id": str(video.id),
        "title": video.title,
        "offer": "rent_day",
        "points": 50,
        "net": 45,
    }


async def test_a_second_click_does_not_charge_twice(memory: Injector, unlocks: UnlockService) -> None:
    creator, video = await published(memory, rent_day=50)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 200)
    pid = video.public_id
    first, *others = await asyncio.gather(*(unlocks.unlock(viewer.id, pid, "rent_day", KEY, "50") for _ in range(5)))
    assert [o.result.unlock.id for o in others] == [first.result.unlock.id] * 4
    assert sum(not o.result.replayed for o in [first, *others]) == 1
    assert await balances(memory, viewer.id, creator.id) == (150, 45, 5)


async def test_too_few_points_debits_nothing_and_grants_nothing(memory: Injector, unlocks: UnlockService) -> None:
    creator, video = await published(memory, rent_day=50)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 49)
    with pytest.raises(PaymentRequired):
        await unlocks.unlock(viewer.id, video.public_id, "rent_day", KEY, "50")
    assert await balances(memory, viewer.id, creator.id) == (49, 0, 0)
    assert await unlocks.entitlement(viewer.id, video.id) is None


async def test_a_wallet_below_zero_cannot_unlock(memory: Injector, unlocks: UnlockService) -> None:
    from features.ledger.model import AccountRef, Leg
    from features.ledger.service import LedgerService

    _, video = await published(memory, rent_day=5)
    viewer = await person(memory, "Viewer")
    ledger = memory.get(LedgerService)
    wallet = AccountRef.wallet(viewer.id)
    await ledger.transfer(
        "charged-back",
        "chargeback",
        [Leg(wallet, AccountRef.vendor_clearing(), 10)],
        allow_negative=frozenset({wallet}),
    )
    with pytest.raises(PaymentRequired):
        await unlocks.unlock(viewer.id, video.public_id, "rent_day", KEY, "5")
    assert await ledger.balance(wallet) == -10


async def test_a_longer_rental_extends_access_and_a_shorter_one_is_refused(
    memory: Injector, unlocks: UnlockService, clock: FrozenClock
) -> None:
    creator, video = await published(memory, rent_day=50, rent_month=200)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 1000)
    pid = video.public_id
    await unlocks.unlock(viewer.id, pid, "rent_day", key(1), "50")
    clock.advance(timedelta(hours=2))
    month = await unlocks.unlock(viewer.id, pid, "rent_month", key(2), "200")
    assert month.result.entitlement.expires_at == clock.now() + timedelta(days=30)
    assert month.result.entitlement.offer is Offer.RENT_MONTH
    with pytest.raises(NothingToExtend):
        await unlocks.unlock(viewer.id, pid, "rent_day", key(3), "50")
    assert await balances(memory, viewer.id, creator.id) == (750, 225, 25)


async def test_a_rental_ends_and_can_be_bought_again(
    memory: Injector, unlocks: UnlockService, clock: FrozenClock
) -> None:
    _, video = await published(memory, rent_day=50)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 100)
    pid = video.public_id
    await unlocks.unlock(viewer.id, pid, "rent_day", key(1), "50")
    clock.advance(timedelta(hours=24, seconds=1))
    assert (await unlocks.panel(viewer.id, pid)).access.level is AccessLevel.LOCKED
    again = await unlocks.unlock(viewer.id, pid, "rent_day", key(2), "50")
    assert again.result.entitlement.expires_at == clock.now() + timedelta(hours=24)


async def test_a_key_used_for_one_offer_cannot_buy_another(memory: Injector, unlocks: UnlockService) -> None:
    _, video = await published(memory, rent_day=50, lifetime=500)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 1000)
    await unlocks.unlock(viewer.id, video.public_id, "rent_day", KEY, "50")
    with pytest.raises(KeyReused):
        await unlocks.unlock(viewer.id, video.public_id, "lifetime", KEY, "500")


async def test_bad_offers_and_keys_are_refused(memory: Injector, unlocks: UnlockService) -> None:
    _, video = await published(memory, rent_day=50, rent_month=None, lifetime=None)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 1000)
    pid = video.public_id
    with pytest.raises(OfferNotAvailable):
        await unlocks.unlock(viewer.id, pid, "lifetime", KEY, "500")
    with pytest.raises(OfferNotAvailable):
        await unlocks.unlock(viewer.id, pid, "forever", KEY, "50")
    with pytest.raises(InvalidKey):
        await unlocks.unlock(viewer.id, pid, "rent_day", "short", "50")


async def test_the_owner_always_watches_and_never_buys(memory: Injector, unlocks: UnlockService) -> None:
    creator, video = await published(memory, rent_day=50)
    panel = await unlocks.panel(creator.id, video.public_id)
    assert panel.access.level is AccessLevel.OWNER
    assert panel.is_owner
    with pytest.raises(OwnVideo):
        await unlocks.unlock(creator.id, video.public_id, "rent_day", KEY, "50")


async def test_unpublished_videos_are_for_their_owner_only(memory: Injector, unlocks: UnlockService) -> None:
    creator = await person(memory, "Creator", creator=True)
    video = (await add_synthetic_video(memory, creator.id)).video
    viewer = await person(memory, "Viewer")
    assert (await unlocks.page(creator.id, video.public_id)).video.id == video.id
    for who in (viewer.id, None):
        with pytest.raises(VideoUnavailable):
            await unlocks.page(who, video.public_id)
    with pytest.raises(VideoUnavailable):
        await unlocks.page(viewer.id, "nope")


async def test_only_a_priced_ready_video_publishes(memory: Injector) -> None:
    pricing = memory.get(PricingService)
    creator = await person(memory, "Creator", creator=True)
    other = await person(memory, "Other", creator=True)
    ready = (await add_synthetic_video(memory, creator.id)).video
    with pytest.raises(NotForSale):
        await pricing.publish(creator.id, ready.public_id)
    with pytest.raises(VideoUnavailable):
        await pricing.set_prices(other.id, ready.public_id, free=True, prices={}, preview="")
    await pricing.set_prices(creator.id, ready.public_id, free=True, prices={}, preview="")
    assert (await pricing.publish(creator.id, ready.public_id)).state is VideoState.PUBLISHED
    assert (await pricing.unpublish(creator.id, ready.public_id)).state is VideoState.READY
    draft = (await add_synthetic_video(memory, creator.id, state=VideoState.CONVERTING)).video
    await pricing.set_prices(creator.id, draft.public_id, free=True, prices={}, preview="")
    with pytest.raises(IllegalVideoTransition):
        await pricing.publish(creator.id, draft.public_id)


async def test_a_tip_reaches_the_creator_in_full_and_is_told_live(memory: Injector, bus: MemoryEventBus) -> None:
    tips = memory.get(TipService)
    creator, video = await published(memory, rent_day=50)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 100)
    result = await tips.tip(viewer, video.public_id, "50", "Lovely light", KEY)
    again = await tips.tip(viewer, video.public_id, "50", "Lovely light", KEY)
    assert again.replayed
    assert again.tip.id == result.tip.id
    assert await balances(memory, viewer.id, creator.id) == (50, 50, 0)
    (event,) = [e for e in bus.events if e.name == "tip"]
    assert event.topic == f"user:{creator.id}"
    assert event.data == {
        "amount": 50,
        "from_name": "Viewer",
        "from_id": str(viewer.id),  # lets an account deletion find the tipper's name here
        "message": "Lovely light",
        "video_title": video.title,
        "video_id": str(video.id),
    }


async def test_you_cannot_tip_yourself_or_tip_without_points(memory: Injector) -> None:
    tips = memory.get(TipService)
    creator, video = await published(memory, rent_day=50)
    with pytest.raises(TipYourself):
        await tips.tip(creator, video.public_id, 10, "", KEY)
    viewer = await person(memory, "Viewer")
    with pytest.raises(PaymentRequired):
        await tips.tip(viewer, video.public_id, 10, "", KEY)
    with pytest.raises(InvalidTip):
        await tips.tip(viewer, video.public_id, 7, "", KEY)


async def test_creators_paid_by_a_viewer_include_those_tipped(memory: Injector, unlocks: UnlockService) -> None:
    tips = memory.get(TipService)
    sold, video = await published(memory, rent_day=50)
    tipped, other = await published(memory, rent_day=50)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 500)
    await unlocks.unlock(viewer.id, video.public_id, "rent_day", key(1), "50")
    await tips.tip(viewer, other.public_id, 10, "", key(2))
    assert await unlocks.creators_paid_by(viewer.id) == {sold.id, tipped.id}


@pytest.mark.parametrize(
    ("shown", "expected"),
    [
        ("50", True),
        (50, True),
        ("49", False),
        ("0050", False),
        ("+50", False),
        ("50.0", False),
        ("５０", False),
        ("", False),
        (True, False),
        (51, False),
    ],
)
def test_only_the_price_exactly_as_the_page_renders_it_counts_as_shown(shown: str | int, expected: bool) -> None:
    assert shows_price(shown, 50) is expected


async def test_a_click_is_charged_only_the_price_its_button_showed(memory: Injector, unlocks: UnlockService) -> None:
    creator, video = await published(memory, rent_day=50)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 2000)
    pid = video.public_id
    for forged in ("1", "49", "1000", "", "5e1"):
        with pytest.raises(PriceChanged) as refused:
            await unlocks.unlock(viewer.id, pid, "rent_day", key(1), forged)
        assert refused.value.price == 50
        assert "now 50 points" in refused.value.message
    prices = {Offer.RENT_DAY: "1000", Offer.RENT_MONTH: "", Offer.LIFETIME: ""}
    await memory.get(PricingService).set_prices(creator.id, pid, free=False, prices=prices, preview="")
    with pytest.raises(PriceChanged) as raised:
        await unlocks.unlock(viewer.id, pid, "rent_day", key(2), "50")  # the page still said 50
    assert raised.value.price == 1000
    assert await balances(memory, viewer.id, creator.id) == (2000, 0, 0)
    bought = await unlocks.unlock(viewer.id, pid, "rent_day", key(3), "1000")
    assert bought.result.unlock.points == 1000
    assert await balances(memory, viewer.id, creator.id) == (1000, 900, 100)
