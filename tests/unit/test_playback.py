"""Playback on in-memory adapters: playlists, keys, the free preview and heartbeats, for each kind of viewer."""

from __future__ import annotations

from datetime import timedelta

import pytest
from injector import Injector

from core.clock import Clock, FrozenClock
from core.di import get_port
from core.errors import TooManyRequests
from features.playback.model import (
    BeyondPreview,
    DeviceIds,
    InvalidHeartbeat,
    LoginToWatch,
    MediaNotFound,
    PlaybackLocked,
    decrypt_segment,
    media_segments,
    preview_playlist,
    preview_segments,
    preview_webvtt,
    resolve,
    variant_playlists,
)
from features.playback.service import PlaybackService
from features.studio.model import VideoState
from features.unlocks.model import VideoUnavailable
from features.unlocks.service import UnlockService
from tests.support.videos import SyntheticVideo, add_synthetic_video, fund, person, price_and_publish

KEY = "k" * 24

PLAYLIST = """#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-KEY:METHOD=AES-128,URI="/v/x/key",IV=0x000102030405060708090a0b0c0d0e0f
#EXTINF:4.000000,
seg_00000.ts
#EXT-X-KEY:METHOD=AES-128,URI="/v/x/key",IV=0x000102030405060708090a0b0c0d0e10
#EXTINF:4.000000,
seg_00001.ts
#EXT-X-KEY:METHOD=AES-128,URI="/v/x/key"
#EXTINF:2.500000,
seg_00002.ts
#EXT-X-ENDLIST
"""


def test_segments_know_their_start_and_iv() -> None:
    segments = media_segments(PLAYLIST)
    assert [(s.uri, s.start) for s in segments] == [("seg_00000.ts", 0.0), ("seg_00001.ts", 4.0), ("seg_00002.ts", 8.0)]
    assert segments[1].iv == bytes.fromhex("000102030405060708090a0b0c0d0e10")
    assert segments[2].iv == (2).to_bytes(16, "big")  # no IV attribute: the media sequence number


@pytest.mark.parametrize(("seconds", "kept"), [(1, 1), (4, 1), (5, 2), (8, 2), (9, 3), (60, 3)])
def test_the_preview_keeps_the_segments_that_start_within_it(seconds: int, kept: int) -> None:
    cut = preview_playlist(PLAYLIST, seconds)
    assert [s.uri for s in media_segments(cut)] == [f"seg_{n:05d}.ts" for n in range(kept)]
    assert "#EXT-X-KEY" not in cut
    assert cut.count("#EXT-X-ENDLIST") == 1
    assert cut.rstrip().endswith("#EXT-X-ENDLIST")
    assert cut.startswith("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:4")


def test_paths_never_leave_the_video() -> None:
    assert resolve("480p/index.m3u8", "seg_00001.ts") == "480p/seg_00001.ts"
    assert resolve("master.m3u8", "audio/index.m3u8") == "audio/index.m3u8"
    for bad in ("../../etc/passwd", "/etc/passwd", "https://evil.example/seg.ts", "a?b", ""):
        assert resolve("480p/index.m3u8", bad) is None
    assert resolve("master.m3u8", "../x.ts") is None


def test_the_master_names_every_media_playlist() -> None:
    master = (
        '#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="x",URI="audio/index.m3u8"\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO="a"\n480p/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=2\n720p/index.m3u8\n'
    )
    assert variant_playlists(master) == ["audio/index.m3u8", "480p/index.m3u8", "720p/index.m3u8"]


# -- the service --------------------------------------------------------------------------------------------


@pytest.fixture
def playback(memory: Injector) -> PlaybackService:
    return memory.get(PlaybackService)


@pytest.fixture
def clock(memory: Injector) -> FrozenClock:
    found = get_port(memory, Clock)
    assert isinstance(found, FrozenClock)
    return found


async def paid_video(memory: Injector, *, preview: int = 0, free: bool = False) -> tuple[object, SyntheticVideo]:
    creator = await person(memory, "Creator", creator=True)
    made = await add_synthetic_video(memory, creator.id)
    await price_and_publish(memory, creator.id, made.video, free=free, preview=preview)
    return creator, made


async def test_an_entitled_viewer_gets_the_key_and_every_file(memory: Injector, playback: PlaybackService) -> None:
    _, made = await paid_video(memory)
    pid = made.video.public_id
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 100)
    await memory.get(UnlockService).unlock(viewer.id, pid, "rent_day", KEY, "50")
    assert await playback.key(viewer.id, pid) == made.key.key
    master = await playback.media_file(viewer.id, pid, "master.m3u8")
    assert master.content_type == "application/vnd.apple.mpegurl"
    assert master.body == made.published["master.m3u8"]
    segment = await playback.media_file(viewer.id, pid, "480p/seg_00002.ts")
    assert (segment.content_type, segment.body) == ("video/mp2t", made.published["480p/seg_00002.ts"])
    assert segment.body != made.clear["480p/seg_00002.ts"]  # still encrypted: the player decrypts with the key
    vtt = await playback.media_file(viewer.id, pid, "subs/en.vtt")
    assert vtt.content_type.startswith("text/vtt")
    with pytest.raises(MediaNotFound):
        await playback.media_file(viewer.id, pid, "../../key.bin")


async def test_without_an_entitlement_there_is_no_key_and_no_segment(
    memory: Injector, playback: PlaybackService
) -> None:
    creator, made = await paid_video(memory)
    pid = made.video.public_id
    other = await person(memory, "Other")
    with pytest.raises(PlaybackLocked):
        await playback.key(other.id, pid)
    with pytest.raises(LoginToWatch):
        await playback.key(None, pid)
    with pytest.raises(PlaybackLocked):
        await playback.media_file(other.id, pid, "480p/seg_00000.ts")
    assert await playback.key(creator.id, pid) == made.key.key  # type: ignore[attr-defined]


async def test_keys_stop_when_the_rental_ends(memory: Injector, playback: PlaybackService, clock: FrozenClock) -> None:
    _, made = await paid_video(memory)
    viewer = await person(memory, "Viewer")
    await fund(memory, viewer.id, 100)
    await memory.get(UnlockService).unlock(viewer.id, made.video.public_id, "rent_day", KEY, "50")
    clock.advance(timedelta(hours=23, minutes=59))
    assert await playback.key(viewer.id, made.video.public_id) == made.key.key
    clock.advance(timedelta(minutes=2))
    with pytest.raises(PlaybackLocked):
        await playback.key(viewer.id, made.video.public_id)


async def test_a_free_video_plays_for_everyone(memory: Injector, playback: PlaybackService) -> None:
    _, made = await paid_video(memory, free=True)
    assert await playback.key(None, made.video.public_id) == made.key.key
    assert (await playback.media_file(None, made.video.public_id, "audio/seg_00001.ts")).body


async def test_the_preview_serves_its_segments_decrypted_and_nothing_after(
    memory: Injector, playback: PlaybackService
) -> None:
    _, made = await paid_video(memory, preview=5)
    pid = made.video.public_id
    cut = (await playback.preview_file(None, pid, "480p/index.m3u8")).body.decode()
    assert [s.uri for s in media_segments(cut)] == ["seg_00000.ts", "seg_00001.ts"]
    assert "#EXT-X-KEY" not in cut
    for path in ("480p/seg_00000.ts", "480p/seg_00001.ts", "audio/seg_00001.ts"):
        served = await playback.preview_file(None, pid, path)
        assert served.body == made.clear[path]
    for path in ("480p/seg_00002.ts", "audio/seg_00002.ts"):
        with pytest.raises(BeyondPreview):
            await playback.preview_file(None, pid, path)
    master = await playback.preview_file(None, pid, "master.m3u8")
    assert master.body == made.published["master.m3u8"]
    with pytest.raises(LoginToWatch):
        await playback.key(None, pid)  # the preview never needs the key


async def test_no_preview_means_nothing_plays_before_unlocking(memory: Injector, playback: PlaybackService) -> None:
    _, made = await paid_video(memory, preview=0)
    with pytest.raises(PlaybackLocked):
        await playback.preview_file(None, made.video.public_id, "480p/index.m3u8")


async def test_unpublished_videos_serve_nothing_to_others(memory: Injector, playback: PlaybackService) -> None:
    creator = await person(memory, "Creator", creator=True)
    made = await add_synthetic_video(memory, creator.id)
    viewer = await person(memory, "Viewer")
    with pytest.raises(VideoUnavailable):
        await playback.key(viewer.id, made.video.public_id)
    assert await playback.key(creator.id, made.video.public_id) == made.key.key
    converting = await add_synthetic_video(memory, creator.id, state=VideoState.CONVERTING)
    with pytest.raises(VideoUnavailable):
        await playback.media_file(viewer.id, converting.video.public_id, "master.m3u8")


async def test_heartbeats_are_stored_and_mark_the_video_watched(memory: Injector, playback: PlaybackService) -> None:
    _, made = await paid_video(memory, free=True)
    viewer = await person(memory, "Viewer")
    beat = await playback.heartbeat(viewer.id, made.video.public_id, "session-0001", 3.25, client="1.2.3.4")
    assert (beat.position, beat.preview, beat.video_id) == (3.25, False, made.video.id)
    assert await playback.watched_video_ids(viewer.id) == {made.video.id}
    for session, position in (("x", 1), ("session-0001", -1), ("session-0001", 10_000), ("session-0001", "nan")):
        with pytest.raises(InvalidHeartbeat):
            await playback.heartbeat(viewer.id, made.video.public_id, session, position, client="1.2.3.4")


async def test_heartbeats_are_rate_limited_per_viewer(memory: Injector, playback: PlaybackService) -> None:
    _, made = await paid_video(memory, free=True)
    viewer = await person(memory, "Viewer")
    limit = playback.policy.heartbeats_per_window
    for _ in range(limit):
        await playback.heartbeat(viewer.id, made.video.public_id, "session-0001", 1, client="a")
    with pytest.raises(TooManyRequests):
        await playback.heartbeat(viewer.id, made.video.public_id, "session-0001", 1, client="a")


async def test_a_locked_video_takes_no_heartbeats(memory: Injector, playback: PlaybackService) -> None:
    _, made = await paid_video(memory)
    viewer = await person(memory, "Viewer")
    with pytest.raises(PlaybackLocked):
        await playback.heartbeat(viewer.id, made.video.public_id, "session-0001", 1, client="a")
    assert await playback.watched_video_ids(viewer.id) == set()


def test_decrypting_with_the_wrong_key_fails() -> None:
    with pytest.raises(ValueError, match="padding"):
        decrypt_segment(b"\x00" * 32, b"\x01" * 16, b"\x02" * 16)


# -- the preview window, for every kind of track -------------------------------------------------------------

WHOLE_FILE_AUDIO = """#EXTM3U
#EXT-X-TARGETDURATION:60
#EXTINF:60.000,
all.aac
#EXT-X-ENDLIST
"""

BYTE_RANGES = """#EXTM3U
#EXT-X-TARGETDURATION:4
#EXTINF:4.000,
#EXT-X-BYTERANGE:1000@0
all.ts
#EXTINF:4.000,
#EXT-X-BYTERANGE:1000@1000
all.ts
#EXT-X-ENDLIST
"""

ONE_VTT = """#EXTM3U
#EXT-X-TARGETDURATION:60
#EXTINF:60.000,
en.vtt
#EXT-X-ENDLIST
"""


def test_a_segment_reaching_far_past_the_preview_is_not_served() -> None:
    assert preview_segments(media_segments(WHOLE_FILE_AUDIO), 5) == []
    assert media_segments(preview_playlist(WHOLE_FILE_AUDIO, 5)) == []


def test_a_file_the_playlist_also_uses_past_the_preview_is_not_served() -> None:
    assert preview_segments(media_segments(BYTE_RANGES), 3, base="480p/index.m3u8") == []


def test_a_whole_video_webvtt_segment_is_kept_and_its_duration_cut_to_the_window() -> None:
    cut = preview_playlist(ONE_VTT, 5)
    assert [(s.uri, s.duration) for s in media_segments(cut)] == [("en.vtt", 5.0)]


def test_the_preview_webvtt_keeps_only_cues_starting_inside_the_window() -> None:
    text = (
        "\ufeffWEBVTT\r\nX-TIMESTAMP-MAP=MPEGTS:126000,LOCAL:00:00:00.000\r\n\r\n"
        "STYLE\r\n::cue { color: yellow }\r\n\r\n"
        "00:01.000 --> 00:02.000\r\nearly\r\n\r\n"
        "00:00:02.500 --> 00:00:09.000 align:start\r\nkaraoke <00:00:03.000>on <00:00:07.000>late-word\r\n\r\n"
        "00:00:05.000 --> 00:00:06.000\r\nexactly-at-the-end\r\n\r\n"
        "00:00:xx --> 00:00:01.000\r\nunreadable\r\n\r\n"
        "NOTE 00:00:01.000 --> 00:00:02.000 comment\r\n\r\n"
        "1:00:00.000 --> 1:00:01.000\r\nan-hour-in\r\n"
    )
    cut = preview_webvtt(text, 5)
    assert cut == (
        "WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:126000,LOCAL:00:00:00.000\n\n"
        "STYLE\n::cue { color: yellow }\n\n"
        "00:01.000 --> 00:00:02.000\nearly\n\n"
        "00:00:02.500 --> 00:00:05.000 align:start\nkaraoke <00:00:03.000>on late-word\n"
    )


async def test_one_viewer_counts_one_view_per_window_whatever_session_ids_it_sends(
    memory: Injector, playback: PlaybackService, clock: FrozenClock
) -> None:
    _, made = await paid_video(memory, free=True)
    viewer = await person(memory, "Viewer")
    pid = made.video.public_id
    views = {(await playback.heartbeat(viewer.id, pid, f"forged-{n:04d}", 1, client="a")).session_id for n in range(10)}
    assert len(views) == 1
    visitors = {
        (await playback.heartbeat(None, pid, f"forged-{n:04d}", 1, client="9.9.9.9")).session_id for n in range(10)
    }
    assert len(visitors) == 1
    assert visitors != views
    clock.advance(timedelta(seconds=playback.policy.view_window_seconds))
    later = await playback.heartbeat(viewer.id, pid, "a-new-page-load", 1, client="a")
    assert later.session_id not in views


def test_device_ids_are_signed_by_the_server() -> None:
    devices = DeviceIds("secret")
    issued = devices.issue()
    assert devices.verify(issued) is not None
    assert DeviceIds("another secret").verify(issued) is None
    for forged in ("", "x", issued[:-1] + ("0" if issued[-1] != "0" else "1"), issued + "0", "a" * 22 + "." + "0" * 32):
        assert devices.verify(forged) is None
