"""Chapters of a video: a time and a title each, set by the creator or read from the description.

A creator sets chapters in the studio, one per line (`0:00 Intro`, `1:02:03 The end`): every time
within the video, ascending, no two alike, every title 1–`TITLE_MAX` characters, at most
`CHAPTERS_MAX` of them. A video without chapters of its own takes them from its description, by
YouTube's rules: the lines that start with a time, the first at 0:00, at least `DESCRIPTION_MIN`
of them, ascending, each at least `DESCRIPTION_MIN_LENGTH` seconds long (and inside the video);
when the description breaks a rule it gives no chapters at all. The player gets them as a WebVTT
chapters track (`chapters_vtt`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from core.errors import InvalidInput

TITLE_MAX = 100
CHAPTERS_MAX = 100
DESCRIPTION_MIN = 3
DESCRIPTION_MIN_LENGTH = 10
TEXT_MAX = 20_000

_TIME = r"(?:(\d{1,2}):)?(\d{1,3}):(\d{2})"
_TIME_ONLY = re.compile(rf"^{_TIME}$", re.ASCII)
_LINE = re.compile(rf"^\s*\(?{_TIME}\)?(?:\s+[-–—:|]?\s*|\s*[-–—:|]\s*)(\S.*?)\s*$", re.ASCII)


@dataclass(frozen=True)
class Chapter:
    """A chapter starting `at` whole seconds into the video."""

    at: int
    title: str

    @property
    def time_text(self) -> str:
        return format_time(self.at)


class InvalidChapters(InvalidInput):
    """Chapters the creator typed that break a rule; `errors` maps a field to a message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = dict(errors)


def _seconds(hours: str | None, minutes: str, seconds: str) -> int | None:
    if int(seconds) >= 60 or (hours is not None and int(minutes) >= 60):
        return None
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)


def parse_time(text: str) -> int | None:
    """`1:02:03` → 3723, `02:03` → 123 (None if it is not such a time)."""
    found = _TIME_ONLY.match(text.strip())
    return _seconds(*found.groups()) if found else None


def format_time(seconds: int) -> str:
    """3723 → `1:02:03`, 123 → `2:03`, 0 → `0:00`."""
    hours, rest = divmod(max(0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def chapter_lines(text: str) -> list[tuple[int, str, str] | None]:
    """Each non-blank line of `text` as (seconds, title, line), or None for a line that is not a chapter."""
    found: list[tuple[int, str, str] | None] = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if not line.strip():
            continue
        match = _LINE.match(line)
        seconds = _seconds(*match.groups()[:3]) if match else None
        if match is None or seconds is None:
            found.append(None)
        else:
            found.append((seconds, " ".join(match.group(4).split()), line.strip()))
    return found


def _whole(duration: float | None) -> float:
    return duration if duration is not None and math.isfinite(duration) and duration > 0 else math.inf


def check_chapters(text: str, duration: float | None) -> list[Chapter]:
    """The chapters a creator typed (one `time title` per line; blank text: none). Raises
    InvalidChapters naming the first line that breaks a rule."""
    if len(text) > TEXT_MAX:
        raise InvalidChapters({"chapters": "That is too much text for chapters."})
    chapters: list[Chapter] = []
    end = _whole(duration)
    for number, line in enumerate(chapter_lines(text), start=1):
        if line is None:
            problem = f"Line {number}: start with a time such as 0:00 or 1:02:03, then a title."
            raise InvalidChapters({"chapters": problem})
        at, title, _raw = line
        where = f"Line {number} ({format_time(at)})"
        if not title:
            raise InvalidChapters({"chapters": f"{where}: give the chapter a title."})
        if len(title) > TITLE_MAX:
            raise InvalidChapters({"chapters": f"{where}: keep the title to {TITLE_MAX} characters."})
        if at >= end:
            raise InvalidChapters({"chapters": f"{where}: the video is only {format_time(int(end))} long."})
        if chapters and at == chapters[-1].at:
            raise InvalidChapters({"chapters": f"{where}: two chapters cannot start at the same time."})
        if chapters and at < chapters[-1].at:
            raise InvalidChapters({"chapters": f"{where}: list the chapters in time order."})
        chapters.append(Chapter(at, title))
    if len(chapters) > CHAPTERS_MAX:
        raise InvalidChapters({"chapters": f"At most {CHAPTERS_MAX} chapters."})
    return chapters


def chapters_from_description(description: str, duration: float | None) -> list[Chapter]:
    """The chapters a description lists by YouTube's rules (see the module), or none."""
    found = [line for line in chapter_lines(description) if line is not None and line[1]]
    if len(found) < DESCRIPTION_MIN or found[0][0] != 0 or len(found) > CHAPTERS_MAX:
        return []
    end = _whole(duration)
    starts = [at for at, _title, _line in found]
    for here, following in zip(starts, [*starts[1:], end], strict=True):
        if following - here < DESCRIPTION_MIN_LENGTH:
            return []
    if starts[-1] >= end:
        return []
    return [Chapter(at, title[:TITLE_MAX]) for at, title, _line in found]


def chapters_text(chapters: Sequence[Chapter]) -> str:
    """The chapters as the studio form shows them, one `time title` per line."""
    return "\n".join(f"{c.time_text} {c.title}" for c in chapters)


def _vtt_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def _cue_text(title: str) -> str:
    """A title as WebVTT cue text: markup characters escaped, no line that could end the cue."""
    title = " ".join(title.replace("-->", "→").split())
    return title.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def chapters_vtt(chapters: Sequence[Chapter], duration: float | None) -> str:
    """A WebVTT chapters track: one cue per chapter, until the next one starts (the last until the end)."""
    end_of_video = _whole(duration)
    lines = ["WEBVTT", ""]
    for index, chapter in enumerate(chapters):
        following = chapters[index + 1].at if index + 1 < len(chapters) else end_of_video
        if not math.isfinite(following):
            following = chapter.at + 1
        if following <= chapter.at:
            continue
        lines += [f"chapter-{index + 1}", f"{_vtt_time(chapter.at)} --> {_vtt_time(following)}"]
        lines += [_cue_text(chapter.title), ""]
    return "\n".join(lines)
