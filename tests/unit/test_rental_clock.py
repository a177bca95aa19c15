"""Rentals from first play (RENTAL_CLOCK=first_play): the rules, and the service on in-memory adapters."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import msgspec
import pytest
from injector import Injector

from core.clock import Clock, FrozenClock
from core.di import build_injector
from core.settings import Settings, SettingsError, load_settings
from features.bootstrap import features_for
from features.unlocks.model import (
    MIN_EXTENSION,
    AccessLevel,
    Entitlement,
    NothingToExtend,
    Offer,
    Pricing,
    RentalClock,
    RentalRules,
    Unlock,
    decide_access,
    extends,
    grant_after,
    offer_choices,
    period_words,
    rental_running,
    time_left_words,
)
from features.unlocks.service import UnlockService
from tests.support.videos import add_synthetic_video, balances, fund, person, price_and_publish

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FIRST_PLAY = RentalRules(RentalClock.FIRST_PLAY, timedelta(days=30))
UNLOCK = RentalRules()
DAY, MONTH = timedelta(hours=24), timedelta(days=30)


def waiting(period: timedelta, deadline: datetime) -> Entitlement:
    offer = Offer.RENT_DAY if period == DAY else Offer.RENT_MONTH
    return Entitlement(uuid4(), uuid4(), offer, deadline, NOW - timedelta(days=1), NOW - timedelta(days=1), period)


def running(offer: Offer, expires: datetime | None, started: datetime | None = None) -> Entitlement:
    return Entitlement(uuid4(), uuid4(), offer, expires, NOW, NOW, None, started)


def test_under_the_unlock_clock_a_rental_runs_from_the_purchase() -> None:
    assert grant_after(None, Offer.RENT_DAY, NOW, UNLOCK).expires_at == NOW + DAY
    assert grant_after(None, Offer.RENT_DAY, NOW, UNLOCK).waiting is None


def test_under_the_first_play_clock_a_rental_waits_within_the_window() -> None:
    grant = grant_after(None, Offer.RENT_DAY, NOW, FIRST_PLAY)
    assert (grant.expires_at, grant.waiting) == (NOW + timedelta(days=30), DAY)
    assert grant_after(None, Offer.LIFETIME, NOW, FIRST_PLAY).expires_at is None
    expired = running(Offer.RENT_DAY, NOW - timedelta(seconds=1))
    assert grant_after(expired, Offer.RENT_DAY, NOW, FIRST_PLAY).waiting == DAY


def test_a_waiting_rental_starts_once_and_then_runs_its_length() -> None:
    held = waiting(DAY, NOW + timedelta(days=10))
    assert held.waits(NOW)
    assert decide_access(uuid4(), uuid4(), Pricing(uuid4(), prices={Offer.RENT_DAY: 5}), held, NOW).full
    started = held.started(NOW + timedelta(days=3))
    assert started.expires_at == NOW + timedelta(days=3) + DAY
    assert started.waiting is None
    assert started.started_at == NOW + timedelta(days=3)
    assert started.started(NOW + timedelta(days=4)) == started  # a second play changes nothing
    late = held.started(NOW + timedelta(days=11))  # past the start deadline: nothing to start
    assert late == held
    assert not late.active(NOW + timedelta(days=11))


def test_buying_again_while_a_rental_waits_needs_a_longer_rental() -> None:
    day = waiting(DAY, NOW + timedelta(days=20))
    assert not extends(day, Offer.RENT_DAY, NOW, FIRST_PLAY)  # a later start deadline alone is not worth a price
    assert extends(day, Offer.RENT_MONTH, NOW, FIRST_PLAY)
    grant = grant_after(day, Offer.RENT_MONTH, NOW, FIRST_PLAY)
    assert (grant.expires_at, grant.waiting) == (NOW + timedelta(days=30), MONTH)
    month = waiting(MONTH, NOW + timedelta(days=20))
    assert not extends(month, Offer.RENT_DAY, NOW, FIRST_PLAY)
    assert extends(month, Offer.LIFETIME, NOW, FIRST_PLAY)
    assert grant_after(month, Offer.LIFETIME, NOW, FIRST_PLAY) == grant_after(None, Offer.LIFETIME, NOW, UNLOCK)
    # the unlock clock keeps a rental that waits (bought before RENTAL_CLOCK changed) waiting
    assert not extends(day, Offer.RENT_DAY, NOW, UNLOCK)
    assert grant_after(day, Offer.RENT_MONTH, NOW, UNLOCK).waiting == MONTH


def test_buying_while_a_started_rental_runs_extends_it_from_now() -> None:
    started = running(Offer.RENT_DAY, NOW + timedelta(hours=3), NOW - timedelta(hours=21))
    assert extends(started, Offer.RENT_DAY, NOW, FIRST_PLAY)
    assert grant_after(started, Offer.RENT_DAY, NOW, FIRST_PLAY) == grant_after(started, Offer.RENT_DAY, NOW, UNLOCK)
    assert grant_after(started, Offer.RENT_DAY, NOW, FIRST_PLAY).expires_at == NOW + DAY
    fresh = running(Offer.RENT_DAY, NOW + DAY - MIN_EXTENSION / 2, NOW)
    assert not extends(fresh, Offer.RENT_DAY, NOW, FIRST_PLAY)
    assert not extends(running(Offer.LIFETIME, None), Offer.RENT_MONTH, NOW, FIRST_PLAY)


def test_offer_buttons_say_when_the_time_starts() -> None:
    pricing = Pricing(uuid4(), prices={Offer.RENT_DAY: 5, Offer.LIFETIME: 50})
    day, life = offer_choices(pricing, None, NOW, FIRST_PLAY)
    assert day.starts_on_play
    assert day.access_until == NOW + timedelta(days=30)
    assert not life.starts_on_play
    assert life.access_until is None
    assert not offer_choices(pricing, None, NOW, UNLOCK)[0].starts_on_play


def test_the_words() -> None:
    assert period_words(DAY) == "24-hour"
    assert period_words(timedelta(hours=48)) == "2-day"
    assert period_words(MONTH) == "30-day"
    assert time_left_words(timedelta(hours=5, minutes=1)) == "6 hours left"
    assert time_left_words(timedelta(minutes=10)) == "1 hour left"
    assert time_left_words(timedelta(days=12)) == "12 days left"


def test_a_rental_not_started_counts_as_running_for_refunds() -> None:
    viewer, video = uuid4(), uuid4()
    bought = Unlock(uuid4(), "k" * 20, viewer, video, uuid4(), Offer.RENT_DAY, 50, 5, uuid4(), NOW - timedelta(days=5))
    held = waiting(DAY, NOW + timedelta(days=25))
    assert rental_running(bought, NOW, held, FIRST_PLAY)
    assert not rental_running(bought, NOW)  # the unlock clock: it ended four days ago
    started = held.started(NOW - timedelta(hours=30))
    assert not rental_running(bought, NOW, started, FIRST_PLAY)
    assert rental_running(bought, NOW, held.started(NOW - timedelta(hours=2)), FIRST_PLAY)


def test_the_settings_are_checked() -> None:
    assert load_settings({}).rental_clock == "unlock"
    assert load_settings({"RENTAL_CLOCK": "first_play", "RENTAL_START_WINDOW_DAYS": "7"}).rental_start_window_days == 7
    with pytest.raises(SettingsError, match="RENTAL_CLOCK"):
        load_settings({"RENTAL_CLOCK": "later"})
    with pytest.raises(SettingsError, match="RENTAL_START_WINDOW_DAYS"):
        load_settings({"RENTAL_START_WINDOW_DAYS": "0"})


# -- the service, in memory ------------------------------------------------------------------------------


@pytest.fixture
def first_play(memory_settings: Settings) -> Injector:
    settings = msgspec.structs.replace(memory_settings, rental_clock="first_play", rental_start_window_days=30)
    return build_injector(settings, features_for(settings), memory=True)


async def test_first_play_rental_in_memory(first_play: Injector) -> None:
    clock = first_play.get(Clock)
    assert isinstance(clock, FrozenClock)
    unlocks = first_play.get(UnlockService)
    creator = await person(first_play, "Creator", creator=True)
    video = (await add_synthetic_video(first_play, creator.id)).video
    video = await price_and_publish(first_play, creator.id, video, rent_day=50)
    viewer = await person(first_play, "Viewer")
    await fund(first_play, viewer.id, 200)
    bought = clock.now()
    outcome = await unlocks.unlock(viewer.id, video.public_id, "rent_day", "k" * 20, "50")
    assert outcome.result.entitlement.waiting == DAY
    assert outcome.panel.rental_note is not None
    assert "24-hour rental starts when you press play" in outcome.panel.rental_note
    with pytest.raises(NothingToExtend):
        await unlocks.unlock(viewer.id, video.public_id, "rent_day", "j" * 20, "50")
    clock.advance(timedelta(days=10))
    started = await asyncio.gather(*(unlocks.start_rental(viewer.id, video.id) for _ in range(3)))
    assert sum(s is not None for s in started) == 1
    entitlement = await unlocks.entitlement(viewer.id, video.id)
    assert entitlement is not None
    assert entitlement.expires_at == clock.now() + DAY
    panel = await unlocks.panel(viewer.id, video.public_id)
    assert panel.rental_note == "Your rental has started: 24 hours left."
    clock.advance(DAY)
    assert (await unlocks.panel(viewer.id, video.public_id)).access.level is AccessLevel.LOCKED
    assert await balances(first_play, viewer.id, creator.id) == (150, 45, 5)
    assert bought + timedelta(days=10) + DAY == clock.now()
