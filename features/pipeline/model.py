"""The transcoding pipeline's vocabulary: what a source is, what is asked for and what comes out.

Pure values and rules — no I/O. `SourceInfo` is what probing a file tells us; `TranscodeRequest` is
what a caller asks for; `TranscodeResult` is what a finished run published; `rendition_ladder`
decides which HLS renditions a source gets (never upscaled, portrait-aware).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import InvalidInput


class ProbeError(InvalidInput):
    """The file cannot be used as a video source; `message` says why, in words a creator understands.
    `permanent`: the same file is refused again however often a run is retried."""

    message = "This file is not a video we can read."
    permanent = True


class ContentStoreError(Exception):
    """The store failed, or answered something we cannot vouch for."""


class ContentNotFound(ContentStoreError):
    """The store does not hold content under that CID."""


@dataclass(frozen=True)
class AudioStream:
    """One audio stream of a source, as probed: `index` is its place among the source's audio streams
    (ffmpeg's `0:a:<index>`); `language` and `title` are its tags (None when absent or "und");
    `dispositions` the names of its disposition flags ("default", "comment", "dub", "original",
    "visual_impaired", ...)."""

    index: int
    codec: str
    channels: int
    language: str | None = None
    title: str | None = None
    dispositions: tuple[str, ...] = ()

    @property
    def default(self) -> bool:
        return "default" in self.dispositions

    @property
    def commentary(self) -> bool:
        return "comment" in self.dispositions

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "codec": self.codec,
            "channels": self.channels,
            "language": self.language,
            "title": self.title,
            "dispositions": list(self.dispositions),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AudioStream:
        return cls(
            index=int(data["index"]),
            codec=str(data.get("codec", "unknown")),
            channels=int(data.get("channels", 0)),
            language=None if data.get("language") is None else str(data["language"]),
            title=None if data.get("title") is None else str(data["title"]),
            dispositions=tuple(str(d) for d in data.get("dispositions", ())),
        )


@dataclass(frozen=True)
class SubtitleStream:
    """One subtitle stream of a source: `index` among its subtitle streams (ffmpeg's `0:s:<index>`);
    `text` is False for picture-based subtitles (DVD, PGS), which cannot become WebVTT."""

    index: int
    codec: str
    text: bool
    language: str | None = None
    title: str | None = None
    dispositions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "codec": self.codec,
            "text": self.text,
            "language": self.language,
            "title": self.title,
            "dispositions": list(self.dispositions),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SubtitleStream:
        return cls(
            index=int(data["index"]),
            codec=str(data.get("codec", "unknown")),
            text=bool(data.get("text", False)),
            language=None if data.get("language") is None else str(data["language"]),
            title=None if data.get("title") is None else str(data["title"]),
            dispositions=tuple(str(d) for d in data.get("dispositions", ())),
        )


@dataclass(frozen=True)
class SourceInfo:
    """Facts about an uploaded source file, as probed (limits are the caller's business).

    `width`/`height` are the coded frame size; `pixel_aspect` is the width of one pixel over its
    height (1.0 for square pixels; an anamorphic 16:9 PAL DVD's 720x576 frame has 64/45 and shows
    as 1024x576); `rotation` is the display rotation in degrees (0, 90, 180 or 270) that players
    apply after it, so a portrait phone clip stored as 1920x1080 with rotation 90 displays as
    1080x1920 — see `display_width`/`display_height`.
    """

    duration: float
    width: int
    height: int
    video_codec: str
    audio_codec: str | None
    bit_rate: int | None
    frame_rate: float | None
    has_audio: bool
    rotation: int
    format_name: str
    audio_streams: tuple[AudioStream, ...] = ()
    subtitle_streams: tuple[SubtitleStream, ...] = ()
    pixel_aspect: float = 1.0

    @property
    def _upright_width(self) -> int:
        """The frame's width as shown, before rotation: players widen (or narrow) non-square pixels."""
        return max(2, round(self.width * self.pixel_aspect))

    @property
    def display_width(self) -> int:
        return self.height if self.rotation in (90, 270) else self._upright_width

    @property
    def display_height(self) -> int:
        return self._upright_width if self.rotation in (90, 270) else self.height

    @property
    def is_portrait(self) -> bool:
        return self.display_height > self.display_width

    def to_dict(self) -> dict[str, Any]:
        return {
            "duration": self.duration,
            "width": self.width,
            "height": self.height,
            "video_codec": self.video_codec,
            "audio_codec": self.audio_codec,
            "bit_rate": self.bit_rate,
            "frame_rate": self.frame_rate,
            "has_audio": self.has_audio,
            "rotation": self.rotation,
            "format_name": self.format_name,
            "audio_streams": [a.to_dict() for a in self.audio_streams],
            "subtitle_streams": [s.to_dict() for s in self.subtitle_streams],
            "pixel_aspect": self.pixel_aspect,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SourceInfo:
        return cls(
            duration=float(data["duration"]),
            width=int(data["width"]),
            height=int(data["height"]),
            video_codec=str(data["video_codec"]),
            audio_codec=None if data.get("audio_codec") is None else str(data["audio_codec"]),
            bit_rate=None if data.get("bit_rate") is None else int(data["bit_rate"]),
            frame_rate=None if data.get("frame_rate") is None else float(data["frame_rate"]),
            has_audio=bool(data["has_audio"]),
            rotation=int(data.get("rotation", 0)),
            format_name=str(data.get("format_name", "")),
            audio_streams=tuple(AudioStream.from_dict(a) for a in data.get("audio_streams", ())),
            subtitle_streams=tuple(SubtitleStream.from_dict(s) for s in data.get("subtitle_streams", ())),
            pixel_aspect=float(data.get("pixel_aspect", 1.0)),
        )


# --------------------------------------------------------------------------
# The rendition ladder
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class RenditionSpec:
    """One rung of the ladder: a 16:9 box (landscape; swapped for portrait) and encoder limits."""

    name: str
    box_width: int
    box_height: int
    crf: int
    maxrate_kbps: int
    bufsize_kbps: int
    profile: str
    level: str


LADDER: tuple[RenditionSpec, ...] = (
    RenditionSpec("480p", 854, 480, crf=23, maxrate_kbps=1400, bufsize_kbps=2800, profile="main", level="3.1"),
    RenditionSpec("720p", 1280, 720, crf=22, maxrate_kbps=3000, bufsize_kbps=6000, profile="high", level="4.0"),
    RenditionSpec("1080p", 1920, 1080, crf=22, maxrate_kbps=6000, bufsize_kbps=12000, profile="high", level="4.1"),
)


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


@dataclass(frozen=True)
class RenditionSize:
    name: str
    width: int
    height: int


def rendition_size(spec: RenditionSpec, width: int, height: int, *, base: bool = False) -> RenditionSize | None:
    """The output size of `spec` for a source displayed at `width` x `height`, or None to skip it.

    The source is fitted into the rung's box (portrait sources into the box turned on its side), so
    for 16:9 and taller sources the short side becomes the rung's size (1080x1920 → 480x854 at 480p)
    and wider sources are fitted by width. Never upscales: a rung is skipped unless the source fills
    its box in at least one dimension — except the `base` rung, which every source gets, at its own
    size when it is smaller. Dimensions are always even (H.264 4:2:0 needs it).
    """
    box_w, box_h = (spec.box_height, spec.box_width) if height > width else (spec.box_width, spec.box_height)
    reaches = width >= box_w or height >= box_h
    if not reaches and not base:
        return None
    scale = min(1.0, box_w / width, box_h / height)
    return RenditionSize(spec.name, _even(width * scale), _even(height * scale))


def rendition_ladder(source: SourceInfo) -> list[RenditionSize]:
    """Every rendition `source` gets, smallest first (the first rung always, the others if reached)."""
    sizes = []
    for index, spec in enumerate(LADDER):
        size = rendition_size(spec, source.display_width, source.display_height, base=index == 0)
        if size is not None:
            sizes.append(size)
    return sizes


# --------------------------------------------------------------------------
# Requests and results
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class SubtitleSource:
    """A subtitle file (SRT or WebVTT, told apart by content) for one language."""

    path: Path
    language: str
    label: str


@dataclass(frozen=True)
class TranscodeRequest:
    """What to transcode. `run_id` names the run for checkpoints (one per video, stable across retries);
    `work_dir` is private scratch space for this run; `key_uri` is what players fetch the AES key from
    (written into the media playlists, e.g. "/v/<public_id>/key")."""

    run_id: str
    source: Path
    work_dir: Path
    subtitles: tuple[SubtitleSource, ...] = ()
    key_uri: str = "key"


@dataclass(frozen=True)
class VideoKey:
    """The AES-128 key of one video and the IV its segments were encrypted with."""

    key: bytes
    iv: bytes

    def __post_init__(self) -> None:
        if len(self.key) != 16 or len(self.iv) != 16:
            raise ValueError("an AES-128 key and IV are 16 bytes each")

    @property
    def iv_hex(self) -> str:
        return "0x" + self.iv.hex()


@dataclass(frozen=True)
class Rendition:
    """A video rendition in the master playlist; `playlist` is its path relative to the master."""

    name: str
    width: int
    height: int
    bandwidth: int
    playlist: str


@dataclass(frozen=True)
class AudioTrack:
    """An audio rendition in the master playlist: `language` is its tag ("und" when unknown), `default`
    whether it is the one rendition marked DEFAULT=YES, `autoselect` whether a player may pick it by
    the viewer's language (not a commentary), `channels` its channel count, `characteristics` its HLS
    CHARACTERISTICS (an audio description's "public.accessibility.describes-video")."""

    name: str
    language: str
    playlist: str
    default: bool = True
    autoselect: bool = True
    channels: int = 2
    characteristics: str | None = None


@dataclass(frozen=True)
class SubtitleTrack:
    language: str
    label: str
    playlist: str


@dataclass(frozen=True)
class TranscodeResult:
    """What a finished run published. `manifest` maps every published file's path (relative to the
    master playlist, e.g. "480p/index.m3u8", "480p/seg_00001.ts") to its CID; a player resolves the
    relative URIs it meets in playlists through it. The key is NOT among the published files."""

    master_playlist_cid: str
    manifest: dict[str, str]
    renditions: tuple[Rendition, ...]
    audio_tracks: tuple[AudioTrack, ...]
    subtitle_tracks: tuple[SubtitleTrack, ...]
    cover_cid: str | None
    duration: float
    master_playlist: str = "master.m3u8"
    cover: str | None = field(default=None)
    # The renditions of the run's plan still to come (smallest first): empty once the run is complete.
    pending: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "master_playlist_cid": self.master_playlist_cid,
            "master_playlist": self.master_playlist,
            "manifest": dict(self.manifest),
            "renditions": [asdict(r) for r in self.renditions],
            "audio_tracks": [asdict(a) for a in self.audio_tracks],
            "subtitle_tracks": [asdict(s) for s in self.subtitle_tracks],
            "cover_cid": self.cover_cid,
            "cover": self.cover,
            "duration": self.duration,
            "pending": list(self.pending),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TranscodeResult:
        return cls(
            master_playlist_cid=str(data["master_playlist_cid"]),
            master_playlist=str(data.get("master_playlist", "master.m3u8")),
            manifest={str(k): str(v) for k, v in data["manifest"].items()},
            renditions=tuple(Rendition(**r) for r in data["renditions"]),
            audio_tracks=tuple(AudioTrack(**a) for a in data["audio_tracks"]),
            subtitle_tracks=tuple(SubtitleTrack(**s) for s in data["subtitle_tracks"]),
            cover_cid=data.get("cover_cid"),
            cover=data.get("cover"),
            duration=float(data["duration"]),
            pending=tuple(str(name) for name in data.get("pending", ())),
        )
