"""Rentals from first play (RENTAL_CLOCK) on real PostgreSQL, through HTTP, with a clock the test moves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import httpx
import msgspec
import pytest
from injector import Binder, Injector, InstanceProvider, Module

from core.clock import Clock, FrozenClock
from core.db import Database
from core.di import bind_port, build_injector
from core.events import EventBus
from core.identity import Principal
from core.postgres import PostgresEventBus, PostgresRateLimiter
from core.ratelimit import RateLimiter
from core.settings import Settings
from core.uow import UnitOfWork
from core.web import SESSION_COOKIE
from features.bootstrap import features_for
from features.ledger.model import AccountRef
from features.ledger.service import LedgerService
from features.unlocks.service import UnlockService
from tests.conftest import app_client
from tests.support.videos import SyntheticVideo, add_synthetic_video, fund, person, price_and_publish, session_token
from tests.support.web import csrf_token

DAY = timedelta(hours=24)


class FrozenTime(Module):
    def __init__(self, db: Database, clock: FrozenClock) -> None:
        self.db = db
        self.clock = clock

    def configure(self, binder: Binder) -> None:
        binder.bind(Database, to=InstanceProvider(self.db))
        bind_port(binder, UnitOfWork, self.db)
        bind_port(binder, Clock, self.clock)
        bind_port(binder, EventBus, PostgresEventBus(self.db))
        bind_port(binder, RateLimiter, PostgresRateLimiter(self.db, self.clock))


def world(pg: Injector, settings: Settings, clock_setting: str) -> tuple[Injector, Settings, FrozenClock]:
    chosen = msgspec.structs.replace(settings, rental_clock=clock_setting, rental_start_window_days=30)
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    return build_injector(chosen, features_for(chosen), FrozenTime(pg.get(Database), clock)), chosen, clock


@asynccontextmanager
async def browser(injector: Injector, settings: Settings, who: Principal) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(injector, settings) as client:
        client.cookies.set(SESSION_COOKIE, await session_token(injector, who))
        await csrf_token(client, "/login")
        yield client


async def rented(injector: Injector) -> tuple[Principal, Principal, SyntheticVideo]:
    creator = await person(injector, "Creator", creator=True)
    made = await add_synthetic_video(injector, creator.id)
    await price_and_publish(injector, creator.id, made.video, rent_day=50)
    viewer = await person(injector, "Viewer")
    await fund(injector, viewer.id, 100)
    return creator, viewer, made


async def test_under_the_unlock_clock_the_rental_runs_from_the_purchase(pg: Injector, settings: Settings) -> None:
    injector, chosen, clock = world(pg, settings, "unlock")
    _, viewer, made = await rented(injector)
    pid = made.video.public_id
    async with browser(injector, chosen, viewer) as client:
        assert "A rental starts when you unlock it." in (await client.get(f"/v/{pid}")).text
        await injector.get(UnlockService).unlock(viewer.id, pid, "rent_day", "unlock-key-0123456789", "50")
        clock.advance(DAY - timedelta(minutes=1))
        assert (await client.get(f"/v/{pid}/key")).status_code == 200
        clock.advance(timedelta(minutes=2))
        assert (await client.get(f"/v/{pid}/key")).status_code == 403


async def test_under_the_first_play_clock_the_first_key_starts_the_rental_once(
    pg: Injector, settings: Settings
) -> None:
    injector, chosen, clock = world(pg, settings, "first_play")
    _, viewer, made = await rented(injector)
    pid = made.video.public_id
    unlocks = injector.get(UnlockService)
    async with browser(injector, chosen, viewer) as client:
        before = (await client.get(f"/v/{pid}")).text
        assert "A rental starts when you first press play, not when you unlock: start it within 30 days." in before
        assert "24 hours from your first play" in before
        await unlocks.unlock(viewer.id, pid, "rent_day", "unlock-key-0123456789", "50")
        clock.advance(timedelta(days=10))
        page = (await client.get(f"/v/{pid}")).text
        assert "Your 24-hour rental starts when you press play; start it by" in page
        waiting = await unlocks.entitlement(viewer.id, made.video.id)
        assert waiting is not None
        assert waiting.waiting == DAY
        # Two tabs press play at once: both get the key, the rental starts once.
        first, second = await asyncio.gather(client.get(f"/v/{pid}/key"), client.get(f"/v/{pid}/key"))
        assert (first.status_code, second.status_code) == (200, 200)
        started_at = clock.now()
        clock.advance(timedelta(hours=1))
        assert (await client.get(f"/v/{pid}/key")).status_code == 200  # a later play does not restart it
        entitlement = await unlocks.entitlement(viewer.id, made.video.id)
        assert entitlement is not None
        assert entitlement.started_at == started_at
        assert entitlement.expires_at == started_at + DAY
        assert entitlement.waiting is None
        assert "Your rental has started: 23 hours left." in (await client.get(f"/v/{pid}")).text
        clock.advance(DAY - timedelta(hours=1) + timedelta(seconds=1))
        assert (await client.get(f"/v/{pid}/key")).status_code == 403
        assert "Unlock this video" in (await client.get(f"/v/{pid}")).text
    wallet = await injector.get(LedgerService).balance(AccountRef.wallet(viewer.id))
    assert wallet == 50  # charged once


async def test_a_rental_never_played_ends_at_the_start_deadline(pg: Injector, settings: Settings) -> None:
    injector, chosen, clock = world(pg, settings, "first_play")
    _, viewer, made = await rented(injector)
    pid = made.video.public_id
    await injector.get(UnlockService).unlock(viewer.id, pid, "rent_day", "unlock-key-0123456789", "50")
    clock.advance(timedelta(days=30, seconds=1))
    async with browser(injector, chosen, viewer) as client:
        assert (await client.get(f"/v/{pid}/key")).status_code == 403
        assert "Unlock this video" in (await client.get(f"/v/{pid}")).text
    entitlement = await injector.get(UnlockService).entitlement(viewer.id, made.video.id)
    assert entitlement is not None
    assert entitlement.started_at is None


async def test_buying_again_while_waiting_keeps_waiting_with_the_longer_rental(
    pg: Injector, settings: Settings
) -> None:
    injector, _, clock = world(pg, settings, "first_play")
    creator = await person(injector, "Creator", creator=True)
    made = await add_synthetic_video(injector, creator.id)
    await price_and_publish(injector, creator.id, made.video, rent_day=50, rent_month=200)
    viewer = await person(injector, "Viewer")
    await fund(injector, viewer.id, 300)
    unlocks = injector.get(UnlockService)
    pid = made.video.public_id
    await unlocks.unlock(viewer.id, pid, "rent_day", "unlock-key-0123456789", "50")
    clock.advance(timedelta(days=5))
    outcome = await unlocks.unlock(viewer.id, pid, "rent_month", "unlock-key-9876543210", "200")
    assert outcome.result.entitlement.waiting == timedelta(days=30)
    assert outcome.result.entitlement.expires_at == clock.now() + timedelta(days=30)
    started = await unlocks.start_rental(viewer.id, made.video.id)
    assert started is not None
    assert started.expires_at == clock.now() + timedelta(days=30)
    assert await unlocks.start_rental(viewer.id, made.video.id) is None


@pytest.mark.parametrize("clock_setting", ["unlock", "first_play"])
async def test_a_take_down_refunds_a_rental_not_started_as_running(
    pg: Injector, settings: Settings, clock_setting: str
) -> None:
    injector, _, clock = world(pg, settings, clock_setting)
    creator, viewer, made = await rented(injector)
    unlocks = injector.get(UnlockService)
    await unlocks.unlock(viewer.id, made.video.public_id, "rent_day", "unlock-key-0123456789", "50")
    clock.advance(timedelta(days=10))
    expected = 1 if clock_setting == "first_play" else 0
    assert len(await unlocks.running_rentals_of_creator(creator.id)) == expected  # closing would refund it
    # A refund window of 7 days: the purchase is older, but a rental that never started is still running.
    summary = await unlocks.refund_purchases(made.video, clock.now() - timedelta(days=7), "test")
    assert (summary.refunded, summary.points) == (expected, 50 * expected)
    # Refunded now: a closure of the creator's account would not refund it a second time.
    assert await unlocks.running_rentals_of_creator(creator.id) == []
