"""Chapters: typed in the studio (strict, with a reason per line), read from a description (YouTube's
rules, all or nothing), and the WebVTT chapters track."""

from __future__ import annotations

import pytest

from features.studio.model.chapters import (
    Chapter,
    InvalidChapters,
    chapter_lines,
    chapters_from_description,
    chapters_text,
    chapters_vtt,
    check_chapters,
    format_time,
    parse_time,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("0:00", 0), ("00:00", 0), ("1:02", 62), ("12:34", 754), ("1:02:03", 3723), ("10:00:00", 36000), ("75:00", 4500)],
)
def test_times(text: str, seconds: int) -> None:
    assert parse_time(text) == seconds


@pytest.mark.parametrize("text", ["", "1", "1:2", "1:60", "1:60:00", "a:00", "1:00:00:00", "-1:00", "1.5:00"])
def test_not_times(text: str) -> None:
    assert parse_time(text) is None


def test_times_are_written_back_the_short_way() -> None:
    assert [format_time(s) for s in (0, 9, 62, 754, 3723)] == ["0:00", "0:09", "1:02", "12:34", "1:02:03"]


def test_lines_take_common_separators_and_tidy_the_title() -> None:
    lines = chapter_lines("0:00 Intro\n\n1:00 - The   middle\r\n(2:00) End part\n2:30: Extra\nNot a chapter")
    assert lines == [
        (0, "Intro", "0:00 Intro"),
        (60, "The middle", "1:00 - The   middle"),
        (120, "End part", "(2:00) End part"),
        (150, "Extra", "2:30: Extra"),
        None,
    ]


def test_studio_chapters_are_checked_line_by_line() -> None:
    assert check_chapters("", 100) == []
    assert check_chapters("0:00 A\n0:30 B", 100) == [Chapter(0, "A"), Chapter(30, "B")]
    assert check_chapters("0:05 Later start", 100) == [Chapter(5, "Later start")]  # need not start at 0:00
    problems = {
        "0:00 A\n0:00 B": "Line 2 (0:00): two chapters cannot start at the same time.",
        "0:30 A\n0:10 B": "Line 2 (0:10): list the chapters in time order.",
        "0:00 A\n1:40 B": "Line 2 (1:40): the video is only 1:40 long.",
        "0:00 A\nhello": "Line 2: start with a time such as 0:00 or 1:02:03, then a title.",
        "0:00": "Line 1: start with a time such as 0:00 or 1:02:03, then a title.",
        "0:00 " + "x" * 101: "Line 1 (0:00): keep the title to 100 characters.",
    }
    for text, message in problems.items():
        with pytest.raises(InvalidChapters) as caught:
            check_chapters(text, 100)
        assert caught.value.errors == {"chapters": message}, text
    with pytest.raises(InvalidChapters):
        check_chapters("\n".join(f"{format_time(i)} C{i}" for i in range(101)), 1000)
    with pytest.raises(InvalidChapters):
        check_chapters("0:00 x\n" * 5000, 100)


def test_unknown_duration_checks_everything_else() -> None:
    assert check_chapters("0:00 A\n9:00:00 B", None) == [Chapter(0, "A"), Chapter(32400, "B")]


def test_a_description_gives_chapters_by_youtube_rules() -> None:
    description = "My trip.\n\n0:00 Start\n0:15 Mountains\n1:00 Lake\n\nThanks for watching! Filmed 12:30 at noon."
    assert chapters_from_description(description, 120) == [
        Chapter(0, "Start"),
        Chapter(15, "Mountains"),
        Chapter(60, "Lake"),
    ]


@pytest.mark.parametrize(
    "description",
    [
        "0:00 A\n0:15 B",  # fewer than three
        "0:05 A\n0:15 B\n0:30 C",  # the first is not at 0:00
        "0:00 A\n0:05 B\n0:30 C",  # one shorter than 10 s
        "0:00 A\n0:30 B\n0:20 C",  # not ascending
        "0:00 A\n0:30 B\n1:55 C",  # the last shorter than 10 s (the video is 2:00)
        "0:00 A\n0:30 B\n3:00 C",  # past the end
        "",
    ],
)
def test_a_description_breaking_a_rule_gives_no_chapters(description: str) -> None:
    assert chapters_from_description(description, 120) == []


def test_the_chapters_track_runs_each_chapter_to_the_next_and_the_last_to_the_end() -> None:
    vtt = chapters_vtt([Chapter(0, "Intro"), Chapter(62, "Q&A <live> --> now")], 125.5)
    assert vtt == (
        "WEBVTT\n\n"
        "chapter-1\n00:00:00.000 --> 00:01:02.000\nIntro\n\n"
        "chapter-2\n00:01:02.000 --> 00:02:05.500\nQ&amp;A &lt;live&gt; → now\n"
    )
    assert chapters_vtt([], 10) == "WEBVTT\n"


def test_the_form_shows_chapters_as_lines_it_accepts_again() -> None:
    chapters = [Chapter(0, "Intro"), Chapter(3723, "End")]
    assert chapters_text(chapters) == "0:00 Intro\n1:02:03 End"
    assert check_chapters(chapters_text(chapters), 4000) == chapters
