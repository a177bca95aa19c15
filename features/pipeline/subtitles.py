"""Subtitles: SRT or WebVTT in (told apart by their content, never by file name), WebVTT out.

Pure text work, no I/O. Both formats are parsed into cues and written back as clean WebVTT with an
`X-TIMESTAMP-MAP` header tying cue time 0 to the first frame of the MPEG-TS renditions, so HLS
players (hls.js, Safari) show every cue at its moment.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from core.errors import InvalidInput


class SubtitleError(InvalidInput):
    """A subtitle file that is neither SRT nor WebVTT, or has no usable cue (`permanent`: retrying a run
    reads the same file)."""

    message = "This subtitle file is not SRT or WebVTT."
    permanent = True


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float
    text: str
    identifier: str = ""
    settings: str = ""


_TIMESTAMP = r"(?:\d+:)?\d{1,2}:\d{2}[,.]\d{1,3}"
_TIMING = re.compile(rf"^\s*({_TIMESTAMP})\s*-->\s*({_TIMESTAMP})(?:\s+(.*))?$", re.ASCII)
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")
# Tags WebVTT cue text may carry; anything else in angle brackets (SRT's <font>) is dropped.
_ALLOWED_TAG = re.compile(r"</?(?:b|i|u|c|v|lang|ruby|rt)(?:[.\s][^<>]*)?>", re.IGNORECASE)
_ANY_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_ASS_OVERRIDE = re.compile(r"\{\\[^}]*\}")  # {\an8} and friends, common in SRT from fansubs


def valid_language(language: str) -> bool:
    """A BCP 47-looking tag such as "en", "pt-BR" or "zh-Hant" (safe in file names and playlists)."""
    return bool(_LANGUAGE.match(language))


def decode_text(data: bytes) -> str:
    """Subtitle bytes as text: UTF-8 (with or without BOM) or UTF-16 with BOM, else Windows-1252."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def sniff(text: str) -> str:
    """ "webvtt" or "srt", judged from the content; raises SubtitleError for anything else."""
    body = text.lstrip("\ufeff")
    if re.match(r"WEBVTT(?:[ \t\r\n]|$)", body):
        return "webvtt"
    for line in body.splitlines():
        if line.strip():
            if _TIMING.match(line):  # SRT, also as tools write it with dots (or WebVTT without its header)
                return "srt"
            if not re.fullmatch(r"[0-9]+", line.strip()):
                break
    raise SubtitleError("This subtitle file is not SRT or WebVTT.")


def parse_timestamp(value: str) -> float:
    """ "01:02:03,456", "01:02:03.456" or "02:03.456" → seconds."""
    clock, _, fraction = value.replace(",", ".").partition(".")
    parts = [int(p) for p in clock.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    hours, minutes, seconds = parts
    if minutes > 59 or seconds > 59:
        raise SubtitleError(f"Bad timestamp in subtitles: {value!r}.")
    return hours * 3600 + minutes * 60 + seconds + int(fraction.ljust(3, "0")[:3]) / 1000


def format_timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def parse_cues(text: str) -> list[Cue]:
    """Cues of an SRT or WebVTT document (WebVTT NOTE, STYLE and REGION blocks are skipped)."""
    kind = sniff(text)
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if kind == "webvtt":
        lines = lines[1:]  # the WEBVTT line; header lines up to the first blank are skipped below
    blocks: list[list[str]] = [[]]
    for line in lines:
        if line.strip():
            blocks[-1].append(line.rstrip())
        elif blocks[-1]:
            blocks.append([])
    cues: list[Cue] = []
    for block in blocks:
        timing_at = next((i for i, line in enumerate(block) if _TIMING.match(line)), None)
        if timing_at is None or timing_at > 1:
            continue  # a header, NOTE, STYLE or REGION block, or a stray line
        match = _TIMING.match(block[timing_at])
        assert match is not None
        start, end = parse_timestamp(match.group(1)), parse_timestamp(match.group(2))
        if end <= start:
            continue
        identifier = block[0].strip() if timing_at == 1 else ""
        settings = (match.group(3) or "").strip() if kind == "webvtt" else ""
        body = "\n".join(block[timing_at + 1 :])
        cue_text = _clean_text(body, from_srt=kind == "srt")
        if cue_text:
            cues.append(Cue(start, end, cue_text, "" if "-->" in identifier else identifier, settings))
    if not cues:
        raise SubtitleError("This subtitle file has no cues.")
    return sorted(cues, key=lambda cue: (cue.start, cue.end))


def _clean_text(body: str, *, from_srt: bool) -> str:
    if from_srt:
        body = _ASS_OVERRIDE.sub("", body)
        body = body.replace("&", "&amp;")
        kept: list[str] = []
        last = 0
        for tag in _ANY_TAG.finditer(body):
            kept.append(_escape_angles(body[last : tag.start()]))
            if _ALLOWED_TAG.fullmatch(tag.group(0)):
                kept.append(_lower_tag_name(tag.group(0)))
            last = tag.end()
        kept.append(_escape_angles(body[last:]))
        body = "".join(kept)
    body = body.replace("-->", "--&gt;")
    return "\n".join(line.strip() for line in body.split("\n") if line.strip())


def _lower_tag_name(tag: str) -> str:
    """`<I>` → `<i>`: WebVTT tag names are case-sensitive, SRT's are not; annotations are kept."""
    name = re.match(r"</?([A-Za-z]+)", tag)
    assert name is not None
    return tag[: name.start(1)] + name.group(1).lower() + tag[name.end(1) :]


def _escape_angles(text: str) -> str:
    return text.replace("<", "&lt;").replace(">", "&gt;")


def to_webvtt(text: str, *, mpegts_origin: int) -> str:
    """The SRT or WebVTT document `text` as clean WebVTT, cue time 0 mapped to MPEG-TS `mpegts_origin`."""
    lines = ["WEBVTT", f"X-TIMESTAMP-MAP=MPEGTS:{mpegts_origin},LOCAL:00:00:00.000", ""]
    for cue in parse_cues(text):
        if cue.identifier:
            lines.append(cue.identifier)
        timing = f"{format_timestamp(cue.start)} --> {format_timestamp(cue.end)}"
        lines.append(f"{timing} {cue.settings}" if cue.settings else timing)
        lines.extend((cue.text, ""))
    return "\n".join(lines)


def subtitle_playlist(vtt_name: str, duration: float) -> str:
    """An HLS media playlist holding one WebVTT file that spans the whole video."""
    target = max(1, math.ceil(duration))
    return "\n".join(
        [
            "#EXTM3U",
            "#EXT-X-VERSION:3",
            f"#EXT-X-TARGETDURATION:{target}",
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-PLAYLIST-TYPE:VOD",
            f"#EXTINF:{duration:.3f},",
            vtt_name,
            "#EXT-X-ENDLIST",
            "",
        ]
    )
