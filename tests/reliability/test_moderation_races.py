"""Money and moderation (or a creator closing their account) at the same instant, on real PostgreSQL: a
purchase whose click was read before a take-down, a suspension or the closure commits is either refused
or refunded by it — never charged for a video nobody can watch. The click is held at a lock another
connection holds (its purchase lock, or the viewer's wallet) while the other side acts, then let go.
The `pg` fixture verifies the ledger after each test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg
from injector import Injector

from core.db import Database
from core.identity import Principal
from features.accounts.service import AccountService
from features.memberships.service import MembershipService
from features.moderation.service import ModerationService
from features.offers.model import BundleNotOnSale
from features.offers.service import OffersService
from features.privacy.service import ErasureService
from features.studio.model import Video
from features.unlocks.model import VideoRemoved
from features.unlocks.service import UnlockService
from tests.support.videos import PASSWORD, add_synthetic_video, balances, fund, person, price_and_publish


async def staff_of(pg: Injector) -> Principal:
    stella = await person(pg, "Stella")
    return (await pg.get(AccountService).set_staff(stella.email, True)).principal()


async def rented_video(pg: Injector) -> tuple[Principal, Video]:
    creator = await person(pg, "Creator", creator=True)
    video = (await add_synthetic_video(pg, creator.id, title="Tides at dawn")).video
    return creator, await price_and_publish(pg, creator.id, video, rent_day=50)


@asynccontextmanager
async def purchase_lock_held(pg: Injector, viewer_id: UUID, video_id: UUID) -> AsyncIterator[asyncpg.Connection]:
    """Hold the (viewer, video) purchase lock (migrations/1100_unlock_purchase_lock.sql) on a connection
    of its own until the block ends."""
    pool = pg.get(Database).engine.pool
    assert pool is not None
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(5001, hashtext($1::uuid::text || '/' || $2::uuid::text))",
            viewer_id,
            video_id,
        )
        yield conn


async def until_waiting(conn: asyncpg.Connection, locks: int, done: asyncio.Task[object] | None = None) -> None:
    """Until `locks` lock requests wait in this test's database (or `done` finished)."""
    while not (done is not None and done.done()):
        await conn.execute("SELECT pg_stat_clear_snapshot()")  # `conn` is in a transaction: see new backends
        waiting = await conn.fetchval(
            """SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
               WHERE NOT l.granted AND a.datname = current_database()"""
        )
        if waiting >= locks:
            return
        await asyncio.sleep(0.01)


async def test_a_click_read_before_a_take_down_is_refused_or_refunded(pg: Injector) -> None:
    creator, video = await rented_video(pg)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 100)
    staff = await staff_of(pg)
    unlocks = pg.get(UnlockService)

    async with purchase_lock_held(pg, viewer.id, video.id) as conn:
        click = asyncio.create_task(unlocks.unlock(viewer.id, video.public_id, "rent_day", "k" * 20, "50"))
        await until_waiting(conn, 1)  # the click read the video, and waits for the purchase lock
        take_down = asyncio.create_task(pg.get(ModerationService).take_down(staff, video.id, "Stolen footage"))
        await until_waiting(conn, 2, take_down)  # the take-down committed, or it waits for the click
    outcome = await asyncio.gather(click, return_exceptions=True)
    await take_down

    assert refunded_or_refused(outcome[0]), outcome[0]
    assert (await balances(pg, viewer.id, creator.id))[:2] == (100, 0)  # refused, or bought and refunded


def refunded_or_refused(outcome: object) -> bool:
    return isinstance(outcome, (VideoRemoved, BundleNotOnSale)) or not isinstance(outcome, BaseException)


@asynccontextmanager
async def wallet_locked(pg: Injector, viewer_id: UUID) -> AsyncIterator[asyncpg.Connection]:
    """Hold the viewer's wallet row (every charge locks it) on a connection of its own until the block ends."""
    pool = pg.get(Database).engine.pool
    assert pool is not None
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT 1 FROM ledger_accounts WHERE kind = 'wallet' AND owner_id = $1 FOR UPDATE", viewer_id
        )
        yield conn


async def test_a_bundle_bought_while_a_video_in_it_is_taken_down_gets_that_videos_share_back(pg: Injector) -> None:
    creator, first = await rented_video(pg)
    second = (await add_synthetic_video(pg, creator.id, title="Part two")).video
    second = await price_and_publish(pg, creator.id, second, rent_day=50)
    offers = pg.get(OffersService)
    bundle = await offers.create_bundle(creator.id, "Both", "", "100")
    for video in (first, second):
        await offers.add_video(creator.id, bundle.public_id, video.public_id)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 100)
    staff = await staff_of(pg)

    async with wallet_locked(pg, viewer.id) as conn:
        click = asyncio.create_task(offers.buy_bundle(viewer.id, bundle.public_id, "k" * 20, "100"))
        await until_waiting(conn, 1)  # the click read the bundle's videos, and waits to debit the wallet
        take_down = asyncio.create_task(pg.get(ModerationService).take_down(staff, second.id, "Stolen footage"))
        await until_waiting(conn, 2, take_down)
    outcome = (await asyncio.gather(click, return_exceptions=True))[0]
    await take_down

    assert refunded_or_refused(outcome), outcome
    # Bought, then half refunded by the take-down that waited for it — or refused: never 100 for one video.
    assert (await balances(pg, viewer.id, creator.id))[0] in (50, 100)


async def test_a_rental_bought_while_its_creator_deletes_their_account_is_refunded(pg: Injector) -> None:
    """The deletion takes the creator's videos off the catalog before it refunds the running rentals: a
    click that read the video first is waited for, then refunded with the others."""
    creator, video = await rented_video(pg)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 100)

    async with wallet_locked(pg, viewer.id) as conn:
        click = asyncio.create_task(
            pg.get(UnlockService).unlock(viewer.id, video.public_id, "rent_day", "k" * 20, "50")
        )
        await until_waiting(conn, 1)  # the click read the video, and waits to debit the wallet
        closing = asyncio.create_task(pg.get(ErasureService).delete_account(creator.id, PASSWORD, True))
        await until_waiting(conn, 2, closing)
    await asyncio.gather(click, return_exceptions=True)
    erasure = await closing

    assert (await balances(pg, viewer.id, creator.id))[:2] == (100, 0)  # not charged, or refunded
    assert erasure.refunded_points in (0, 50)


async def test_a_membership_joined_while_its_creator_deletes_their_account_is_refunded(pg: Injector) -> None:
    """The deletion closes the creator to new members before it refunds the running memberships: a join
    that is being charged is waited for, then refunded (pro rata, as every member is) — not left charged
    for a creator who is gone."""
    creator = await person(pg, "Creator", creator=True)
    memberships = pg.get(MembershipService)
    tier = await memberships.create_tier(creator.id, name="Fans", price="120", all_videos=True, video_ids=[])
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 200)

    async with wallet_locked(pg, viewer.id) as conn:
        join = asyncio.create_task(memberships.join(viewer.id, tier.id, "j" * 20, "120"))
        await until_waiting(conn, 1)  # the join decided to charge, and waits to debit the wallet
        closing = asyncio.create_task(pg.get(ErasureService).delete_account(creator.id, PASSWORD, True))
        await until_waiting(conn, 2, closing)
    joined = (await asyncio.gather(join, return_exceptions=True))[0]
    erasure = await closing

    if isinstance(joined, BaseException):  # refused: nothing was charged
        assert (await balances(pg, viewer.id, creator.id))[0] == 200
    else:  # charged, then refunded with every other member (all but the rounding of a month's seconds)
        assert erasure.refunded_memberships == 1
        assert (await balances(pg, viewer.id, creator.id))[0] >= 199
