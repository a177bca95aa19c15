"""The plain unlock click in one database call (`PostgresUnlockRepository.click`,
migrations/2600_unlock_click.sql) against the general path it short-cuts, on real PostgreSQL.

The one-call click was prepared by the service for the plain case (a first purchase, no access running,
at the shown price) and checks that case in SQL under the purchase's locks. These tests hold it to the
general path: a plain click writes the same transfer, entries (the fee to the creator's own revenue
shard), purchase, entitlement and events; every other click is left to the general path and ends as it
would have — the same refusal, the same balances."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from injector import Injector

from core.clock import FrozenClock
from core.db import Database
from core.di import get_port
from core.errors import DomainError
from core.events import EventBus
from core.ratelimit import RateLimiter
from core.settings import Settings
from core.uow import UnitOfWork
from features.accounts.service import AccountService
from features.ledger.model import AccountRef
from features.ledger.service import LedgerService
from features.studio.model import VideoState
from features.studio.service import StudioService
from features.unlocks.adapters import PostgresUnlockRepository
from features.unlocks.model import RentalClock, RentalRules
from features.unlocks.module import policy_from
from features.unlocks.ports import Click, Clicked, TipRepository
from features.unlocks.service import PricingService, UnlockService
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
KEYS = iter(f"click-key-{n:012d}" for n in range(100_000))


class CountedClicks(PostgresUnlockRepository):
    """The PostgreSQL repository, counting what its one-call clicks did."""

    def __init__(self, db: Database, bus: EventBus, limiter: RateLimiter) -> None:
        super().__init__(db, bus, limiter)
        self.clicks: list[str] = []

    async def click(self, click: Click) -> Clicked | None:
        done = await super().click(click)
        self.clicks.append("general" if done is None else done.status)
        return done


class GeneralOnly(PostgresUnlockRepository):
    """The PostgreSQL repository without the one-call click: every click takes the general path."""

    async def click(self, click: Click) -> Clicked | None:
        return None


def service(pg: Injector, settings: Settings, unlocks: PostgresUnlockRepository, **policy: Any) -> UnlockService:
    return UnlockService(
        unlocks,
        get_port(pg, TipRepository),
        pg.get(PricingService),
        pg.get(StudioService),
        pg.get(AccountService),
        pg.get(LedgerService),
        get_port(pg, EventBus),
        get_port(pg, UnitOfWork),
        FrozenClock(NOW),
        replace(policy_from(settings), **policy),
        limiter=get_port(pg, RateLimiter),
    )


def both(pg: Injector, settings: Settings, **policy: Any) -> tuple[UnlockService, CountedClicks, UnlockService]:
    db, bus = pg.get(Database), get_port(pg, EventBus)
    counted = CountedClicks(db, bus, get_port(pg, RateLimiter))
    return service(pg, settings, counted, **policy), counted, service(pg, settings, GeneralOnly(db, bus), **policy)


async def written(pg: Injector, viewer: UUID) -> dict[str, Any]:
    """Everything a purchase of `viewer` wrote, with the ids that differ between two purchases named by role."""
    db = pg.get(Database)
    unlock = await db.fetchrow("SELECT * FROM unlocks WHERE viewer_id = $1", viewer)
    assert unlock is not None
    creator, video = unlock["creator_id"], unlock["video_id"]
    names = {str(viewer): "viewer", str(creator): "creator", str(video): "video"}

    def named(value: Any) -> Any:
        return names.get(str(value), value)

    transfer = await db.fetchrow("SELECT * FROM ledger_transfers WHERE id = $1", unlock["transfer_id"])
    assert transfer is not None
    entries = await db.fetch(
        """SELECT e.leg, e.amount, a.kind, a.owner_id
           FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id
           WHERE e.transfer_id = $1 ORDER BY e.leg, e.amount""",
        unlock["transfer_id"],
    )
    shard = AccountRef.platform_revenue_for(creator).stored_owner
    entitlement = await db.fetchrow("SELECT * FROM entitlements WHERE viewer_id = $1", viewer)
    assert entitlement is not None
    events = await db.fetch(
        """SELECT topic, name, data FROM event_log
           WHERE topic = $1 OR (topic = $2 AND name = 'sale' AND data->>'video_id' = $3) ORDER BY id""",
        f"user:{viewer}",
        f"user:{creator}",
        str(video),
    )
    return {
        "transfer": (
            transfer["kind"],
            transfer["idempotency_key"].replace(str(viewer), "viewer"),
            {k: named(v) for k, v in json.loads(transfer["metadata"]).items()},
        ),
        "entries": [
            (e["leg"], e["amount"], e["kind"], "shard" if e["owner_id"] == shard else named(e["owner_id"]))
            for e in entries
        ],
        "unlock": (unlock["offer"], unlock["points"], unlock["fee"], unlock["idempotency_key"], unlock["created_at"]),
        "entitlement": {k: named(v) for k, v in dict(entitlement).items()},
        "events": [
            (
                e["topic"].replace(str(viewer), "viewer").replace(str(creator), "creator"),
                e["name"],
                named_data(e, names),
            )
            for e in events
        ],
    }


def named_data(event: Any, names: dict[str, str]) -> dict[str, Any]:
    return {k: names.get(str(v), v) for k, v in json.loads(event["data"]).items()}


@pytest.mark.parametrize(
    ("fee_percent", "offer", "clock"),
    [
        (10, "rent_day", RentalClock.UNLOCK),
        (0, "rent_month", RentalClock.UNLOCK),
        (10, "lifetime", RentalClock.UNLOCK),
        (25, "rent_day", RentalClock.FIRST_PLAY),
    ],
)
async def test_a_plain_click_in_one_call_writes_what_the_general_path_writes(
    pg: Injector, settings: Settings, fee_percent: int, offer: str, clock: RentalClock
) -> None:
    rentals = RentalRules(clock, policy_from(settings).rentals.start_window)
    fast, counted, general = both(pg, settings, fee_percent=fee_percent, rentals=rentals)
    # Several creators: each one's fee goes to the revenue shard its id picks, in SQL as in Python.
    for n in range(4):
        creator = await person(pg, f"Creator {n}", creator=True)
        prices = {"rent_day": 30 + n, "rent_month": 120 + n, "lifetime": 400 + n}
        videos = []
        for title in ('A title with "quotes" and ünïcode', 'A title with "quotes" and ünïcode'):
            made = (await add_synthetic_video(pg, creator.id, title=title)).video
            videos.append(
                await price_and_publish(
                    pg,
                    creator.id,
                    made,
                    rent_day=prices["rent_day"],
                    rent_month=prices["rent_month"],
                    lifetime=prices["lifetime"],
                )
            )
        one, other = await person(pg, f"One {n}"), await person(pg, f"Other {n}")
        await fund(pg, one.id, 1000)
        await fund(pg, other.id, 1000)
        key = next(KEYS)  # the same key for both: each viewer's own

        by_one = await fast.unlock(one.id, videos[0].public_id, offer, key, str(prices[offer]))
        by_other = await general.unlock(other.id, videos[1].public_id, offer, key, str(prices[offer]))

        assert counted.clicks[-1] == "posted"
        mine, theirs = await written(pg, one.id), await written(pg, other.id)
        assert mine == theirs
        assert by_one.result.replayed is by_other.result.replayed is False
        assert by_one.result.unlock.points == by_other.result.unlock.points == prices[offer]
        assert by_one.result.unlock.fee == by_other.result.unlock.fee == prices[offer] * fee_percent // 100
        assert (
            replace(by_one.result.entitlement, viewer_id=other.id, video_id=videos[1].id) == by_other.result.entitlement
        )
        assert by_one.panel.access.level == by_other.panel.access.level
        assert by_one.panel.video.title == videos[0].title
        ledger = pg.get(LedgerService)
        assert await ledger.balance(AccountRef.wallet(one.id)) == await ledger.balance(AccountRef.wallet(other.id))


async def _refusal(call: Any) -> str:
    try:
        outcome = await call
    except DomainError as error:
        return type(error).__name__
    return "replayed" if outcome.result.replayed else "bought"


@pytest.mark.parametrize(
    "case",
    [
        "price changed",
        "price with a leading zero",
        "offer not sold",
        "free video",
        "access running",
        "expired access",
        "same key again",
        "key used for another video",
        "not enough points",
        "own video",
        "taken down",
        "creator suspended",
        "not published",
        "no such video",
    ],
)
async def test_every_other_click_ends_as_on_the_general_path(pg: Injector, settings: Settings, case: str) -> None:
    fast, counted, general = both(pg, settings)
    outcomes, balances = [], []
    db = pg.get(Database)
    for unlocks in (fast, general):
        creator = await person(pg, "Creator", creator=True)
        viewer = await person(pg, "Viewer")
        await fund(pg, viewer.id, 10 if case == "not enough points" else 1000)
        state = VideoState.UPLOADED if case == "not published" else VideoState.READY
        video = (await add_synthetic_video(pg, creator.id, state=state)).video
        if state is VideoState.READY:
            video = await price_and_publish(pg, creator.id, video, free=case == "free video", rent_month=None)
        other = await price_and_publish(pg, creator.id, (await add_synthetic_video(pg, creator.id)).video)
        public_id, offer, shown, key, buyer = video.public_id, "rent_day", "50", next(KEYS), viewer.id
        if case == "price changed":
            shown = "45"
        elif case == "price with a leading zero":
            shown = "050"
        elif case == "offer not sold":
            offer = "rent_month"
        elif case in ("access running", "expired access"):
            await unlocks.unlock(viewer.id, public_id, "rent_day", next(KEYS), "50")
            if case == "expired access":
                await db.execute("UPDATE entitlements SET expires_at = $2 WHERE viewer_id = $1", viewer.id, NOW)
        elif case == "same key again":
            await unlocks.unlock(viewer.id, public_id, "rent_day", key, "50")
        elif case == "key used for another video":
            await unlocks.unlock(viewer.id, other.public_id, "rent_day", key, "50")
        elif case == "own video":
            buyer = creator.id
            await fund(pg, creator.id, 1000)
        elif case == "taken down":
            await db.execute("UPDATE videos SET taken_down_reason = 'spam' WHERE id = $1", video.id)
        elif case == "creator suspended":
            await db.execute("UPDATE videos SET owner_suspended = true WHERE owner_id = $1", creator.id)
        elif case == "no such video":
            public_id = "nosuchvideo1"
        before = len(counted.clicks)
        outcomes.append(await _refusal(unlocks.unlock(buyer, public_id, offer, key, shown)))
        if unlocks is fast and case not in ("price with a leading zero",):
            expected = {"not enough points": "insufficient", "expired access": "posted"}.get(case, "general")
            assert counted.clicks[before:] == [expected]
        ledger = pg.get(LedgerService)
        balances.append(
            (
                await ledger.balance(AccountRef.wallet(buyer)),
                await ledger.balance(AccountRef.earnings(creator.id)),
                await db.fetchval("SELECT count(*) FROM unlocks WHERE viewer_id = $1", buyer),
            )
        )
    assert outcomes[0] == outcomes[1]
    assert outcomes[0] != "bought" or case == "expired access"
    assert balances[0] == balances[1]


async def test_each_click_counts_once_on_the_abuse_limit_and_a_click_past_it_charges_nothing(
    pg: Injector, settings: Settings
) -> None:
    fast, counted, _ = both(pg, settings, purchases_per_minute=4)
    creator = await person(pg, "Creator", creator=True)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 1000)
    videos = [
        await price_and_publish(pg, creator.id, (await add_synthetic_video(pg, creator.id)).video) for _ in range(5)
    ]
    db = pg.get(Database)

    async def hits() -> int:
        found = await db.fetchval("SELECT hits FROM rate_limits WHERE key = $1", f"purchases:viewer:{viewer.id}")
        return int(found or 0)

    await fast.unlock(viewer.id, videos[0].public_id, "rent_day", next(KEYS), "50")  # one call
    assert (counted.clicks, await hits()) == (["posted"], 1)
    assert await _refusal(fast.unlock(viewer.id, videos[1].public_id, "rent_day", next(KEYS), "45")) == "PriceChanged"
    assert (counted.clicks[-1], await hits()) == ("general", 2)  # the general path did not count it again
    assert await _refusal(fast.unlock(viewer.id, videos[1].public_id, "rent_day", next(KEYS), "050")) == "PriceChanged"
    assert await hits() == 3  # not a plain click at all: counted by the general path
    await fast.unlock(viewer.id, videos[2].public_id, "rent_day", next(KEYS), "50")
    assert await hits() == 4
    before = await pg.get(LedgerService).balance(AccountRef.wallet(viewer.id))
    assert await _refusal(fast.unlock(viewer.id, videos[3].public_id, "rent_day", next(KEYS), "50")) == (
        "PurchasesThrottled"
    )
    assert counted.clicks[-1] == "throttled"
    assert await pg.get(LedgerService).balance(AccountRef.wallet(viewer.id)) == before == 1000 - 100
    assert await db.fetchval("SELECT count(*) FROM unlocks WHERE viewer_id = $1", viewer.id) == 2


async def test_one_key_sent_at_once_for_two_videos_buys_one_of_them(pg: Injector, settings: Settings) -> None:
    """Two tabs replaying one button's key for two videos at the same moment: the purchase locks differ,
    so both one-call clicks find the key unused; the ledger's key lets one post, and the other undoes
    itself and is decided on the general path: the key bought something else."""
    fast, _, _ = both(pg, settings)
    creator = await person(pg, "Creator", creator=True)
    videos = [
        await price_and_publish(pg, creator.id, (await add_synthetic_video(pg, creator.id)).video) for _ in range(2)
    ]
    for _ in range(5):
        viewer = await person(pg, "Viewer")
        await fund(pg, viewer.id, 1000)
        key = next(KEYS)
        outcomes = await asyncio.gather(
            *(_refusal(fast.unlock(viewer.id, video.public_id, "rent_day", key, "50")) for video in videos)
        )
        assert sorted(outcomes) == ["KeyReused", "bought"]
        assert await pg.get(LedgerService).balance(AccountRef.wallet(viewer.id)) == 950
        db = pg.get(Database)
        assert await db.fetchval("SELECT count(*) FROM unlocks WHERE viewer_id = $1", viewer.id) == 1
        hits = await db.fetchval("SELECT hits FROM rate_limits WHERE key = $1", f"purchases:viewer:{viewer.id}")
        assert hits == 2  # each click counted once, the undone one by the general path
