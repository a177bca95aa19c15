"""Probing a source file with PyAV (there is no ffprobe in imageio-ffmpeg's build): ~7 ms a file.

`probe_media` opens the container, picks the first real video stream (cover art attached to audio
files does not count), decodes one frame to learn the display rotation and to prove the stream is
readable, and reports the facts as a `SourceInfo` — or raises `ProbeError` saying why it cannot.
"""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import av
import av.error

from features.pipeline.model import AudioStream, ProbeError, SourceInfo, SubtitleStream

# Demuxers that read a single still image: a picture is not a video, whatever duration it reports.
_STILL_IMAGE_FORMATS = {"image2", "webp"}
# Image formats that may hold an animation (a GIF loop): a video when they hold more than one frame.
_ANIMATION_FORMATS = {"gif", "apng"}
_MAX_ANIMATION_FRAMES = 100_000
# Subtitle codecs made of text (they become WebVTT); DVD, DVB and PGS subtitles are pictures.
TEXT_SUBTITLE_CODECS = {"subrip", "srt", "webvtt", "mov_text", "ass", "ssa", "text", "microdvd", "subviewer"}
_DISPOSITIONS = (
    "default",
    "dub",
    "original",
    "comment",
    "lyrics",
    "karaoke",
    "forced",
    "hearing_impaired",
    "visual_impaired",
    "clean_effects",
    "captions",
    "descriptions",
)


def probe_media(path: Path) -> SourceInfo:
    """Facts about the media file at `path`.

    Raises ProbeError (with a reason a creator can act on) when the file is missing, not a media
    file, unreadable, has no video stream, is a still image, or has a zero or unknown duration.
    """
    path = Path(path)
    if not path.is_file():
        raise ProbeError("The uploaded file is missing.")
    if path.stat().st_size == 0:
        raise ProbeError("The uploaded file is empty.")
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as error:
        raise ProbeError("This file is not a video: it is not in a media format we can read.") from error
    with container:
        format_name = container.format.name or ""
        if format_name in _STILL_IMAGE_FORMATS or format_name.endswith("_pipe"):
            raise ProbeError("This file is a still image, not a video.")
        video_streams = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        if not video_streams:
            if container.streams.audio:
                raise ProbeError("This file has sound but no picture: it contains no video stream.")
            raise ProbeError("This file contains no video stream.")
        video = video_streams[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        duration = _duration(container, video)
        if format_name in _ANIMATION_FORMATS:
            duration = _animation_duration(path)
        elif duration is None:
            duration = _demuxed_duration(path)
        if duration is None:
            raise ProbeError("We cannot tell how long this video is: its duration is unknown.")
        if duration <= 0:
            raise ProbeError("This video has no length: its duration is zero.")
        context = video.codec_context
        width, height = int(context.width or 0), int(context.height or 0)
        rotation = _first_frame_rotation(container, video)
        if width <= 0 or height <= 0:
            raise ProbeError("This video's picture size cannot be read.")
        pixel_aspect = _pixel_aspect(video)
        rate = video.average_rate or video.guessed_rate or video.base_rate
        bit_rate = container.bit_rate or context.bit_rate or None
        return SourceInfo(
            duration=round(duration, 3),
            width=width,
            height=height,
            video_codec=context.name or "unknown",
            audio_codec=(audio.codec_context.name or "unknown") if audio is not None else None,
            bit_rate=int(bit_rate) if bit_rate else None,
            frame_rate=round(float(rate), 3) if rate else None,
            has_audio=audio is not None,
            rotation=rotation,
            format_name=format_name,
            audio_streams=tuple(_audio_stream(i, s) for i, s in enumerate(container.streams.audio)),
            subtitle_streams=tuple(_subtitle_stream(i, s) for i, s in enumerate(container.streams.subtitles)),
            pixel_aspect=pixel_aspect,
        )


# A pixel more than this many times wider than tall (or taller than wide) is a broken header, not a
# picture: no camera or disc format comes near it (anamorphic DVDs are 0.89–1.46, HDV 1.33).
_MAX_PIXEL_STRETCH = 4


def _pixel_aspect(video: av.video.stream.VideoStream) -> float:
    """The sample (pixel) aspect ratio players apply: the container's when it gives one (MP4 `pasp`,
    Matroska display size), else the codec's, as ffmpeg decides; 1.0 when unknown or absurd."""
    for ratio in (video.sample_aspect_ratio, video.codec_context.sample_aspect_ratio):
        if ratio is not None and ratio.numerator > 0 and ratio.denominator > 0:
            value = float(ratio)
            return round(value, 6) if 1 / _MAX_PIXEL_STRETCH <= value <= _MAX_PIXEL_STRETCH else 1.0
    return 1.0


def _tag(stream: av.stream.Stream, name: str) -> str | None:
    value = (stream.metadata or {}).get(name)
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return None if not value or value.lower() == "und" else value


def _dispositions(stream: av.stream.Stream) -> tuple[str, ...]:
    flags = stream.disposition
    return tuple(name for name in _DISPOSITIONS if flags & getattr(av.stream.Disposition, name))


def _audio_stream(position: int, stream: av.audio.stream.AudioStream) -> AudioStream:
    context = stream.codec_context
    return AudioStream(
        index=position,
        codec=context.name or "unknown",
        channels=int(getattr(context, "channels", 0) or 0),
        language=_tag(stream, "language"),
        title=_tag(stream, "title") or _own_handler_name(stream),
        dispositions=_dispositions(stream),
    )


def _own_handler_name(stream: av.stream.Stream) -> str | None:
    """MP4 keeps a track's name as its handler name; muxers write a generic one ("SoundHandler")
    when there is none, which is no title."""
    handler = _tag(stream, "handler_name")
    return None if handler is None or handler in _GENERIC_HANDLERS else handler


_GENERIC_HANDLERS = {"SoundHandler", "VideoHandler", "SubtitleHandler", "Core Media Audio", "Sound Media Handler"}


def _subtitle_stream(position: int, stream: av.stream.Stream) -> SubtitleStream:
    codec = stream.codec_context.name if stream.codec_context is not None else None
    return SubtitleStream(
        index=position,
        codec=codec or "unknown",
        text=(codec or "") in TEXT_SUBTITLE_CODECS,
        language=_tag(stream, "language"),
        title=_tag(stream, "title"),
        dispositions=_dispositions(stream),
    )


def _duration(container: av.container.InputContainer, video: av.video.stream.VideoStream) -> float | None:
    if container.duration is not None and container.duration > 0:
        return float(container.duration) / av.time_base
    if video.duration is not None and video.time_base is not None:
        return float(video.duration * Fraction(video.time_base))
    return None


def _demuxed_duration(path: Path) -> float | None:
    """The duration of a file whose header does not give one — a WebM a browser's MediaRecorder wrote
    as it recorded, a live Matroska, a bare H.264 stream — from its packets, read without decoding:
    the span of their timestamps, or (no timestamps at all) the video frames over the frame rate."""
    first: float | None = None
    end = 0.0
    frames = 0
    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            streams = [*container.streams.video[:1], *container.streams.audio]
            video = streams[0]
            for packet in container.demux(streams):
                if packet.size == 0 or packet.time_base is None:
                    continue
                frames += packet.stream is video
                if packet.pts is not None:
                    start = float(packet.pts * packet.time_base)
                    first = start if first is None else min(first, start)
                    end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base))
            rate = video.average_rate or video.guessed_rate
    except (av.error.FFmpegError, ValueError, IndexError):
        return None
    if first is not None and end > first:
        return end - first
    return frames / float(rate) if frames and rate else None


def _animation_duration(path: Path) -> float:
    """How long an animated image plays once (its frames' display times added up; APNG headers do not
    say). Raises ProbeError for a single picture."""
    frames = 0
    end = 0.0
    try:
        with av.open(str(path), mode="r", metadata_errors="ignore") as container:
            stream = container.streams.video[0]
            for frame in container.decode(stream):
                frames += 1
                if frame.pts is not None and frame.time_base is not None:
                    shown = frame.duration or 0
                    end = max(end, float((frame.pts + shown) * frame.time_base))
                if frames >= _MAX_ANIMATION_FRAMES:
                    break
    except (av.error.FFmpegError, ValueError) as error:
        raise ProbeError("This animation is damaged: its pictures cannot be decoded.") from error
    if frames < 2:
        raise ProbeError("This file is a still image, not a video.")
    return end


def _first_frame_rotation(container: av.container.InputContainer, video: av.video.stream.VideoStream) -> int:
    """Display rotation of the first decoded frame, normalized to 0/90/180/270.

    Decoding one frame also proves the video stream is readable, not just announced in a header.
    """
    try:
        for frame in container.decode(video):
            return _normalize_rotation(float(getattr(frame, "rotation", 0) or 0))
    except (av.error.FFmpegError, ValueError) as error:
        raise ProbeError("This video is damaged: its picture cannot be decoded.") from error
    raise ProbeError("This video is damaged: it has no picture frames.")


def _normalize_rotation(degrees: float) -> int:
    return (round(degrees / 90) * 90) % 360


def probe_audio(path: Path) -> AudioStream:
    """The first audio stream of the file at `path`, proven readable by decoding one frame of it: what a
    creator's added audio track is made from.

    Raises ProbeError (with a reason a creator can act on) when the file is missing, empty, not a media
    file, has no audio stream, cannot be decoded, or has no length.
    """
    path = Path(path)
    if not path.is_file():
        raise ProbeError("The uploaded file is missing.")
    if path.stat().st_size == 0:
        raise ProbeError("The uploaded file is empty.")
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as error:
        raise ProbeError("This file is not audio: it is not in a media format we can read.") from error
    with container:
        format_name = container.format.name or ""
        if format_name in _STILL_IMAGE_FORMATS or format_name.endswith("_pipe") or not container.streams.audio:
            raise ProbeError("This file is not audio: it contains no sound.")
        stream = container.streams.audio[0]
        duration = None
        if container.duration is not None and container.duration > 0:
            duration = float(container.duration) / av.time_base
        elif stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * Fraction(stream.time_base))
        if not duration or duration <= 0:
            raise ProbeError("This audio has no length: its duration is zero or unknown.")
        try:
            decoded = next(iter(container.decode(stream)), None)
        except (av.error.FFmpegError, ValueError) as error:
            raise ProbeError("This audio is damaged: its sound cannot be decoded.") from error
        if decoded is None:
            raise ProbeError("This audio is damaged: it has no sound frames.")
        return _audio_stream(0, stream)


# -- still images (a video's cover) ------------------------------------------------------------------

COVER_MAX_SIDE = 8_000  # pixels: a cover larger than this on either side is refused before decoding
COVER_MAX_PIXELS = 40_000_000


class UnreadableImage(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_DAMAGED = "This image cannot be read: it may be damaged or cut short."
# JPEG start-of-frame markers (baseline, progressive, lossless, ...): they carry the picture's size.
_JPEG_FRAME_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) as a PNG's IHDR or a JPEG's start-of-frame declares them, read without decoding."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        if len(data) < 24 or data[12:16] != b"IHDR":
            return None
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    at = 2  # after the JPEG's start-of-image marker
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            at += 2
            continue
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if marker in _JPEG_FRAME_MARKERS:
            if at + 9 > len(data):
                return None
            return int.from_bytes(data[at + 7 : at + 9], "big"), int.from_bytes(data[at + 5 : at + 7], "big")
        if length < 2:
            return None
        at += 2 + length
    return None


def read_image(data: bytes) -> tuple[int, int]:
    """The (width, height) of a JPEG or PNG picture, proven by decoding it; raises UnreadableImage
    saying why not. The size the file declares is checked first, so a small file claiming a huge
    picture (a decompression bomb) is refused without being decoded."""
    declared = _declared_size(data)
    if declared is None or 0 in declared:
        raise UnreadableImage(_DAMAGED)
    width, height = declared
    if max(width, height) > COVER_MAX_SIDE or width * height > COVER_MAX_PIXELS:
        raise UnreadableImage(
            f"This image is {width:,} × {height:,} pixels: a cover may be at most {COVER_MAX_SIDE:,} pixels on a side."
        )
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            for frame in container.decode(video=0):
                return frame.width, frame.height
    except (av.error.FFmpegError, ValueError, IndexError) as error:
        raise UnreadableImage(_DAMAGED) from error
    raise UnreadableImage(_DAMAGED)
