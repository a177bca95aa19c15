"""Scoring candidate frames for the fallback cover: black and blurred frames lose to sharp ones."""

from __future__ import annotations

import random

from features.pipeline.cover import best_candidate, candidate_times, frame_score, gray_size

W, H = 160, 90


def checkerboard(cell: int) -> bytes:
    return bytes(235 if (x // cell + y // cell) % 2 else 16 for y in range(H) for x in range(W))


def box_blur(frame: bytes, radius: int) -> bytes:
    out = bytearray(len(frame))
    for y in range(H):
        for x in range(W):
            ys = range(max(0, y - radius), min(H, y + radius + 1))
            xs = range(max(0, x - radius), min(W, x + radius + 1))
            out[y * W + x] = sum(frame[j * W + i] for j in ys for i in xs) // (len(ys) * len(xs))
    return bytes(out)


def test_black_and_flat_frames_score_nothing() -> None:
    assert frame_score(bytes(W * H), W, H) == 0.0
    assert frame_score(bytes([128]) * (W * H), W, H) == 0.0


def test_a_sharp_frame_beats_the_same_frame_blurred_and_a_dim_one() -> None:
    sharp = checkerboard(8)
    blurred = box_blur(sharp, 4)
    dim = bytes(v // 8 for v in sharp)
    assert frame_score(sharp, W, H) > 3 * frame_score(blurred, W, H) > 0
    assert frame_score(sharp, W, H) > 3 * frame_score(dim, W, H)


def test_a_frame_of_the_wrong_size_scores_nothing() -> None:
    noise = bytes(random.Random(1).randrange(256) for _ in range(W * H))
    assert frame_score(noise[:-1], W, H) == 0.0
    assert frame_score(noise, 2, 2) == 0.0


def test_the_best_made_candidate_wins_the_earliest_among_equals() -> None:
    assert best_candidate([1.0, None, 5.0, 5.0, 2.0]) == 2
    assert best_candidate([None, 0.0]) == 1
    assert best_candidate([None, None]) is None
    assert best_candidate([]) is None


def test_candidates_are_spread_inside_the_video_away_from_its_ends() -> None:
    times = candidate_times(60.0)
    assert len(times) == 7
    assert times == sorted(times)
    assert times[0] > 2.0
    assert times[-1] < 58.0
    short = candidate_times(2.0)
    assert short[0] >= 0.2
    assert short[-1] <= 1.8
    assert candidate_times(0.0) == [0.0]
    assert candidate_times(float("nan")) == [0.0]


def test_the_scoring_frame_keeps_the_covers_shape() -> None:
    assert gray_size(854, 480) == (160, 90)
    assert gray_size(480, 854) == (90, 160)
    assert gray_size(320, 240) == (160, 120)
