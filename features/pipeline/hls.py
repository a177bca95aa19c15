"""HLS files: reading media playlists, writing the master playlist, sealing segments with AES-128.

Segments are encrypted here rather than by ffmpeg so that every segment gets its own explicit IV
(base IV + a counter, written into an `#EXT-X-KEY` tag before the segment) and so that sealing is a
pure function of the clear files, the key and the IV: re-running it gives byte-identical output,
hence identical CIDs.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

# ffmpeg's MPEG-TS muxer adds 2 x max_delay (2 x 0.7 s = 126000 ticks of 90 kHz) to every timestamp.
# The renditions are encoded with negative-timestamp shifting disabled (see units.HLS_OUTPUT), so the
# source's t=0 is MPEG-TS 126000 in every video and audio rendition alike — which keeps separately
# encoded audio and video in sync and is what the WebVTT X-TIMESTAMP-MAP must say.
MPEGTS_ORIGIN = 126_000

AUDIO_GROUP = "audio"
SUBTITLE_GROUP = "subs"
AAC_LC = "mp4a.40.2"
_READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Segment:
    duration: float
    uri: str


def media_segments(playlist: str) -> list[Segment]:
    """The segments of a media playlist, in order."""
    segments: list[Segment] = []
    duration: float | None = None
    for raw in playlist.splitlines():
        line = raw.strip()
        if line.startswith("#EXTINF:"):
            duration = float(line[len("#EXTINF:") :].split(",", 1)[0])
        elif line and not line.startswith("#"):
            segments.append(Segment(duration or 0.0, line))
            duration = None
    return segments


def unwritten_segments(folder: Path, playlist: str = "index.m3u8") -> list[str]:
    """The files the media playlist in `folder` names that are not there (the playlist itself when it
    is missing). ffmpeg's HLS muxer logs a segment it cannot open and still exits 0."""
    path = folder / playlist
    if not path.is_file():
        return [playlist]
    return [s.uri for s in media_segments(path.read_text()) if not (folder / s.uri).is_file()]


def sealed_size(clear_size: int) -> int:
    """The size of a file of `clear_size` bytes once sealed by `encrypt_file`: AES-128-CBC with PKCS#7
    padding always adds 1 to 16 bytes, up to the next multiple of 16."""
    return clear_size + 16 - clear_size % 16


def bandwidth(playlist_path: Path, *, sealed: bool = True) -> tuple[int, int]:
    """(peak, average) bits per second of a media playlist's segments as served (RFC 8216 §4.3.4.2).

    Sizes are those of the segments once sealed (`sealed_size`; `sealed=False`: the files as they are).
    The peak is the largest size*8/duration of any one segment, with the duration the playlist's EXTINF
    (a short last segment included); the average is all bits over all seconds. The average is a
    duration-weighted mean of the segment rates, so it never exceeds the peak; both are rounded up.
    """
    segments = media_segments(playlist_path.read_text())
    sizes = [(playlist_path.parent / s.uri).stat().st_size for s in segments]
    if sealed:
        sizes = [sealed_size(size) for size in sizes]
    return rates(sizes, [s.duration for s in segments])


def rates(sizes: Sequence[int], durations: Sequence[float]) -> tuple[int, int]:
    """(peak, average) bits per second of segments of `sizes` bytes lasting `durations` seconds."""
    if not sizes:
        return 0, 0
    durations = [max(d, 0.001) for d in durations]
    peak = math.ceil(max(size * 8 / duration for size, duration in zip(sizes, durations, strict=True)))
    average = math.ceil(sum(sizes) * 8 / sum(durations))
    return peak, min(average, peak)


def avc1_codec(profile: str, level: str) -> str:
    """RFC 6381 codec string of the H.264 streams x264 writes for `profile` at `level` ("4.1")."""
    profile_idc, constraints = {"baseline": (0x42, 0xC0), "main": (0x4D, 0x40), "high": (0x64, 0x00)}[profile]
    major, _, minor = level.partition(".")
    return f"avc1.{profile_idc:02x}{constraints:02x}{int(major) * 10 + int(minor or 0):02x}"


@dataclass(frozen=True)
class MasterVariant:
    playlist: str
    width: int
    height: int
    bandwidth: int
    average_bandwidth: int
    frame_rate: float | None
    codecs: str


@dataclass(frozen=True)
class MasterMedia:
    kind: str  # "AUDIO" or "SUBTITLES"
    group: str
    name: str
    language: str | None
    playlist: str
    default: bool
    channels: int | None = None
    autoselect: bool = True
    characteristics: str | None = None


def _quoted(value: str) -> str:
    if any(c in value for c in '"\r\n'):
        raise ValueError(f"cannot quote {value!r} in a playlist attribute")
    return f'"{value}"'


def render_master(variants: Sequence[MasterVariant], media: Sequence[MasterMedia]) -> str:
    """A master playlist: the audio and subtitle groups, then one variant per rendition (smallest first)."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:4", "#EXT-X-INDEPENDENT-SEGMENTS"]
    groups = {m.kind: m.group for m in media}
    for kind, group in groups.items():
        members = [m for m in media if m.kind == kind and m.group == group]
        if sum(m.default for m in members) > 1:
            raise ValueError(f"more than one DEFAULT=YES rendition in the {kind} group {group!r}")
        if len({m.name for m in members}) != len(members):
            raise ValueError(f"two renditions of the {kind} group {group!r} have the same NAME")
    for item in media:
        attributes = [f"TYPE={item.kind}", f"GROUP-ID={_quoted(item.group)}", f"NAME={_quoted(item.name)}"]
        if item.language:
            attributes.append(f"LANGUAGE={_quoted(item.language)}")
        autoselect = item.autoselect or item.default  # RFC 8216: DEFAULT=YES implies AUTOSELECT=YES
        attributes += [f"DEFAULT={'YES' if item.default else 'NO'}", f"AUTOSELECT={'YES' if autoselect else 'NO'}"]
        if item.kind == "SUBTITLES":
            attributes.append("FORCED=NO")
        if item.characteristics:
            attributes.append(f"CHARACTERISTICS={_quoted(item.characteristics)}")
        if item.channels:
            attributes.append(f"CHANNELS={_quoted(str(item.channels))}")
        attributes.append(f"URI={_quoted(item.playlist)}")
        lines.append("#EXT-X-MEDIA:" + ",".join(attributes))
    for variant in sorted(variants, key=lambda v: v.bandwidth):
        attributes = [
            f"BANDWIDTH={variant.bandwidth}",
            f"AVERAGE-BANDWIDTH={variant.average_bandwidth}",
            f"RESOLUTION={variant.width}x{variant.height}",
        ]
        if variant.frame_rate:
            attributes.append(f"FRAME-RATE={variant.frame_rate:.3f}")
        attributes.append(f"CODECS={_quoted(variant.codecs)}")
        if "AUDIO" in groups:
            attributes.append(f"AUDIO={_quoted(groups['AUDIO'])}")
        if "SUBTITLES" in groups:
            attributes.append(f"SUBTITLES={_quoted(groups['SUBTITLES'])}")
        lines += ["#EXT-X-STREAM-INF:" + ",".join(attributes), variant.playlist]
    return "\n".join(lines) + "\n"


def add_subtitle_rendition(master: str, name: str, language: str, playlist: str) -> str:
    """`master` with one more subtitles rendition (in the subtitles group, after the other media), and
    every variant naming that group. Nothing else changes: the video and audio stay as published."""
    media_line = "#EXT-X-MEDIA:" + ",".join(
        [
            "TYPE=SUBTITLES",
            f"GROUP-ID={_quoted(SUBTITLE_GROUP)}",
            f"NAME={_quoted(name)}",
            f"LANGUAGE={_quoted(language)}",
            "DEFAULT=NO",
            "AUTOSELECT=YES",
            "FORCED=NO",
            f"URI={_quoted(playlist)}",
        ]
    )
    lines = master.splitlines()
    if not lines or lines[0].strip() != "#EXTM3U":
        raise ValueError("not a master playlist")
    variants = [i for i, line in enumerate(lines) if line.startswith("#EXT-X-STREAM-INF:")]
    if not variants:
        raise ValueError("the master playlist has no variant")
    media = [i for i, line in enumerate(lines) if line.startswith("#EXT-X-MEDIA:")]
    at = (media[-1] + 1) if media else variants[0]
    group = f"SUBTITLES={_quoted(SUBTITLE_GROUP)}"
    out: list[str] = []
    for index, line in enumerate(lines):
        if index == at:
            out.append(media_line)
        if line.startswith("#EXT-X-STREAM-INF:") and "SUBTITLES=" not in line:
            line = f"{line},{group}"
        out.append(line)
    return "\n".join(out) + "\n"


def add_audio_rendition(
    master: str, name: str, language: str, playlist: str, *, bandwidth_increase: int = 0, average_increase: int = 0
) -> str:
    """`master` with one more audio rendition (DEFAULT=NO, after the other audio renditions) in the audio
    group every variant already names. A variant's bandwidth counts its largest audio rendition: when
    the new one is larger, `bandwidth_increase`/`average_increase` say by how much every variant grows.
    Nothing else changes: the video, the other audio and the subtitles stay as published.

    Raises ValueError for a master playlist without variants or without an audio group, or a NAME the
    group already has."""
    lines = master.splitlines()
    if not lines or lines[0].strip() != "#EXTM3U":
        raise ValueError("not a master playlist")
    audio = [i for i, line in enumerate(lines) if line.startswith("#EXT-X-MEDIA:") and "TYPE=AUDIO" in line]
    if not audio:
        raise ValueError("the master playlist has no audio group")
    if any(f"NAME={_quoted(name)}" in lines[i] for i in audio):
        raise ValueError(f"the audio group already has a rendition named {name!r}")
    if not any(line.startswith("#EXT-X-STREAM-INF:") for line in lines):
        raise ValueError("the master playlist has no variant")
    media_line = "#EXT-X-MEDIA:" + ",".join(
        [
            "TYPE=AUDIO",
            f"GROUP-ID={_quoted(AUDIO_GROUP)}",
            f"NAME={_quoted(name)}",
            f"LANGUAGE={_quoted(language)}",
            "DEFAULT=NO",
            "AUTOSELECT=YES",
            f"CHANNELS={_quoted('2')}",
            f"URI={_quoted(playlist)}",
        ]
    )
    out: list[str] = []
    for index, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF:") and (bandwidth_increase or average_increase):
            line = _grown(line, bandwidth_increase, average_increase)
        out.append(line)
        if index == audio[-1]:
            out.append(media_line)
    return "\n".join(out) + "\n"


def _grown(stream_inf: str, peak: int, average: int) -> str:
    def grow(match: re.Match[str]) -> str:
        attribute, value = match.group(1), int(match.group(2))
        return f"{attribute}={value + (average if attribute == 'AVERAGE-BANDWIDTH' else peak)}"

    return re.sub(r"(?<![A-Z-])(BANDWIDTH|AVERAGE-BANDWIDTH)=(\d+)", grow, stream_inf)


# --------------------------------------------------------------------------
# AES-128 sealing
# --------------------------------------------------------------------------


def iv_for(base_iv: bytes, counter: int) -> bytes:
    """The IV of the `counter`-th sealed segment: the base IV plus the counter, modulo 2**128."""
    return ((int.from_bytes(base_iv, "big") + counter) % (1 << 128)).to_bytes(16, "big")


def encrypt_file(source: Path, target: Path, key: bytes, iv: bytes) -> None:
    """AES-128-CBC with PKCS#7 padding (what HLS METHOD=AES-128 means), streamed from `source` to `target`."""
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    padder = padding.PKCS7(128).padder()
    with source.open("rb") as clear, target.open("wb") as sealed:
        while chunk := clear.read(_READ_CHUNK):
            sealed.write(encryptor.update(padder.update(chunk)))
        sealed.write(encryptor.update(padder.finalize()) + encryptor.finalize())


def decrypt_bytes(data: bytes, key: bytes, iv: bytes) -> bytes:
    """The inverse of `encrypt_file`, for whole segments held in memory (tests, operators)."""
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(decryptor.update(data) + decryptor.finalize()) + unpadder.finalize()


def sealed_playlist(playlist: str, key_uri: str, ivs: Iterator[bytes]) -> tuple[str, list[tuple[str, bytes]]]:
    """`playlist` with an `#EXT-X-KEY` (explicit IV) before each segment, and each segment's (uri, IV).

    IVs are taken from `ivs` in segment order. Existing `#EXT-X-KEY` lines are dropped.
    """
    out: list[str] = []
    pending: list[str] = []  # the tags that belong to the next segment (#EXTINF, #EXT-X-BYTERANGE...)
    sealed: list[tuple[str, bytes]] = []
    for raw in playlist.splitlines():
        line = raw.strip()
        if line.startswith("#EXT-X-KEY"):
            continue
        if line.startswith(("#EXTINF", "#EXT-X-BYTERANGE", "#EXT-X-DISCONTINUITY")):
            pending.append(line)
        elif line and not line.startswith("#"):
            iv = next(ivs)
            out.append(f"#EXT-X-KEY:METHOD=AES-128,URI={_quoted(key_uri)},IV=0x{iv.hex()}")
            out += [*pending, line]
            pending = []
            sealed.append((line, iv))
        else:
            out.append(line)
    out += pending
    return "\n".join(out) + "\n", sealed


_KEY_URI = re.compile(r'URI="([^"]*)"')


def with_key_url(playlist: str, key_url: str) -> str:
    """`playlist` with the URI of every `#EXT-X-KEY` replaced by `key_url` (the rest byte for byte).

    The copy published on IPFS names the key by its absolute URL on Hypha, since a gateway serving
    the playlist does not serve the key."""
    quoted = _quoted(key_url)
    lines = playlist.split("\n")
    for index, line in enumerate(lines):
        if line.startswith("#EXT-X-KEY"):
            lines[index] = _KEY_URI.sub(lambda _: f"URI={quoted}", line, count=1)
    return "\n".join(lines)
