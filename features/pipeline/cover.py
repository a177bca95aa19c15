"""Choosing the fallback cover: a few candidate frames, each scored by a simple measure, the best kept.

The pipeline extracts `CANDIDATES` frames evenly spaced over the video (skipping its first and last
seconds, where fades, black and title cards are) in one ffmpeg run: each as a JPEG at the cover's
size and as a small grayscale frame (raw 8-bit luma, at most `GRAY_MAX` pixels on its long side).
`frame_score` rates the small frame: the standard deviation of its luma (contrast — a black or
faded frame has none) times the standard deviation of its Laplacian (detail — a blurred frame has
little). Pure Python: 160×90 pixels per candidate is a few milliseconds.
"""

from __future__ import annotations

import math

CANDIDATES = 7
GRAY_MAX = 160
EDGE_SECONDS = 2.0  # skipped at each end (at most 10 % of the duration each)


def candidate_times(duration: float, count: int = CANDIDATES) -> list[float]:
    """`count` instants evenly spaced inside the video, its first and last seconds left out; one
    instant (0.0) when the duration is unknown."""
    if not math.isfinite(duration) or duration <= 0:
        return [0.0]
    edge = min(EDGE_SECONDS, duration * 0.1)
    span = duration - 2 * edge
    return [round(edge + span * (index + 0.5) / count, 3) for index in range(count)]


def gray_size(width: int, height: int) -> tuple[int, int]:
    """The small grayscale frame's size: the cover's aspect, its long side `GRAY_MAX` (even sides)."""
    long_side = max(width, height, 1)
    scale = GRAY_MAX / long_side

    def side(value: int) -> int:
        return max(4, round(value * scale / 2) * 2)

    return side(width), side(height)


def _std(total: float, squares: float, count: int) -> float:
    return math.sqrt(max(0.0, squares / count - (total / count) ** 2))


def frame_score(luma: bytes, width: int, height: int) -> float:
    """How good a cover the frame would make: contrast × detail (0.0 for a frame of one colour, or a
    frame whose bytes do not match its size)."""
    if width < 3 or height < 3 or len(luma) != width * height:
        return 0.0
    rows = [luma[y * width : (y + 1) * width] for y in range(height)]
    total = float(sum(luma))
    squares = float(sum(v * v for v in luma))
    contrast = _std(total, squares, len(luma))
    lap_total = 0
    lap_squares = 0
    for up, mid, down in zip(rows, rows[1:], rows[2:], strict=False):
        for u, d, left, right, centre in zip(up[1:-1], down[1:-1], mid[:-2], mid[2:], mid[1:-1], strict=True):
            lap = u + d + left + right - 4 * centre
            lap_total += lap
            lap_squares += lap * lap
    detail = _std(lap_total, lap_squares, (width - 2) * (height - 2))
    return contrast * detail


def best_candidate(scores: list[float | None]) -> int | None:
    """The index of the best-scored candidate (the earliest among equals), None if none was made."""
    made = [(score, -index) for index, score in enumerate(scores) if score is not None]
    return -max(made)[1] if made else None
