"""The Video aggregate's life-cycle and the rules for what a creator may upload."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.errors import Conflict
from core.fsm import IllegalTransition
from core.ids import public_id, uuid7
from features.studio.model import (
    InvalidCover,
    InvalidSubtitle,
    InvalidVideoDetails,
    SourceMeta,
    Transcoded,
    Video,
    VideoLimits,
    VideoState,
    check_details,
    check_language,
    cover_type,
    subtitle_format,
)

NOW = datetime(2026, 3, 1, tzinfo=UTC)
LIMITS = VideoLimits(max_bytes=4 * 1024**3, max_duration_seconds=4 * 3600, max_width=3840, max_height=2160)
HD = SourceMeta(30.0, 1920, 1080, "h264", "aac", 5_000_000, 30.0, True, 0, "mov,mp4")
RESULT = Transcoded("bafy-master", {"master.m3u8": "bafy-master"}, ({"name": "480p"},), (), (), "bafy-cover", 29.97)


def draft() -> Video:
    return Video(uuid7(), public_id(), uuid7(), "Tides", "", VideoState.DRAFT, NOW, NOW)


def test_a_video_walks_from_draft_to_published() -> None:
    video = draft()
    video.begin_upload(NOW)
    video.accept_source("uploads/u", 10, HD, NOW)
    assert video.state is VideoState.UPLOADED
    assert video.src_meta == HD.to_dict()
    assert video.queued_at == NOW
    video.start_converting(NOW)
    video.finish_converting(RESULT, NOW)
    assert video.state is VideoState.READY
    assert video.playlist == "bafy-master"
    assert video.fallback_cover_image == "bafy-cover"
    assert video.duration == 29.97
    assert video.is_playable
    video.publish(NOW)
    assert video.state is VideoState.PUBLISHED


def test_an_illegal_transition_raises_a_conflict_and_keeps_the_state() -> None:
    video = draft()
    with pytest.raises(IllegalTransition) as raised:
        video.finish_converting(RESULT, NOW)
    assert isinstance(raised.value, Conflict)
    assert "draft" in raised.value.message
    assert video.state is VideoState.DRAFT
    assert video.playlist is None


def test_starting_to_convert_twice_is_harmless_for_a_retried_job() -> None:
    video = draft()
    video.begin_upload(NOW)
    video.accept_source("uploads/u", 10, HD, NOW)
    video.start_converting(NOW)
    video.start_converting(NOW)
    assert video.state is VideoState.CONVERTING


def test_a_failed_video_can_be_retried_and_a_rejected_one_gets_a_new_file() -> None:
    video = draft()
    video.begin_upload(NOW)
    video.accept_source("uploads/u", 10, HD, NOW)
    video.start_converting(NOW)
    video.fail("ConvertVideoTo480p: ffmpeg exited with 1", NOW)
    assert video.failure_reason is not None
    video.retry(NOW)
    assert video.state is VideoState.UPLOADED
    assert video.failure_reason is None

    other = draft()
    other.begin_upload(NOW)
    other.reject_source("This file has no video stream.", NOW)
    assert other.state is VideoState.REJECTED
    other.begin_upload(NOW)
    assert other.state is VideoState.UPLOADING
    assert other.failure_reason is None


def test_nothing_leaves_the_archive() -> None:
    video = draft()
    video.archive(NOW)
    for target in VideoState:
        assert not video.can(target)


@pytest.mark.parametrize(
    ("meta", "reason"),
    [
        (SourceMeta(0.0, 1920, 1080, "h264", None, None, None, False), "zero duration"),
        (SourceMeta(10.0, 0, 0, "", "aac", None, None, True), "no video stream"),
        (SourceMeta(5 * 3600.0, 1920, 1080, "h264", None, None, None, False), "longer than the limit of 4 hours"),
        (SourceMeta(10.0, 7680, 4320, "h264", None, None, None, False), "7680×4320"),
    ],
)
def test_sources_outside_the_limits_get_a_readable_reason(meta: SourceMeta, reason: str) -> None:
    problem = meta.problem(LIMITS)
    assert problem is not None
    assert reason in problem


def test_portrait_4k_and_silent_sources_are_accepted() -> None:
    assert SourceMeta(10.0, 2160, 3840, "hevc", None, None, 30.0, False).problem(LIMITS) is None
    assert HD.problem(LIMITS) is None


def test_titles_are_required_and_bounded() -> None:
    assert check_details("  Night   trains ", " about trains ") == ("Night trains", "about trains")
    with pytest.raises(InvalidVideoDetails) as empty:
        check_details("   ", "")
    assert "title" in empty.value.errors
    with pytest.raises(InvalidVideoDetails):
        check_details("x" * 121, "")
    assert check_details("x" * 120, "")[0] == "x" * 120


def test_subtitles_are_told_apart_by_content_not_by_name() -> None:
    assert subtitle_format(b"WEBVTT\n\n00:00.000 --> 00:01.000\nHi\n") == "vtt"
    assert subtitle_format(b"\xef\xbb\xbf1\n00:00:00,000 --> 00:00:01,000\nHi\n") == "srt"
    for bad in (b"", b"hello world", b"\xff\xfe\x00garbage", b"WEBVTTX"):
        with pytest.raises(InvalidSubtitle):
            subtitle_format(bad)
    assert check_language("pt-BR") == "pt-BR"
    with pytest.raises(InvalidSubtitle):
        check_language("../etc")


def test_covers_are_checked_by_their_magic_bytes() -> None:
    assert cover_type(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert cover_type(b"\x89PNG\r\n\x1a\nrest") == "image/png"
    with pytest.raises(InvalidCover):
        cover_type(b"GIF89a")
    with pytest.raises(InvalidCover):
        cover_type(b"\xff\xd8\xff" + b"\0" * (5 * 1024 * 1024))
