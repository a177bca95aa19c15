"""Seek previews: a storyboard of small frames in sprite images, and the WebVTT thumbnails track naming them.

One cheap ffmpeg run makes the sprites from the 480p rendition the pipeline has just written: its
keyframes fall every `KEYFRAME_SECONDS` exactly (features/pipeline/ffmpeg_args.py), so decoding only
keyframes (`-skip_frame nokey`) yields a frame every 2 s without decoding anything else, and
`select` keeps one per interval. Each kept frame is scaled to a thumbnail (`THUMB_LONG_SIDE` px
on its long side) and `tile` packs `COLUMNS` × `ROWS` of them, row by row, into one JPEG per sprite
(the last one padded). The interval grows with the duration so a video never has more than
`MAX_THUMBNAILS` thumbnails (a two-hour film: one every 12 s, 60 sprites).

The track (`storyboard/thumbnails.vtt`, published beside the sprites, so it also works from a
gateway) has one cue per thumbnail, on the video's own timeline (0 = first frame, as the player's
`currentTime`), whose text is `sprite_NNN.jpg#xywh=x,y,w,h` (the W3C media fragment the players of
YouTube, Vimeo and JW Player use). Sprites are small on purpose (10 thumbnails): the free preview
serves only sprites whose every thumbnail lies inside the preview window (features/playback).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from features.pipeline.ffmpeg_args import JPEG_PIXELS, KEYFRAME_SECONDS

STORYBOARD_DIR = "storyboard"
THUMBNAILS_VTT = "thumbnails.vtt"
SPRITE_PATTERN = "sprite_%03d.jpg"
THUMB_LONG_SIDE = 160
COLUMNS = 5
ROWS = 2
MAX_THUMBNAILS = 600
SELECT_MARGIN = 0.25  # seconds: a keyframe this early still counts as the interval's
JPEG_QUALITY = 5  # ffmpeg's -q:v for MJPEG, 2 (best) … 31


@dataclass(frozen=True)
class Storyboard:
    """The layout of a video's storyboard: one thumbnail every `interval` seconds, `count` of them,
    `width` × `height` each, `columns` × `rows` per sprite."""

    interval: int
    count: int
    width: int
    height: int
    columns: int = COLUMNS
    rows: int = ROWS

    @property
    def per_sprite(self) -> int:
        return self.columns * self.rows

    @property
    def sprites(self) -> int:
        return math.ceil(self.count / self.per_sprite)


def sprite_name(index: int) -> str:
    return SPRITE_PATTERN % index


def interval_for(duration: float) -> int:
    """Seconds between thumbnails: a multiple of the keyframe interval, at least one of them, and long
    enough that the video has at most `MAX_THUMBNAILS` thumbnails."""
    if not math.isfinite(duration) or duration <= 0:
        return KEYFRAME_SECONDS
    steps = math.ceil(duration / MAX_THUMBNAILS / KEYFRAME_SECONDS)
    return max(1, steps) * KEYFRAME_SECONDS


def thumbnail_size(width: int, height: int) -> tuple[int, int]:
    """A thumbnail of a `width` × `height` frame: the same aspect, its long side `THUMB_LONG_SIDE`, even sides."""
    long_side = max(width, height, 1)

    def side(value: int) -> int:
        return max(2, round(value * THUMB_LONG_SIDE / long_side / 2) * 2)

    return side(width), side(height)


def plan_storyboard(duration: float, width: int, height: int) -> Storyboard:
    """The storyboard of a video of `duration` seconds whose frames are `width` × `height`."""
    interval = interval_for(duration)
    count = max(1, math.ceil(duration / interval)) if math.isfinite(duration) and duration > 0 else 1
    thumb_width, thumb_height = thumbnail_size(width, height)
    return Storyboard(interval, count, thumb_width, thumb_height)


def storyboard_args(playlist: Path, board: Storyboard, into: Path) -> list[str]:
    """One ffmpeg run: the keyframes of the rendition at `playlist`, one in `interval / 2`, scaled and
    tiled into `into/sprite_000.jpg`, `sprite_001.jpg`, …"""
    # The first keyframe, then each first keyframe at least an interval (less a margin) after the last
    # one kept: the rendition has one on every 2 s mark, so the kept ones stay on the interval's marks
    # even where the encoder added a keyframe of its own (a GOP of a frame rate not dividing 2 s).
    filters = [
        rf"select='isnan(prev_selected_t)+gte(t-prev_selected_t\,{board.interval - SELECT_MARGIN:g})'",
        f"scale={board.width}:{board.height}:flags=bilinear",
        "setsar=1",
        f"tile={board.columns}x{board.rows}",
        JPEG_PIXELS,
    ]
    return [
        "-skip_frame",
        "nokey",
        "-i",
        str(playlist.resolve()),
        "-map",
        "0:v:0",
        "-an",
        "-sn",
        "-dn",
        "-map_metadata",
        "-1",
        "-vf",
        ",".join(filters),
        "-fps_mode",
        "passthrough",
        "-q:v",
        str(JPEG_QUALITY),
        "-start_number",
        "0",
        "-f",
        "image2",
        str(into.resolve()).replace("%", "%%") + "/" + SPRITE_PATTERN,
    ]


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def thumbnails_vtt(board: Storyboard, duration: float, sprites: int | None = None) -> str:
    """The WebVTT thumbnails track of `board` for a video of `duration` seconds: one cue per thumbnail,
    `sprite_NNN.jpg#xywh=x,y,w,h`, the last one ending at the end of the video. Only thumbnails in the
    first `sprites` sprites are listed (those ffmpeg made)."""
    made = board.sprites if sprites is None else min(sprites, board.sprites)
    count = min(board.count, made * board.per_sprite)
    end_of_video = duration if math.isfinite(duration) and duration > 0 else board.interval * count
    lines = ["WEBVTT", ""]
    for index in range(count):
        start = index * board.interval
        end = min((index + 1) * board.interval, end_of_video)
        if end <= start:
            break
        sprite, slot = divmod(index, board.per_sprite)
        row, column = divmod(slot, board.columns)
        x, y = column * board.width, row * board.height
        lines += [
            f"{_timestamp(start)} --> {_timestamp(end)}",
            f"{sprite_name(sprite)}#xywh={x},{y},{board.width},{board.height}",
            "",
        ]
    return "\n".join(lines)
