"""Property test on real PostgreSQL (hypothesis): batches of concurrent joins (fresh and repeated click
keys), cancels, tier changes and renewal runs, with the clock moved between batches, never charge
twice and never overdraw: each wallet holds what was funded less the charges recorded, a membership
is renewed at most once per period, one membership per viewer and creator is live, and the ledger
verifies."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import msgspec
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from core.clock import FrozenClock
from core.db import Database
from core.di import build_injector
from core.errors import DomainError
from core.settings import Settings
from features.bootstrap import features_for
from features.ledger.model import AccountRef
from features.ledger.service import LedgerService
from features.memberships.model import add_month
from tests.support.memberships import service_at
from tests.support.videos import fund, person

T = TypeVar("T")

op_strategy = st.tuples(
    st.sampled_from(["join", "join", "cancel", "change", "renew"]),
    st.integers(0, 2),  # viewer
    st.integers(0, 2),  # tier
    st.integers(0, 4),  # click key: 0-3 shared (retries, double clicks), 4 a fresh one
)
plan_strategy = st.lists(
    st.tuples(st.lists(op_strategy, min_size=1, max_size=6), st.sampled_from([0, 1, 10, 29, 31, 40])),
    min_size=1,
    max_size=4,
)
funds_strategy = st.lists(st.sampled_from([30, 100, 250, 600]), min_size=3, max_size=3)


def test_concurrent_joins_cancels_changes_and_renewals_never_charge_twice(settings: Settings) -> None:
    loop = asyncio.new_event_loop()
    # Its own injector and a small pool, in this test's own event loop (hypothesis runs examples
    # synchronously); a batch's operations share its few connections.
    small = msgspec.structs.replace(settings, db_pool_min=1, db_pool_max=4)
    injector = build_injector(small, features_for(small))
    db = injector.get(Database)

    def run(coroutine: Coroutine[Any, Any, T]) -> T:
        return loop.run_until_complete(coroutine)

    counter = iter(range(1_000_000))
    seen: Counter[str] = Counter()  # the kinds of charges made over all examples: the test must exercise them

    async def example(plan: list[tuple[list[tuple[str, int, int, int]], int]], funds: list[int]) -> None:
        n = next(counter)
        clock = FrozenClock(datetime.now(UTC))
        service = service_at(injector, clock)
        creator = await person(injector, f"Creator {n}", creator=True)
        tiers = [
            await service.create_tier(creator.id, name=f"T{i}", price=str(p), all_videos=True, video_ids=[])
            for i, p in enumerate((25, 60, 90))
        ]
        viewers = [await person(injector, f"Viewer {n}-{i}") for i in range(3)]
        for viewer, points in zip(viewers, funds, strict=True):
            await fund(injector, viewer.id, points)

        async def act(kind: str, v: int, t: int, k: int) -> None:
            viewer, tier = viewers[v], tiers[t]
            key = f"prop-{n:06d}-{v}-{k:02d}-shared" if k < 4 else f"prop-{n:06d}-{next(counter):012d}"
            worker = service_at(injector, clock)
            try:
                if kind == "join":
                    await worker.join(viewer.id, tier.id, key, str(tier.price))
                elif kind == "cancel":
                    await worker.cancel(viewer.id, creator.id)
                elif kind == "change":
                    offer = await worker.offer(viewer.id, creator.id)
                    await worker.change_tier(viewer.id, tier.id, key, str(offer.upgrade_price(tier) or 0))
                else:
                    await worker.run_renewals()
            except DomainError:
                pass

        started = clock.now()
        for batch, days in plan:
            await asyncio.gather(*(act(*op) for op in batch))
            clock.advance(timedelta(days=days))

        rows = await db.fetch("SELECT * FROM membership_charges WHERE creator_id = $1", creator.id)
        seen.update(r["kind"] for r in rows)
        renewals = Counter((r["membership_id"], r["period_start"]) for r in rows if r["kind"] == "renewal")
        assert all(count == 1 for count in renewals.values())
        joins = Counter(r["membership_id"] for r in rows if r["kind"] == "join")
        assert all(count == 1 for count in joins.values())
        # never more renewals than months have passed since the first join
        months, edge = 0, started
        while edge <= clock.now():
            months += 1
            edge = add_month(edge, started.day)
        per_membership = Counter(r["membership_id"] for r in rows if r["kind"] == "renewal")
        assert all(count <= months for count in per_membership.values())
        ledger = injector.get(LedgerService)
        for viewer, points in zip(viewers, funds, strict=True):
            paid = sum(r["points"] for r in rows if r["viewer_id"] == viewer.id)
            balance = await ledger.balance(AccountRef.wallet(viewer.id))
            assert balance == points - paid
            assert balance >= 0
        live = await db.fetch(
            "SELECT viewer_id, count(*) AS n FROM memberships WHERE creator_id = $1 AND state <> 'ended' "
            "GROUP BY viewer_id",
            creator.id,
        )
        assert all(row["n"] == 1 for row in live)
        assert await ledger.verify() == []

    @hypothesis_settings(
        max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck), derandomize=True
    )
    @given(plan=plan_strategy, funds=funds_strategy)
    def check(plan: list[tuple[list[tuple[str, int, int, int]], int]], funds: list[int]) -> None:
        run(example(plan, funds))

    try:
        run(db.start())
        check()
        assert seen["join"] > 0
        assert seen["renewal"] > 0
    finally:
        run(db.stop())
        loop.close()
