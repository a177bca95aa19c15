"""Favourites and picks on in-memory adapters: one-click toggling, lists a page at a time, and the
rules that pick videos for a viewer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from injector import Injector

from core.clock import Clock, FrozenClock
from core.di import get_port
from core.ids import uuid7
from features.catalog.model import Card
from features.memberships.service import MembershipService
from features.offers.service import OffersService
from features.preferences.model import pick_creators
from features.preferences.service import VideoPreferenceService
from features.studio.model import VideoState
from features.studio.service import StudioService
from features.unlocks.model import VideoUnavailable
from features.unlocks.service import TipService
from tests.support.catalog import T0, shelve, shelve_many, watch
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish


def titles(cards: list[Card]) -> list[str]:
    return [card.video.title for card in cards]


def tick(injector: Injector, minutes: int = 1) -> None:
    clock = get_port(injector, Clock)
    assert isinstance(clock, FrozenClock)
    clock.advance(timedelta(minutes=minutes))


async def favourite_titles(prefs: VideoPreferenceService, viewer_id: object, limit: int = 50) -> list[str]:
    page = await prefs.get_favourites(viewer_id, None, limit)  # type: ignore[arg-type]
    return [entry.card.video.title for entry in page.items]


async def test_favouriting_is_one_state_asked_for_so_a_double_click_changes_nothing(memory: Injector) -> None:
    mira = await person(memory, "Mira", creator=True)
    viewer = await person(memory, "Vic")
    video = await shelve(memory, mira.id, "Harbour")
    prefs = memory.get(VideoPreferenceService)

    assert await prefs.is_favourite(viewer.id, video.public_id) is False
    assert await prefs.set_favourite(viewer.id, video.public_id, True) is True
    assert await prefs.set_favourite(viewer.id, video.public_id, True) is True
    assert await prefs.is_favourite(viewer.id, video.public_id) is True
    assert await favourite_titles(prefs, viewer.id) == ["Harbour"]

    assert await prefs.set_favourite(viewer.id, video.public_id, False) is False
    assert await prefs.set_favourite(viewer.id, video.public_id, False) is False
    assert await prefs.is_favourite(viewer.id, video.public_id) is False
    assert await favourite_titles(prefs, viewer.id) == []


async def test_another_creators_unpublished_video_cannot_be_favourited_but_ones_own_can(memory: Injector) -> None:
    mira = await person(memory, "Mira", creator=True)
    viewer = await person(memory, "Vic")
    hidden = await shelve(memory, mira.id, "Hidden", state=VideoState.READY)
    prefs = memory.get(VideoPreferenceService)
    with pytest.raises(VideoUnavailable):
        await prefs.set_favourite(viewer.id, hidden.public_id, True)
    with pytest.raises(VideoUnavailable):
        await prefs.is_favourite(viewer.id, hidden.public_id)
    assert await prefs.set_favourite(mira.id, hidden.public_id, True)
    assert await favourite_titles(prefs, mira.id) == ["Hidden"]


async def test_favourites_list_the_latest_first_and_page_without_gaps(memory: Injector) -> None:
    mira = await person(memory, "Mira", creator=True)
    viewer = await person(memory, "Vic")
    videos = await shelve_many(memory, mira.id, 5)
    prefs = memory.get(VideoPreferenceService)
    for video in (videos[2], videos[0], videos[4], videos[1], videos[3]):  # favourited in this order
        await prefs.set_favourite(viewer.id, video.public_id, True)
        tick(memory)

    first = await prefs.get_favourites(viewer.id, None, 2)
    second = await prefs.get_favourites(viewer.id, first.next, 2)
    third = await prefs.get_favourites(viewer.id, second.next, 2)
    listed = [e.card.video.title for page in (first, second, third) for e in page.items]
    assert listed == ["Film 03", "Film 01", "Film 04", "Film 00", "Film 02"]
    assert first.first
    assert not second.first
    assert third.next is None
    assert {e.card.creator_name for e in first.items} == {"Mira"}


async def test_a_full_last_page_of_favourites_has_no_next_page(memory: Injector) -> None:
    mira = await person(memory, "Mira", creator=True)
    viewer = await person(memory, "Vic")
    prefs = memory.get(VideoPreferenceService)
    for video in await shelve_many(memory, mira.id, 2):
        await prefs.set_favourite(viewer.id, video.public_id, True)
        tick(memory)
    page = await prefs.get_favourites(viewer.id, None, 2)
    assert len(page.items) == 2
    assert page.next is None


async def test_a_favourite_whose_video_was_unpublished_leaves_the_list_and_can_still_be_dropped(
    memory: Injector,
) -> None:
    mira = await person(memory, "Mira", creator=True)
    viewer = await person(memory, "Vic")
    kept, gone = await shelve_many(memory, mira.id, 2)
    prefs = memory.get(VideoPreferenceService)
    for video in (kept, gone):
        await prefs.set_favourite(viewer.id, video.public_id, True)
    await memory.get(StudioService).mark_unpublished(gone.id)
    assert await favourite_titles(prefs, viewer.id) == ["Film 00"]
    assert await prefs.set_favourite(viewer.id, gone.public_id, False) is False


async def test_a_favourite_whose_video_was_taken_down_or_whose_creator_was_suspended_leaves_the_list(
    memory: Injector,
) -> None:
    mira = await person(memory, "Mira", creator=True)
    noor = await person(memory, "Noor", creator=True)
    viewer = await person(memory, "Vic")
    kept, removed = await shelve_many(memory, mira.id, 2)
    (suspended,) = await shelve_many(memory, noor.id, 1)
    prefs = memory.get(VideoPreferenceService)
    for video in (kept, removed, suspended):
        await prefs.set_favourite(viewer.id, video.public_id, True)
    studio = memory.get(StudioService)
    await studio.take_down(removed.id, "Copyright claim")
    await studio.hide_owner(noor.id, True)
    assert await favourite_titles(prefs, viewer.id) == [kept.title]
    # The creator still sees their own taken-down favourite (their studio says why).
    await prefs.set_favourite(mira.id, removed.public_id, True)
    assert await favourite_titles(prefs, mira.id) == [removed.title]
    await studio.hide_owner(noor.id, False)
    assert sorted(await favourite_titles(prefs, viewer.id)) == sorted([kept.title, suspended.title])


def test_picks_come_from_favourited_and_paid_creators_never_the_viewer() -> None:
    me, ada, bob, cy = uuid7(), uuid7(), uuid7(), uuid7()
    assert pick_creators({ada, me}, {bob}, me) == {ada, bob}
    assert pick_creators(set(), set(), me) == set()
    assert pick_creators({cy}, {cy}, me) == {cy}


async def test_picks_are_unwatched_published_videos_of_creators_the_viewer_favourited_or_paid(
    memory: Injector,
) -> None:
    liked = await person(memory, "Liked", creator=True)
    tipped = await person(memory, "Tipped", creator=True)
    stranger = await person(memory, "Stranger", creator=True)
    viewer = await person(memory, "Vic", creator=True)
    prefs = memory.get(VideoPreferenceService)

    favourite = await shelve(memory, liked.id, "Liked 1", at=T0)
    await shelve(memory, liked.id, "Liked 2", at=T0 + timedelta(minutes=1))
    seen = await shelve(memory, liked.id, "Liked seen", at=T0 + timedelta(minutes=2))
    await shelve(memory, liked.id, "Liked draft", at=T0 + timedelta(minutes=3), state=VideoState.READY)
    tip_target = await shelve(memory, tipped.id, "Tipped 1", at=T0 + timedelta(minutes=4))
    await shelve(memory, stranger.id, "Stranger 1", at=T0 + timedelta(minutes=5))
    own = await shelve(memory, viewer.id, "My own", at=T0 + timedelta(minutes=6))

    assert (await prefs.get_picks(viewer.id)).items == []  # nobody favourited or paid yet

    await prefs.set_favourite(viewer.id, favourite.public_id, True)
    await prefs.set_favourite(viewer.id, own.public_id, True)  # one's own creator never counts
    await fund(memory, viewer.id, 100)
    await memory.get(TipService).tip(viewer, tip_target.public_id, 10, "", "tip-key-000000000001")
    await watch(memory, viewer.id, seen)

    picks = await prefs.get_picks(viewer.id)
    assert titles(picks.items) == ["Tipped 1", "Liked 2", "Liked 1"]
    assert picks.next is None


async def test_picks_page_newest_first(memory: Injector) -> None:
    liked = await person(memory, "Liked", creator=True)
    viewer = await person(memory, "Vic")
    videos = await shelve_many(memory, liked.id, 5)
    prefs = memory.get(VideoPreferenceService)
    await prefs.set_favourite(viewer.id, videos[0].public_id, True)
    first = await prefs.get_picks(viewer.id, None, 3)
    second = await prefs.get_picks(viewer.id, first.next, 3)
    assert titles(first.items) + titles(second.items) == [f"Film {i:02d}" for i in (4, 3, 2, 1, 0)]
    assert second.next is None


async def test_members_and_bundle_buyers_paid_their_creators_so_those_creators_are_picked(memory: Injector) -> None:
    """Issue 17: picks count a membership and a bundle purchase as paying, like a rental or a tip."""
    member_of = await person(memory, "Member of", creator=True)
    bundled = await person(memory, "Bundled", creator=True)
    viewer = await person(memory, "Vic")
    prefs = memory.get(VideoPreferenceService)
    memberships, offers = memory.get(MembershipService), memory.get(OffersService)
    tier = await memberships.create_tier(member_of.id, name="Fans", price="100", all_videos=True, video_ids=[])
    in_bundle = (await add_synthetic_video(memory, bundled.id, title="Course part")).video
    in_bundle = await price_and_publish(memory, bundled.id, in_bundle, lifetime=300)
    bundle = await offers.create_bundle(bundled.id, "Course", "", "250")
    await offers.add_video(bundled.id, bundle.public_id, in_bundle.public_id)
    await shelve(memory, member_of.id, "Members' film", at=T0)
    assert await prefs.creators_paid_by(viewer.id) == set()
    assert (await prefs.get_picks(viewer.id)).items == []

    await fund(memory, viewer.id, 1000)
    await memberships.join(viewer.id, tier.id, "join-key-0000000000000001", "100")
    assert await prefs.creators_paid_by(viewer.id) == {member_of.id}
    await offers.buy_bundle(viewer.id, bundle.public_id, "b" * 20, "250")
    assert await prefs.creators_paid_by(viewer.id) == {member_of.id, bundled.id}
    assert "Members' film" in titles((await prefs.get_picks(viewer.id)).items)
