"""Playback: HLS playlists as a player needs them, the free preview cut out of them, and heartbeats.

The published files of a video are content-addressed; the video's manifest maps each path relative
to the master playlist ("480p/index.m3u8", "480p/seg_00000.ts", "subs/en.vtt") to its CID. A player
only ever names such a path, and only a path found in the manifest is served.

The free preview. A viewer without access may watch the first N seconds. Every media playlist is
cut to the segments that start before N (so the preview ends on a segment boundary at or after N)
and closed with #EXT-X-ENDLIST. Those segments — and only those — are decrypted on the server and
served in the clear from the preview address, so the video's AES key never reaches a viewer
without access, and a segment past the preview is refused (403) whatever its name. An audio or video
segment that would reach far past N (one long segment, byte ranges of one file) is not served at all.
Subtitles are one WebVTT file for the whole video: the preview serves a copy holding only the cues
that start before N, each cut to end by N — for every subtitle track.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import posixpath
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from uuid import UUID

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from core.errors import Forbidden, InvalidInput, NotFound
from core.ratelimit import address_key

MASTER = "master.m3u8"
MEDIA_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".ts": "video/mp2t",
    ".vtt": "text/vtt",  # the app names every text-like body's charset once (core.web.one_charset)
    ".aac": "audio/aac",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
    ".png": "image/png",
}
SESSION_PATTERN = re.compile(r"^[A-Za-z0-9-]{8,64}$")
_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')
_SEGMENT_TAGS = ("#EXTINF", "#EXT-X-BYTERANGE", "#EXT-X-DISCONTINUITY", "#EXT-X-PROGRAM-DATE-TIME")


class MediaNotFound(NotFound):
    message = "That part of the video does not exist."


class NotPlayable(NotFound):
    message = "This video is not ready to play yet."


class PlaybackLocked(Forbidden):
    message = "Unlock this video to watch it."


class LoginToWatch(Forbidden):
    message = "Log in and unlock this video to watch it."


class BeyondPreview(Forbidden):
    message = "The free preview ends here. Unlock the video to keep watching."


_SECONDS = re.compile(r"[0-9]{1,9}(?:\.[0-9]{1,6})?", re.ASCII)


class InvalidHeartbeat(InvalidInput):
    message = "That heartbeat is not valid."


def content_type(path: str) -> str:
    return MEDIA_TYPES.get(posixpath.splitext(path)[1].lower(), "application/octet-stream")


def is_playlist(path: str) -> bool:
    return path.lower().endswith(".m3u8")


def resolve(base: str, uri: str) -> str | None:
    """The manifest path of `uri` met in the playlist at manifest path `base`; None for anything that
    leaves the video (absolute paths, URLs, climbing above the master)."""
    if not uri or "://" in uri or uri.startswith(("/", "\\")) or "?" in uri or "#" in uri:
        return None
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(base), uri))
    if joined.startswith(("../", "/")) or joined in ("..", "."):
        return None
    return joined


def attributes(tag: str) -> dict[str, str]:
    """`#EXT-X-KEY:METHOD=AES-128,URI="k",IV=0x..` → {"METHOD": "AES-128", "URI": "k", "IV": "0x.."}."""
    _, _, rest = tag.partition(":")
    return {name: value.strip('"') for name, value in _ATTRIBUTE.findall(rest)}


def variant_playlists(master_text: str) -> list[str]:
    """The URIs of every media playlist a master playlist names (variants, audio, subtitles)."""
    uris: list[str] = []
    expect_variant = False
    for raw in master_text.splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-MEDIA:"):
            uri = attributes(line).get("URI")
            if uri:
                uris.append(uri)
        elif line.startswith("#EXT-X-STREAM-INF"):
            expect_variant = True
        elif line and not line.startswith("#") and expect_variant:
            uris.append(line)
            expect_variant = False
    return list(dict.fromkeys(uris))


@dataclass(frozen=True)
class MediaSegment:
    uri: str
    start: float
    duration: float
    iv: bytes | None  # None: the segment is in the clear (subtitles)


def media_segments(playlist: str) -> list[MediaSegment]:
    """The segments of a media playlist in order, each with its start time and AES-128 IV.

    An AES-128 key without an IV attribute uses the segment's media sequence number (RFC 8216 §5.2).
    """
    segments: list[MediaSegment] = []
    sequence = 0
    start = 0.0
    duration = 0.0
    method = "NONE"
    iv: bytes | None = None
    for raw in playlist.splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            sequence = int(line.split(":", 1)[1])
        elif line.startswith("#EXT-X-KEY:"):
            found = attributes(line)
            method = found.get("METHOD", "NONE")
            iv_text = found.get("IV")
            iv = bytes.fromhex(iv_text[2:]) if iv_text and iv_text.lower().startswith("0x") else None
        elif line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:") :].split(",", 1)[0])
        elif line and not line.startswith("#"):
            segment_iv: bytes | None = None
            if method == "AES-128":
                segment_iv = iv if iv is not None else sequence.to_bytes(16, "big")
            segments.append(MediaSegment(line, start, duration, segment_iv))
            start += duration
            sequence += 1
            duration = 0.0
    return segments


PREVIEW_OVERSHOOT_SECONDS = 6.0  # how far past the window an audio/video segment may end (pipeline: 4 s segments)


def is_text_track(uri: str) -> bool:
    """A WebVTT segment: the preview serves a copy cut at the window instead of the file."""
    return uri.lower().endswith(".vtt")


def _segment_path(base: str, uri: str) -> str:
    return resolve(base, uri) or uri


def preview_segments(segments: list[MediaSegment], seconds: float, *, base: str = "") -> list[MediaSegment]:
    """The segments of a media playlist the free preview of `seconds` may serve: the leading run of
    segments that start before the window ends. A WebVTT segment is served cut to the window (see
    `preview_webvtt`); any other segment must end within `PREVIEW_OVERSHOOT_SECONDS` of the window and
    must not be a file the playlist also uses past it (byte ranges of one file), or the run stops there.
    """
    if seconds <= 0:
        return []
    inside = [s for s in segments if s.start < seconds - 1e-6]
    beyond = {_segment_path(base, s.uri) for s in segments[len(inside) :]}
    kept: list[MediaSegment] = []
    for segment in inside:
        if not is_text_track(segment.uri) and (
            segment.start + segment.duration > seconds + PREVIEW_OVERSHOOT_SECONDS
            or _segment_path(base, segment.uri) in beyond
        ):
            break
        kept.append(segment)
    return kept


def preview_count(segments: list[MediaSegment], seconds: float) -> int:
    """How many leading segments the first `seconds` may serve (see `preview_segments`)."""
    return len(preview_segments(segments, seconds))


def preview_playlist(playlist: str, seconds: float, *, base: str = "") -> str:
    """The media playlist cut to the segments the preview serves (`preview_segments`), without key tags
    (preview segments are served decrypted) and closed with #EXT-X-ENDLIST. A WebVTT segment's
    duration is cut at the window like its cues."""
    kept_segments = preview_segments(media_segments(playlist), seconds, base=base)
    keep = len(kept_segments)
    out: list[str] = []
    pending: list[str] = []
    kept = 0
    for raw in playlist.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#EXT-X-KEY", "#EXT-X-ENDLIST")):
            continue
        if line.startswith(_SEGMENT_TAGS):
            pending.append(line)
        elif line.startswith("#"):
            if kept == 0:
                out.append(line)
        else:
            if kept >= keep:
                break
            segment = kept_segments[kept]
            if is_text_track(line) and segment.start + segment.duration > seconds:
                cut = max(0.0, seconds - segment.start)
                pending = [f"#EXTINF:{cut:.3f}," if tag.startswith("#EXTINF:") else tag for tag in pending]
            out += [*pending, line]
            pending = []
            kept += 1
    out.append("#EXT-X-ENDLIST")
    return "\n".join(out) + "\n"


_CUE_TIMING = re.compile(r"^\s*(\S+)\s+-->\s+(\S+)(.*)$")
_WEBVTT_TIME = re.compile(r"^(?:(\d+):)?([0-5]\d):([0-5]\d)\.(\d{3})$")
_INNER_TIME = re.compile(r"<((?:\d+:)?[0-5]\d:[0-5]\d\.\d{3})>")


def webvtt_seconds(stamp: str) -> float | None:
    """A WebVTT timestamp ("01:02:03.456" or "02:03.456") in seconds; None if it is not one."""
    found = _WEBVTT_TIME.match(stamp)
    if found is None:
        return None
    hours, minutes, secs, millis = found.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(secs) + int(millis) / 1000


def webvtt_timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def preview_webvtt(text: str, seconds: float) -> str:
    """A copy of a WebVTT document holding only what the first `seconds` show: the header (with its
    X-TIMESTAMP-MAP), STYLE and REGION blocks, and the cues that start before `seconds`, each ending at
    the latest at `seconds` (timestamps inside a cue past it are dropped). Comments (NOTE) and any block
    that cannot be read as a cue are left out: nothing whose time is unknown leaves the server."""
    blocks: list[list[str]] = [[]]
    for line in text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line.strip():
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    header, *rest = [block for block in blocks if block] or [["WEBVTT"]]
    if not header[0].startswith("WEBVTT"):
        header = ["WEBVTT"]
    out = ["\n".join(header)]
    for block in rest:
        if block[0].startswith(("STYLE", "REGION")) and "-->" not in "".join(block):
            out.append("\n".join(block))
            continue
        at = next((i for i, line in enumerate(block[:2]) if "-->" in line), None)
        timing = _CUE_TIMING.match(block[at]) if at is not None else None
        if at is None or timing is None:
            continue
        start, end = webvtt_seconds(timing.group(1)), webvtt_seconds(timing.group(2))
        if start is None or end is None or start >= seconds - 1e-6:
            continue
        line = f"{timing.group(1)} --> {webvtt_timestamp(min(end, seconds))}{timing.group(3)}"

        def inside(tag: re.Match[str]) -> str:
            at_time = webvtt_seconds(tag.group(1))
            return tag.group(0) if at_time is not None and at_time < seconds else ""

        body = [_INNER_TIME.sub(inside, cue_line) for cue_line in block[at + 1 :]]
        out.append("\n".join([*block[:at], line, *body]))
    return "\n\n".join(out) + "\n"


@dataclass(frozen=True)
class PreviewPlan:
    """What the free preview may serve: cut playlists by path, and segment paths with their IVs
    (WebVTT segments are served as `preview_webvtt` copies cut at `seconds`)."""

    seconds: int
    playlists: Mapping[str, str]
    segments: Mapping[str, bytes | None]


def preview_plan(master_path: str, master_text: str, playlists: Mapping[str, str], seconds: int) -> PreviewPlan:
    """The preview of a video from its master playlist and the texts of its media playlists (by path)."""
    cut: dict[str, str] = {}
    allowed: dict[str, bytes | None] = {}
    for uri in variant_playlists(master_text):
        path = resolve(master_path, uri)
        if path is None or path not in playlists:
            continue
        text = playlists[path]
        cut[path] = preview_playlist(text, seconds, base=path)
        for segment in preview_segments(media_segments(text), seconds, base=path):
            segment_path = resolve(path, segment.uri)
            if segment_path is not None:
                allowed[segment_path] = segment.iv
    return PreviewPlan(seconds, cut, allowed)


def decrypt_segment(data: bytes, key: bytes, iv: bytes) -> bytes:
    """An HLS AES-128 segment in the clear (AES-128-CBC, PKCS#7 padding)."""
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(decryptor.update(data) + decryptor.finalize()) + unpadder.finalize()


@dataclass(frozen=True)
class MediaFile:
    body: bytes
    content_type: str
    cache_control: str


@dataclass(frozen=True)
class Heartbeat:
    """The player says: this viewer (None: a visitor) is at `position` seconds of the video."""

    viewer_id: UUID | None
    video_id: UUID
    session_id: str
    position: float
    preview: bool
    at: datetime
    id: int = field(default=0, compare=False)  # the store's sequence number; 0 until stored


def check_heartbeat(session_id: str, position: float | int | str, duration: float | None) -> tuple[str, float]:
    """A valid playback session id and position; raises InvalidHeartbeat."""
    if not isinstance(session_id, str) or not SESSION_PATTERN.match(session_id):
        raise InvalidHeartbeat("The playback session id is not valid.")
    # JSON numbers as they are; a text only in ASCII digits ("12.5") — float() would also take "١٢",
    # "1_2", " 12 " or "nan"; a boolean is not a position
    if isinstance(position, bool) or not isinstance(position, int | float | str):
        raise InvalidHeartbeat("The position is not a number of seconds.")
    if isinstance(position, str) and not _SECONDS.fullmatch(position):
        raise InvalidHeartbeat("The position is not a number of seconds.")
    try:
        value = float(position)
    except (OverflowError, ValueError) as error:
        raise InvalidHeartbeat("The position is not a number of seconds.") from error
    limit = (duration or 24 * 3600) + 5
    if not math.isfinite(value) or not 0 <= value <= limit:
        raise InvalidHeartbeat("The position is outside the video.")
    return session_id, round(value, 3)


# -- who is watching: views are the server's to count ------------------------------------------------------

DEVICE_COOKIE = "hypha_device"
_DEVICE = re.compile(r"^([A-Za-z0-9_-]{22})\.([0-9a-f]{32})$")


class DeviceIds:
    """Anonymous device ids for visitors: a random id and its HMAC under the app's secret, so a device
    id can only come from this server (a script cannot mint a new one per heartbeat without asking)."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"hypha-device-id\x00" + secret.encode()).digest()

    def _mac(self, device: str) -> str:
        return hmac.new(self._key, device.encode(), hashlib.sha256).hexdigest()[:32]

    def issue(self) -> str:
        """A new signed device id, to be sent as the `DEVICE_COOKIE` value."""
        device = secrets.token_urlsafe(16)
        return f"{device}.{self._mac(device)}"

    def verify(self, value: str | None) -> str | None:
        """The device id of a cookie value this server signed; None for anything else."""
        found = _DEVICE.match(value or "")
        if found is None or not hmac.compare_digest(found.group(2), self._mac(found.group(1))):
            return None
        return found.group(1)


def viewer_key(viewer_id: UUID | None, device: str | None, client: str) -> str:
    """Who a heartbeat comes from, for counting views: the signed-in user, else the visitor's signed
    device, else its address."""
    if viewer_id is not None:
        return f"user:{viewer_id}"
    if device:
        return f"device:{device}"
    return f"ip:{address_key(client)}"


# -- the key-fetch audit -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyFetchDay:
    """How often one viewer fetched one video's AES key on one UTC day."""

    viewer_id: UUID
    video_id: UUID
    day: date
    fetches: int
    first_at: datetime
    last_at: datetime


# -- seek previews: the storyboard's thumbnails track, per viewer ----------------------------------------------

STORYBOARD_TRACK = "storyboard/thumbnails.vtt"
_SPRITE_NAME = re.compile(r"^sprite_[0-9]{3,6}\.jpg$", re.ASCII)
_THUMBNAIL = re.compile(r"^(sprite_[0-9]{3,6}\.jpg)#xywh=([0-9]+),([0-9]+),([0-9]+),([0-9]+)$", re.ASCII)


@dataclass(frozen=True)
class ThumbnailCue:
    """One thumbnail of the storyboard: shown from `start` to `end`, the `xywh` region of `sprite`."""

    start: float
    end: float
    sprite: str
    xywh: tuple[int, int, int, int]


def is_sprite_name(name: str) -> bool:
    return bool(_SPRITE_NAME.match(name))


def thumbnail_cues(text: str) -> list[ThumbnailCue]:
    """The cues of a published thumbnails track (features/pipeline/storyboard.py); anything else in it
    (a cue naming another file, a bad time) is left out."""
    cues: list[ThumbnailCue] = []
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").split("\n")
    for index, line in enumerate(lines[:-1]):
        timing = _CUE_TIMING.match(line) if "-->" in line else None
        found = _THUMBNAIL.match(lines[index + 1].strip()) if timing else None
        if timing is None or found is None:
            continue
        start, end = webvtt_seconds(timing.group(1)), webvtt_seconds(timing.group(2))
        if start is None or end is None or end <= start:
            continue
        x, y, w, h = (int(found.group(i)) for i in range(2, 6))
        cues.append(ThumbnailCue(start, end, found.group(1), (x, y, w, h)))
    return cues


def sprites_in_window(cues: list[ThumbnailCue], seconds: float | None) -> set[str]:
    """The sprites a viewer may load: all of them with full access (`seconds` None), else those whose
    every thumbnail lies inside the first `seconds` — a sprite straddling the window's end is refused,
    so no frame past the free preview leaves the server."""
    sprites = {cue.sprite for cue in cues}
    if seconds is None:
        return sprites
    return sprites - {cue.sprite for cue in cues if cue.end > seconds + 1e-6}


def thumbnails_track(cues: list[ThumbnailCue], sprite_url: str, seconds: float | None) -> str:
    """The thumbnails track a viewer gets: the cues whose sprite they may load (`sprites_in_window`),
    each naming `sprite_url` + the sprite's name and its region."""
    allowed = sprites_in_window(cues, seconds)
    lines = ["WEBVTT", ""]
    for cue in cues:
        if cue.sprite not in allowed:
            continue
        x, y, w, h = cue.xywh
        lines += [
            f"{webvtt_timestamp(cue.start)} --> {webvtt_timestamp(cue.end)}",
            f"{sprite_url}{cue.sprite}#xywh={x},{y},{w},{h}",
            "",
        ]
    return "\n".join(lines)
