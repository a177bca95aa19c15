"""The storyboard's plan and thumbnails track (features/pipeline/storyboard.py), and the track a viewer
gets from it (features/playback/model.py): full, or cut to the sprites inside the free preview."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from features.pipeline.storyboard import (
    MAX_THUMBNAILS,
    Storyboard,
    interval_for,
    plan_storyboard,
    storyboard_args,
    thumbnail_size,
    thumbnails_vtt,
)
from features.playback.model import (
    is_sprite_name,
    sprites_in_window,
    thumbnail_cues,
    thumbnails_track,
)


def test_short_videos_get_a_thumbnail_every_keyframe_and_long_ones_at_most_the_cap() -> None:
    assert interval_for(5) == 2
    assert interval_for(1200) == 2  # 20 minutes: 600 thumbnails
    assert interval_for(1201) == 4
    assert interval_for(7200) == 12  # two hours: 600 thumbnails, 60 sprites
    assert interval_for(0) == 2
    assert interval_for(math.nan) == 2


@given(st.floats(min_value=0.1, max_value=12 * 3600))
def test_the_plan_never_exceeds_the_cap_and_covers_the_whole_video(duration: float) -> None:
    board = plan_storyboard(duration, 854, 480)
    assert board.interval % 2 == 0
    assert board.count <= MAX_THUMBNAILS
    assert board.count * board.interval >= duration
    assert (board.count - 1) * board.interval < duration


def test_thumbnails_keep_the_aspect_with_a_160_pixel_long_side() -> None:
    assert thumbnail_size(854, 480) == (160, 90)
    assert thumbnail_size(320, 240) == (160, 120)
    assert thumbnail_size(480, 854) == (90, 160)  # portrait
    assert thumbnail_size(1, 1) == (160, 160)


def test_the_track_lays_the_thumbnails_out_row_by_row_in_sprites_of_ten() -> None:
    board = Storyboard(interval=2, count=13, width=160, height=90)
    text = thumbnails_vtt(board, 25.0)
    assert text.startswith("WEBVTT\n\n")
    cues = re.findall(r"^(\S+) --> (\S+)\n(\S+)$", text, re.M)
    assert len(cues) == 13
    assert cues[0] == ("00:00:00.000", "00:00:02.000", "sprite_000.jpg#xywh=0,0,160,90")
    assert cues[4][2] == "sprite_000.jpg#xywh=640,0,160,90"
    assert cues[5][2] == "sprite_000.jpg#xywh=0,90,160,90"
    assert cues[9][2] == "sprite_000.jpg#xywh=640,90,160,90"
    assert cues[10] == ("00:00:20.000", "00:00:22.000", "sprite_001.jpg#xywh=0,0,160,90")
    assert cues[12] == ("00:00:24.000", "00:00:25.000", "sprite_001.jpg#xywh=320,0,160,90")  # ends with the video


def test_the_track_lists_only_the_sprites_ffmpeg_made() -> None:
    board = Storyboard(interval=2, count=13, width=160, height=90)
    text = thumbnails_vtt(board, 25.0, sprites=1)
    assert text.count("-->") == 10
    assert "sprite_001" not in text


def test_the_ffmpeg_run_decodes_only_keyframes_of_the_rendition(tmp_path: Path) -> None:
    board = Storyboard(interval=6, count=5, width=160, height=90)
    args = storyboard_args(tmp_path / "480p" / "index.m3u8", board, tmp_path / "out%dir")
    assert args[:2] == ["-skip_frame", "nokey"]
    assert args[args.index("-i") + 1] == str((tmp_path / "480p" / "index.m3u8").resolve())
    filters = args[args.index("-vf") + 1]
    assert r"select='isnan(prev_selected_t)+gte(t-prev_selected_t\,5.75)'" in filters  # one keyframe per 6 s
    assert "tile=5x2" in filters
    assert args[-1] == str((tmp_path / "out%dir").resolve()).replace("%", "%%") + "/sprite_%03d.jpg"


PUBLISHED = thumbnails_vtt(Storyboard(interval=2, count=25, width=160, height=90), 50.0)


def test_a_viewer_with_access_gets_every_cue_with_the_sprites_app_address() -> None:
    cues = thumbnail_cues(PUBLISHED)
    assert len(cues) == 25
    track = thumbnails_track(cues, "/v/abc/storyboard/", None)
    assert track.count("-->") == 25
    assert "/v/abc/storyboard/sprite_002.jpg#xywh=0,0,160,90" in track


@pytest.mark.parametrize(
    ("window", "sprites"),
    [
        (5, set()),
        (19.9, set()),
        (20, {"sprite_000.jpg"}),
        (39, {"sprite_000.jpg"}),
        (40, {"sprite_000.jpg", "sprite_001.jpg"}),
    ],
)
def test_the_preview_gets_only_sprites_wholly_inside_its_window(window: float, sprites: set[str]) -> None:
    cues = thumbnail_cues(PUBLISHED)
    assert sprites_in_window(cues, window) == sprites
    track = thumbnails_track(cues, "/x/", window)
    assert track.count("-->") == 10 * len(sprites)
    for sprite in {"sprite_000.jpg", "sprite_001.jpg", "sprite_002.jpg"} - sprites:
        assert sprite not in track


def test_cues_naming_anything_but_a_sprite_are_dropped() -> None:
    text = (
        "WEBVTT\n\n00:00:00.000 --> 00:00:02.000\n../master.m3u8#xywh=0,0,1,1\n\n"
        "00:00:02.000 --> 00:00:01.000\nsprite_000.jpg#xywh=0,0,1,1\n\n"
        "nonsense --> 00:00:01.000\nsprite_000.jpg#xywh=0,0,1,1\n\n"
        "00:00:02.000 --> 00:00:04.000\nsprite_000.jpg#xywh=160,0,160,90\n"
    )
    cues = thumbnail_cues(text)
    assert [(c.start, c.sprite, c.xywh) for c in cues] == [(2.0, "sprite_000.jpg", (160, 0, 160, 90))]


def test_sprite_names_are_never_paths() -> None:
    assert is_sprite_name("sprite_000.jpg")
    assert not is_sprite_name("../cover.jpg")
    assert not is_sprite_name("sprite_000.jpg/x")
    assert not is_sprite_name("thumbnails.vtt")
