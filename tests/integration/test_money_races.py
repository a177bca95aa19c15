"""Money paths raced on real PostgreSQL: doubled and conflicting requests sent at once through the services
(concurrent connections), stale pages and hostile amounts. Each must charge once, at most what was shown,
and leave the ledger verified (the `pg` fixture checks it after every test)."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from injector import Injector

from core.errors import Conflict, DomainError
from features.gifts.model import GiftState
from features.gifts.service import GiftService
from features.ledger.model import AccountRef
from features.ledger.service import LedgerService
from features.memberships.model import MembershipState
from features.memberships.service import MembershipService
from features.offers.service import OffersService
from features.unlocks.service import TipService
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish


def key() -> str:
    return secrets.token_urlsafe(18)


async def wallet(pg: Injector, user_id: UUID) -> int:
    return await pg.get(LedgerService).balance(AccountRef.wallet(user_id))


async def test_two_tabs_joining_one_tier_at_once_charge_once(pg: Injector) -> None:
    memberships = pg.get(MembershipService)
    creator = await person(pg, "Creator", creator=True)
    tier = await memberships.create_tier(creator.id, name="Gold", price="300", all_videos=True, video_ids=[])
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 1000)
    same = key()
    results = await asyncio.gather(
        *(memberships.join(viewer.id, tier.id, same, "300") for _ in range(4)),
        *(memberships.join(viewer.id, tier.id, key(), "300") for _ in range(4)),
        return_exceptions=True,
    )
    joined = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(e, DomainError) for e in refused), refused
    assert len({r.membership.id for r in joined}) == 1
    assert sum(not r.replayed for r in joined) == 1
    assert await wallet(pg, viewer.id) == 700


async def test_two_tabs_upgrading_at_once_charge_one_upgrade(pg: Injector) -> None:
    memberships = pg.get(MembershipService)
    creator = await person(pg, "Creator", creator=True)
    basic = await memberships.create_tier(creator.id, name="Basic", price="100", all_videos=True, video_ids=[])
    gold = await memberships.create_tier(creator.id, name="Gold", price="400", all_videos=True, video_ids=[])
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 1000)
    await memberships.join(viewer.id, basic.id, key(), "100")
    offer = await memberships.offer(viewer.id, creator.id)
    cost = offer.upgrade_price(gold)
    assert cost is not None
    await asyncio.gather(
        *(memberships.change_tier(viewer.id, gold.id, key(), str(cost)) for _ in range(5)), return_exceptions=True
    )
    assert await wallet(pg, viewer.id) == 1000 - 100 - cost
    live = await memberships.memberships_of(viewer.id)
    assert [m.membership.tier_id for m in live] == [gold.id]
    assert live[0].membership.state is MembershipState.ACTIVE


async def test_a_tip_retried_with_one_key_and_other_amounts_at_once_tips_once(pg: Injector) -> None:
    tips = pg.get(TipService)
    creator = await person(pg, "Creator", creator=True)
    video = await price_and_publish(pg, creator.id, (await add_synthetic_video(pg, creator.id)).video)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 1000)
    same = key()
    results = await asyncio.gather(
        *(tips.tip(viewer, video.public_id, amount, "hi", same) for amount in ("10", "50", "100", "10", "50")),
        return_exceptions=True,
    )
    done = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(e, Conflict) for e in refused), refused
    assert len({r.tip.id for r in done}) == 1
    paid = done[0].tip.amount
    assert await wallet(pg, viewer.id) == 1000 - paid
    assert [t.amount for t in await tips.sent_by(viewer.id)] == [paid]


@pytest.mark.parametrize("amount", ["-10", "0", "10.0", "1e2", "١٠", "１０", "+10", "010", "99999999999999999999", ""])
async def test_a_hostile_tip_amount_changes_nothing(pg: Injector, amount: str) -> None:
    tips = pg.get(TipService)
    creator = await person(pg, "Creator", creator=True)
    video = await price_and_publish(pg, creator.id, (await add_synthetic_video(pg, creator.id)).video)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 1000)
    with pytest.raises(DomainError):
        await tips.tip(viewer, video.public_id, amount, "", key())
    assert await wallet(pg, viewer.id) == 1000


async def test_one_gift_key_sent_at_once_with_other_amounts_and_addresses_sends_once(pg: Injector) -> None:
    gifts = pg.get(GiftService)
    alice = await person(pg, "Alice")
    await fund(pg, alice.id, 1000)
    same = key()
    bob, carol = "bob@example.com", "carol@example.com"
    orders = [("30", bob), ("40", bob), ("30", carol), ("30", bob)]
    results = await asyncio.gather(
        *(gifts.send(alice, amount, email, "", same) for amount, email in orders), return_exceptions=True
    )
    done = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(e, Conflict) for e in refused), refused
    assert len({r.gift.id for r in done}) == 1
    assert await wallet(pg, alice.id) == 1000 - done[0].gift.amount


async def test_a_gift_claimed_and_returned_at_once_settles_once(pg: Injector) -> None:
    from core.clock import FrozenClock
    from core.di import get_port
    from core.events import EventBus
    from core.uow import UnitOfWork
    from features.accounts.service import AccountService
    from features.gifts.model import GiftPolicy
    from features.gifts.ports import GiftRepository
    from features.notifications.ports import EmailService

    alice = await person(pg, "Alice")
    await fund(pg, alice.id, 1000)
    bob = await person(pg, "Bob")
    gifts = pg.get(GiftService)
    for _ in range(5):
        await gifts.send(alice, "20", bob.email, "", key())
    later = GiftService(
        get_port(pg, GiftRepository),
        pg.get(AccountService),
        pg.get(LedgerService),
        get_port(pg, EmailService),
        get_port(pg, EventBus),
        get_port(pg, UnitOfWork),
        FrozenClock(datetime.now(UTC) + timedelta(days=29, hours=23, minutes=59, seconds=59)),
        GiftPolicy(),
        "http://127.0.0.1:8000",
    )
    user = await pg.get(AccountService).get_user(bob.id)
    assert user is not None
    await asyncio.gather(later.claim_for(user), later.claim_for(user), later.return_expired(), later.return_expired())
    sent = await gifts.sent_by(alice.id)
    claimed = sum(g.amount for g in sent if g.state is GiftState.CLAIMED)
    returned = sum(g.amount for g in sent if g.state is GiftState.RETURNED)
    assert claimed + returned == 100
    assert await wallet(pg, bob.id) == claimed
    assert await wallet(pg, alice.id) == 900 + returned
    assert await pg.get(LedgerService).balance(AccountRef.gifts_pending()) == 0


async def test_a_bundle_bought_while_its_price_changes_charges_what_was_shown_or_nothing(pg: Injector) -> None:
    offers = pg.get(OffersService)
    creator = await person(pg, "Creator", creator=True)
    videos = [
        await price_and_publish(pg, creator.id, (await add_synthetic_video(pg, creator.id)).video) for _ in range(2)
    ]
    bundle = await offers.create_bundle(creator.id, "Pair", "", "700")
    for video in videos:
        await offers.add_video(creator.id, bundle.public_id, video.public_id)
    viewers = []
    for _ in range(4):
        viewer = await person(pg, "Viewer")
        await fund(pg, viewer.id, 1000)
        viewers.append(viewer)
    results = await asyncio.gather(
        *(offers.buy_bundle(v.id, bundle.public_id, key(), "700") for v in viewers[:2]),
        offers.update_bundle(creator.id, bundle.public_id, "Pair", "", "900"),
        *(offers.buy_bundle(v.id, bundle.public_id, key(), "700") for v in viewers[2:]),
        return_exceptions=True,
    )
    assert all(not isinstance(r, BaseException) or isinstance(r, DomainError) for r in results), results
    for viewer in viewers:
        assert await wallet(pg, viewer.id) in (1000, 300)


async def test_a_bundle_whose_videos_were_taken_out_after_the_page_was_read_charges_nothing(pg: Injector) -> None:
    """The page showed three videos for 700 points; the creator took one out before the click. The click
    pays 700 for what the page showed or nothing: here nothing, with a message saying what changed.
    A video added meanwhile does not refuse the click (the buyer gets more than the page showed)."""
    from features.offers.model import BundleChanged

    offers = pg.get(OffersService)
    creator = await person(pg, "Creator", creator=True)
    videos = [
        await price_and_publish(pg, creator.id, (await add_synthetic_video(pg, creator.id)).video) for _ in range(4)
    ]
    bundle = await offers.create_bundle(creator.id, "Trio", "", "700")
    for video in videos[:3]:
        await offers.add_video(creator.id, bundle.public_id, video.public_id)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 1000)
    page = await offers.bundle_view(viewer.id, bundle.public_id)
    shown = [item.public_id for item in page.items]
    await offers.remove_video(creator.id, bundle.public_id, videos[0].public_id)
    with pytest.raises(BundleChanged) as refused:
        await offers.buy_bundle(viewer.id, bundle.public_id, key(), "700", shown_videos=shown)
    assert "1 video" in refused.value.message
    assert "Nothing was charged" in refused.value.message
    assert await wallet(pg, viewer.id) == 1000
    await offers.add_video(creator.id, bundle.public_id, videos[3].public_id)  # more than a fresh page shows
    fresh = [item.public_id for item in (await offers.bundle_view(viewer.id, bundle.public_id)).items][:2]
    outcome = await offers.buy_bundle(viewer.id, bundle.public_id, key(), "700", shown_videos=fresh)
    assert not outcome.replayed
    assert await wallet(pg, viewer.id) == 300


async def test_one_key_sent_at_once_for_two_different_charges_is_refused_with_the_features_own_answer(
    pg: Injector,
) -> None:
    """A click key reused at once for another charge (two tabs, a replayed form with other fields) charges
    once; the other request is refused like a sequential reuse is — the feature's KeyReused and its
    message, never the ledger's internal conflict naming its key."""
    from features.gifts.model import GiftKeyReused
    from features.memberships.model import KeyReused as MembershipKeyReused
    from features.unlocks.model import KeyReused as UnlockKeyReused
    from features.unlocks.service import UnlockService

    creator, other = await person(pg, "Creator", creator=True), await person(pg, "Other", creator=True)
    video = await price_and_publish(pg, creator.id, (await add_synthetic_video(pg, creator.id)).video)
    elsewhere = await price_and_publish(pg, other.id, (await add_synthetic_video(pg, other.id)).video)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 10_000)
    offers, memberships = pg.get(OffersService), pg.get(MembershipService)
    bundles = [await offers.create_bundle(creator.id, title, "", price) for title, price in (("A", "100"), ("B", "20"))]
    for bundle in bundles:
        await offers.add_video(creator.id, bundle.public_id, video.public_id)
    tiers = [
        await memberships.create_tier(who.id, name="Gold", price="300", all_videos=True, video_ids=[])
        for who in (creator, other)
    ]
    golds = [
        await memberships.create_tier(who.id, name="Platinum", price="900", all_videos=True, video_ids=[])
        for who in (creator, other)
    ]
    unlocks, tips, gifts = pg.get(UnlockService), pg.get(TipService), pg.get(GiftService)
    races = {
        "unlock": (
            UnlockKeyReused,
            lambda k: [
                unlocks.unlock(viewer.id, video.public_id, "rent_day", k, "50"),
                unlocks.unlock(viewer.id, elsewhere.public_id, "rent_month", k, "200"),
            ],
        ),
        "tip": (
            UnlockKeyReused,
            lambda k: [tips.tip(viewer, video.public_id, amount, "", k) for amount in ("10", "50")],
        ),
        "bundle": (
            UnlockKeyReused,
            lambda k: [offers.buy_bundle(viewer.id, b.public_id, k, str(b.price)) for b in bundles],
        ),
        "join": (MembershipKeyReused, lambda k: [memberships.join(viewer.id, t.id, k, "300") for t in tiers]),
        "gift": (
            GiftKeyReused,
            lambda k: [gifts.send(viewer, amount, "friend@example.com", "", k) for amount in ("20", "30")],
        ),
    }

    async def members_of_both() -> None:  # the join race made the viewer a member of one creator
        joined = {m.membership.creator_id for m in await memberships.memberships_of(viewer.id)}
        for tier in tiers:
            if tier.creator_id not in joined:
                await memberships.join(viewer.id, tier.id, key(), "300")

    races["upgrade"] = (
        MembershipKeyReused,
        lambda k: [memberships.change_tier(viewer.id, t.id, k, "900") for t in golds],
    )
    for name, (refusal, calls) in races.items():
        if name == "upgrade":
            await members_of_both()
        before = await wallet(pg, viewer.id)
        results = await asyncio.gather(*calls(key()), return_exceptions=True)
        done = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(done) == 1, (name, results)
        assert len(refused) == 1, (name, results)
        assert isinstance(refused[0], refusal), (name, refused[0])
        assert "idempotency" not in str(refused[0]).lower(), (name, refused[0])
        assert await wallet(pg, viewer.id) < before


async def test_a_payouts_news_applied_many_times_at_once_moves_the_ledger_once(pg: Injector) -> None:
    """The vendor's news of a payout (failed; paid then returned by the bank) read and applied by several
    webhooks and sweeps at once: each step's points move once."""
    from core.db import Database
    from features.payouts.model import PayoutState
    from features.payouts.sandbox import DEFAULT_DELAY
    from tests.integration.test_payouts_postgres import make_world

    world = make_world(pg)
    failing = await world.creator()
    await world.earn(failing, 2500)
    await world.vendor.arm_failures(1)
    failed = (await world.service.request_payout(failing, key())).payout
    paying = await world.creator()
    await world.earn(paying, 3000)
    paid = (await world.service.request_payout(paying, key())).payout
    world.clock.advance(DEFAULT_DELAY)
    await world.vendor.settle_due()
    await asyncio.gather(
        *(world.service.refresh(p.id) for p in (failed, paid) for _ in range(4)),
        world.service.sweep(),
        world.service.sweep(),
    )
    assert [p.state for p in await world.service.statement(failing)] == [PayoutState.FAILED]
    assert [p.state for p in await world.service.statement(paying)] == [PayoutState.PAID]
    assert (await world.balances(failing))[0] == 2500
    assert (await world.balances(paying))[0] == 0
    # The bank returns the paid one: read at once by webhooks and the sweep.
    returned = "UPDATE payout_sandbox_payouts SET status = 'failed' WHERE ref = $1"
    await pg.get(Database).execute(returned, paid.vendor_ref)
    world.clock.advance(timedelta(days=2))
    await asyncio.gather(*(world.service.refresh(paid.id) for _ in range(4)), world.service.sweep())
    assert [p.state for p in await world.service.statement(paying)] == [PayoutState.FAILED]
    assert (await world.balances(paying))[0] == 3000
    steps = [step for step, _ in (await world.service.payout_for(paying, paid.id)).transfers]
    assert steps == ["request", "paid", "returned"]
