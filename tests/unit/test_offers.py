"""Bundles and promo codes on in-memory adapters: the rules, and money moving once at the right price."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from injector import Injector

from core.clock import Clock, FrozenClock
from core.di import get_port
from core.events import Event
from features.accounts.service import AccountService
from features.ledger.model import AccountRef
from features.ledger.service import LedgerService
from features.memberships.model import MembershipPriceChanged
from features.memberships.service import MembershipService
from features.moderation.service import ModerationService
from features.offers.model import (
    AlreadyBought,
    BundleNotOnSale,
    BundlePriceChanged,
    CodeExpired,
    CodeForAnotherCreator,
    CodeForSomethingElse,
    CodeInUse,
    CodeNotFound,
    CodeUsedUp,
    DiscountKind,
    EmptyBundle,
    InvalidOffer,
    OwnBundle,
    PromoCode,
    TargetKind,
    UnknownCode,
    check_bundle,
    check_code,
    check_entered_code,
    normalize_code,
)
from features.offers.ports import OffersRepository
from features.offers.service import OffersLive, OffersService
from features.studio.model import Video
from features.unlocks.model import KeyReused, PriceChanged
from features.unlocks.service import UnlockService
from features.wallet.model import PackCatalog, statement_description
from tests.support.videos import add_synthetic_video, balances, fund, person, price_and_publish

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def code(kind: DiscountKind, amount: int, **changes: object) -> PromoCode:
    values: dict[str, object] = {
        "id": uuid4(),
        "creator_id": uuid4(),
        "code": "SAVE",
        "kind": kind,
        "amount": amount,
        "target_kind": TargetKind.VIDEO,
        "target_id": uuid4(),
        "max_uses": 5,
        "uses": 0,
        "expires_at": None,
        "created_at": NOW,
    }
    values.update(changes)
    return PromoCode(**values)  # type: ignore[arg-type]


# -- rules ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "amount", "price", "off"),
    [
        (DiscountKind.PERCENT, 25, 500, 125),
        (DiscountKind.PERCENT, 33, 10, 3),  # rounds down
        (DiscountKind.PERCENT, 100, 80, 79),  # never free: one point is left to pay
        (DiscountKind.POINTS, 50, 200, 50),
        (DiscountKind.POINTS, 500, 200, 199),
        (DiscountKind.POINTS, 5, 1, 0),
    ],
)
def test_a_discount_rounds_down_and_always_leaves_a_point_to_pay(
    kind: DiscountKind, amount: int, price: int, off: int
) -> None:
    assert code(kind, amount).discount_on(price) == off


def test_codes_are_case_insensitive_and_checked_in_a_clear_order() -> None:
    assert normalize_code("  spring-25 ") == "SPRING-25"
    mine = code(DiscountKind.POINTS, 10)
    creator, target = mine.creator_id, mine.target_id
    assert check_entered_code([mine], creator, TargetKind.VIDEO, target, NOW) is mine
    with pytest.raises(UnknownCode):
        check_entered_code([], creator, TargetKind.VIDEO, target, NOW)
    with pytest.raises(CodeForAnotherCreator):
        check_entered_code([mine], uuid4(), TargetKind.VIDEO, target, NOW)
    with pytest.raises(CodeForSomethingElse):
        check_entered_code([mine], creator, TargetKind.VIDEO, uuid4(), NOW)
    with pytest.raises(CodeForSomethingElse):
        check_entered_code([mine], creator, TargetKind.BUNDLE, target, NOW)
    expired = code(DiscountKind.POINTS, 10, expires_at=NOW, creator_id=creator, target_id=target)
    with pytest.raises(CodeExpired):
        check_entered_code([expired], creator, TargetKind.VIDEO, target, NOW)
    used_up = code(DiscountKind.POINTS, 10, uses=5, creator_id=creator, target_id=target)
    with pytest.raises(CodeUsedUp):
        check_entered_code([used_up], creator, TargetKind.VIDEO, target, NOW)


def test_the_code_form_says_what_is_wrong_with_each_field() -> None:
    with pytest.raises(InvalidOffer) as caught:
        check_code("a!", "half", "x", "tier:abc", "0", "2026-02-30", NOW)
    assert set(caught.value.errors) == {"code", "kind", "amount", "target", "max_uses", "expires"}
    with pytest.raises(InvalidOffer) as caught:
        check_code("OK1", "percent", "101", "video:abc", "1", "2026-02-28", NOW)
    assert set(caught.value.errors) == {"amount", "expires"}
    fields = check_code("spring", "points", "1,000", "bundle:abc", "10", "2026-03-01", NOW)
    assert fields.code == "SPRING"
    assert fields.amount == 1000
    assert fields.target_kind is TargetKind.BUNDLE
    assert fields.expires_at == datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)  # the whole last day


def test_the_bundle_form_wants_a_title_and_a_price_in_bounds() -> None:
    with pytest.raises(InvalidOffer) as caught:
        check_bundle("", "", "0")
    assert set(caught.value.errors) == {"title", "price"}
    assert check_bundle(" Course ", "", "1,200").price == 1200


# -- the service -----------------------------------------------------------------------------------------


async def published(memory: Injector, creator_id: object, title: str, lifetime: int | None) -> Video:
    made = await add_synthetic_video(memory, creator_id, title=title)  # type: ignore[arg-type]
    return await price_and_publish(memory, creator_id, made.video, lifetime=lifetime)  # type: ignore[arg-type]


async def test_buying_a_bundle_charges_once_and_grants_every_video_and_later_ones(memory: Injector) -> None:
    offers, unlocks = memory.get(OffersService), memory.get(UnlockService)
    creator = await person(memory, "Creator", creator=True)
    first = await published(memory, creator.id, "Part 1", 300)
    second = await published(memory, creator.id, "Part 2", 300)
    bundle = await offers.create_bundle(creator.id, "Course", "", "500")
    early = await person(memory, "Early")
    with pytest.raises(EmptyBundle):
        await offers.buy_bundle(early.id, bundle.public_id, "e" * 20, "500")
    await offers.add_video(creator.id, bundle.public_id, first.public_id)
    await offers.add_video(creator.id, bundle.public_id, second.public_id)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 1000)
    with pytest.raises(OwnBundle):
        await offers.buy_bundle(creator.id, bundle.public_id, "o" * 20, "500")
    with pytest.raises(BundlePriceChanged):
        await offers.buy_bundle(viewer.id, bundle.public_id, "a" * 20, "400")
    outcome = await offers.buy_bundle(viewer.id, bundle.public_id, "a" * 20, "500")
    assert outcome.granted == 2
    assert outcome.view.bought
    replay = await offers.buy_bundle(viewer.id, bundle.public_id, "a" * 20, "500")
    assert replay.replayed
    with pytest.raises(KeyReused):
        await offers.buy_bundle(viewer.id, bundle.public_id, "a" * 20, "450")
    with pytest.raises(AlreadyBought):
        await offers.buy_bundle(viewer.id, bundle.public_id, "b" * 20, "500")
    assert await balances(memory, viewer.id, creator.id) == (500, 450, 50)
    later = await published(memory, creator.id, "Part 3", None)
    assert await offers.add_video(creator.id, bundle.public_id, later.public_id) == 1
    for video in (first, second, later):
        entitlement = await unlocks.entitlement(viewer.id, video.id)
        assert entitlement is not None
        assert entitlement.lifetime
    view = await offers.bundle_view(viewer.id, bundle.public_id)
    assert view.singles_total == 600  # part 3 is not sold for life on its own
    assert view.owned_count == 3


async def test_a_code_reduces_the_unlock_and_the_ledger_says_by_how_much(memory: Injector) -> None:
    offers = memory.get(OffersService)
    creator = await person(memory, "Creator", creator=True)
    video = await published(memory, creator.id, "Harbour", 500)
    await offers.create_code(creator.id, "half", "percent", "50", f"video:{video.public_id}", "1", "")
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 1000)
    _, quote = await offers.quote_video_code(viewer.id, video.public_id, "HALF")
    assert [(c.choice.offer.value, c.price) for c in quote.choices] == [
        ("rent_day", 25),
        ("rent_month", 100),
        ("lifetime", 250),
    ]
    with pytest.raises(PriceChanged):
        await offers.unlock_with_code(viewer.id, video.public_id, "lifetime", "c" * 20, "500", "half")
    outcome = await offers.unlock_with_code(viewer.id, video.public_id, "lifetime", "c" * 20, "250", "half")
    assert outcome.result.unlock.points == 250
    statement = await memory.get(LedgerService).statement(AccountRef.wallet(viewer.id))
    metadata = statement.entries[0].metadata
    assert (metadata["list_price"], metadata["discount"], metadata["code"]) == ("500", "250", "HALF")
    other = await person(memory, "Other")
    await fund(memory, other.id, 1000)
    with pytest.raises(CodeUsedUp):
        await offers.unlock_with_code(other.id, video.public_id, "lifetime", "d" * 20, "250", "half")
    assert await balances(memory, other.id, creator.id) == (1000, 225, 25)
    lines = await offers.statement(creator.id, NOW - timedelta(days=3650), datetime.now(UTC) + timedelta(days=1))
    assert [(line.list_price, line.discount, line.points, line.net) for line in lines] == [(500, 250, 250, 225)]
    with pytest.raises(CodeInUse):
        await offers.delete_code(creator.id, quote.code.id)
    with pytest.raises(CodeNotFound):
        await offers.delete_code(other.id, quote.code.id)
    repository = get_port(memory, OffersRepository)
    used = await repository.redemptions_of_creator(creator.id, NOW, datetime.max.replace(tzinfo=UTC))
    assert [(r.viewer_id, r.discount) for r in used] == [(viewer.id, 250)]


async def test_the_dashboard_tile_answers_bundle_sales_and_discounted_sales_only(memory: Injector) -> None:
    offers, live = memory.get(OffersService), memory.get(OffersLive)
    creator = await person(memory, "Creator", creator=True)
    video = await published(memory, creator.id, "Part 1", 300)
    bundle = await offers.create_bundle(creator.id, "Course", "", "200")
    await offers.add_video(creator.id, bundle.public_id, video.public_id)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 1000)
    await offers.buy_bundle(viewer.id, bundle.public_id, "t" * 20, "200")
    [fragment] = await live.fragments(creator.id, Event(1, f"user:{creator.id}", "bundle_sale", {"points": 200}))
    assert fragment.template == "offers/_dash_tile.html"
    sales = fragment.context["sales"]
    assert (sales.bundles_sold, sales.bundle_points) == (1, 200)
    assert await live.fragments(creator.id, Event(2, f"user:{creator.id}", "sale", {"points": 50})) == []
    assert len(await live.fragments(creator.id, Event(3, f"user:{creator.id}", "sale", {"discount": 5}))) == 1


async def test_the_buyers_statement_names_the_bundle_once(memory: Injector) -> None:
    offers = memory.get(OffersService)
    creator = await person(memory, "Creator", creator=True)
    video = await published(memory, creator.id, "Part 1", 300)
    bundle = await offers.create_bundle(creator.id, "Sailing knots", "", "200")
    await offers.add_video(creator.id, bundle.public_id, video.public_id)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 500)
    await offers.buy_bundle(viewer.id, bundle.public_id, "s" * 20, "200")
    entry = (await memory.get(LedgerService).statement(AccountRef.wallet(viewer.id))).entries[0]
    assert statement_description(entry.kind, entry.metadata, PackCatalog(())) == "Bundle: Sailing knots"


async def test_a_code_reduces_a_tiers_first_month_once_and_renewals_charge_the_full_price(memory: Injector) -> None:
    offers, memberships = memory.get(OffersService), memory.get(MembershipService)
    creator = await person(memory, "Creator", creator=True)
    rival = await person(memory, "Rival", creator=True)
    video = await published(memory, creator.id, "Harbour", 500)
    tier = await memberships.create_tier(creator.id, name="Fans", price="100", all_videos=True, video_ids=[])
    rival_tier = await memberships.create_tier(rival.id, name="Theirs", price="80", all_videos=True, video_ids=[])
    with pytest.raises(InvalidOffer) as refused:  # another creator's tier
        await offers.create_code(creator.id, "steal", "percent", "50", f"tier:{rival_tier.id}", "1", "")
    assert refused.value.errors == {"target": "Choose one of your membership tiers."}
    with pytest.raises(InvalidOffer):
        await offers.create_code(creator.id, "bad", "percent", "50", "tier:not-a-uuid", "1", "")
    await offers.create_code(creator.id, "first", "percent", "40", f"tier:{tier.id}", "1", "")
    await offers.create_code(creator.id, "film", "points", "10", f"video:{video.public_id}", "5", "")
    await offers.create_code(rival.id, "rivals", "points", "10", f"tier:{rival_tier.id}", "5", "")
    viewer, other = await person(memory, "Viewer"), await person(memory, "Other")
    for someone in (viewer, other):
        await fund(memory, someone.id, 1000)
    tiers = (await memberships.offer(viewer.id, creator.id)).tiers

    code, quoted, price = await offers.quote_tier_code(viewer.id, tiers, " First ")
    assert (code.code, quoted.id, price) == ("FIRST", tier.id, 60)
    for wrong, error in (("film", CodeForSomethingElse), ("rivals", CodeForAnotherCreator), ("nope", UnknownCode)):
        with pytest.raises(error):
            await offers.quote_tier_code(viewer.id, tiers, wrong)
        with pytest.raises(error):
            await offers.join_with_code(viewer.id, tier.id, f"join-{wrong}-00000000000001", "100", wrong)
    with pytest.raises(MembershipPriceChanged):  # the button showed another price: nothing charged
        await offers.join_with_code(viewer.id, tier.id, "join-key-0000000000000001", "100", "first")
    assert await balances(memory, viewer.id, creator.id) == (1000, 0, 0)

    joined = await offers.join_with_code(viewer.id, tier.id, "join-key-0000000000000002", "60", "first")
    again = await offers.join_with_code(viewer.id, tier.id, "join-key-0000000000000002", "60", "first")
    assert again.replayed
    assert joined.membership.price == 100  # renewals: the full price
    assert await balances(memory, viewer.id, creator.id) == (940, 54, 6)
    statement = await memory.get(LedgerService).statement(AccountRef.wallet(viewer.id))
    metadata = statement.entries[0].metadata
    assert (metadata["list_price"], metadata["discount"], metadata["code"]) == ("100", "40", "FIRST")
    with pytest.raises(CodeUsedUp):  # its one use is taken
        await offers.join_with_code(other.id, tier.id, "join-key-0000000000000003", "60", "first")
    assert await balances(memory, other.id, creator.id) == (1000, 54, 6)
    repository = get_port(memory, OffersRepository)
    [used] = await repository.redemptions_of_creator(creator.id, NOW, datetime.max.replace(tzinfo=UTC))
    assert (used.target_kind, used.target_id, used.list_price, used.discount, used.points) == (
        TargetKind.TIER,
        tier.id,
        100,
        40,
        60,
    )
    await offers.create_code(creator.id, "late", "percent", "10", f"tier:{tier.id}", "5", "2026-12-31")
    clock = memory.get(Clock)  # type: ignore[type-abstract]
    assert isinstance(clock, FrozenClock)
    clock.advance(datetime(2027, 1, 1, tzinfo=UTC) - clock.now())
    with pytest.raises(CodeExpired):
        await offers.quote_tier_code(other.id, tiers, "late")

    m = joined.membership
    clock.advance(m.period_end - clock.now())
    assert (await memberships.run_renewals())["renew"] == 1
    assert await balances(memory, viewer.id, creator.id) == (840, 144, 16)  # renewed at 100


async def test_a_bundle_is_not_sold_while_moderators_keep_a_video_of_it_hidden(memory: Injector) -> None:
    """A take-down or a suspension between the bundle page and the click: the click charges nothing (the
    bundle would be paid in full for videos nobody can watch, and the take-down's refunds are already
    done); the page says why instead of a buy button. Sales resume once the creator takes the video out."""
    offers, desk = memory.get(OffersService), memory.get(ModerationService)
    stella = await person(memory, "Stella")
    staff = (await memory.get(AccountService).set_staff(stella.email, True)).principal()
    creator = await person(memory, "Creator", creator=True)
    first = await published(memory, creator.id, "Part 1", 300)
    second = await published(memory, creator.id, "Part 2", 300)
    bundle = await offers.create_bundle(creator.id, "Course", "", "500")
    await offers.add_video(creator.id, bundle.public_id, first.public_id)
    await offers.add_video(creator.id, bundle.public_id, second.public_id)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 1000)
    assert (await offers.bundle_view(viewer.id, bundle.public_id)).not_on_sale_reason is None

    await desk.take_down(staff, second.id, "Scam")
    with pytest.raises(BundleNotOnSale):
        await offers.buy_bundle(viewer.id, bundle.public_id, "a" * 20, "500")
    assert await balances(memory, viewer.id, creator.id) == (1000, 0, 0)
    assert (await offers.bundle_view(viewer.id, bundle.public_id)).not_on_sale_reason

    await offers.remove_video(creator.id, bundle.public_id, second.public_id)
    await offers.update_bundle(creator.id, bundle.public_id, "Course", "", "250")
    assert (await offers.buy_bundle(viewer.id, bundle.public_id, "b" * 20, "250")).granted == 1

    other = await person(memory, "Other", creator=True)
    video = await published(memory, other.id, "Solo", 300)
    solo = await offers.create_bundle(other.id, "Solo pack", "", "200")
    await offers.add_video(other.id, solo.public_id, video.public_id)
    await desk.suspend(staff, other.id, "Spam")
    with pytest.raises(BundleNotOnSale):
        await offers.buy_bundle(viewer.id, solo.public_id, "c" * 20, "200")
    assert await balances(memory, viewer.id, other.id) == (750, 0, 25)  # the fee of the 250 above
    assert await memory.get(LedgerService).verify() == []
