"""The ffmpeg command lines of the units, module-level so the benchmark can run exactly the same ones
bare: HLS output, one H.264 rendition, the AAC audio renditions, the source's own subtitles, the cover frame."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from features.pipeline.model import (
    RenditionSize,
    RenditionSpec,
    SourceInfo,
)

SEGMENT_SECONDS = 4
KEYFRAME_SECONDS = 2  # a keyframe every 2 s: every 4 s segment starts on one, in every rendition
AUDIO_BITRATE = "128k"
AUDIO_BPS = 128_000
MAX_FRAME_RATE = 60.0
# JPEG is full-range YUV: ffmpeg's MJPEG encoder refuses a limited-range frame whose range it is told
# (a bare H.264 stream's), so every picture becomes full-range 4:2:0 before it is encoded.
JPEG_PIXELS = "format=yuvj420p"


def _ffmpeg_path(path: Path) -> str:
    """An absolute path never reads as an option or a protocol ("-x", "concat:..."); `%` is literal."""
    return str(path.resolve())


# The HLS muxer numbers segments by replacing every `%d`/`%05d` in the whole segment path, and takes
# everything else (`%%` included) literally: a `%` in a folder's name is fine, a `%d` cannot be said.
_SEGMENT_NUMBER = re.compile(r"%[0-9]*d")


def hls_output(directory: Path) -> list[str]:
    """MPEG-TS HLS, ~4 s segments, timestamps unshifted (source t=0 is MPEG-TS `MPEGTS_ORIGIN`).

    Raises ValueError for a directory whose path holds a `%d`-like pattern (the muxer would number it)."""
    folder = _ffmpeg_path(directory)
    if _SEGMENT_NUMBER.search(folder):
        raise ValueError("the work directory's path holds a printf pattern (%d) that ffmpeg's HLS muxer expands")
    segments = folder + "/seg_%05d.ts"
    return [
        "-avoid_negative_ts",
        "disabled",
        "-f",
        "hls",
        "-hls_time",
        str(SEGMENT_SECONDS),
        "-hls_playlist_type",
        "vod",
        "-hls_segment_type",
        "mpegts",
        "-hls_flags",
        "independent_segments",
        "-hls_segment_options",
        "avoid_negative_ts=disabled",
        "-hls_segment_filename",
        segments,
        _ffmpeg_path(directory / "index.m3u8"),
    ]


# Frames the decoder marks interlaced (50i/60i cameras, broadcast, DVD) are made whole (bwdif, one
# frame per frame, field order from the stream); progressive frames pass through untouched. A browser
# shows frames whole, so woven fields would comb every moving edge (and scaling would smear them).
DEINTERLACE = "bwdif=mode=send_frame:parity=auto:deint=interlaced"


def output_frame_rate(source: SourceInfo) -> float:
    return min(source.frame_rate or 25.0, MAX_FRAME_RATE)


# H.264 levels (ITU-T H.264 table A-1), lowest first: the macroblocks per second and per frame a
# decoder of that level handles. A stream must declare a level that covers it, or a strict decoder
# (a TV, an older phone) refuses it or stutters.
_H264_LEVELS = (
    ("3.0", 40_500, 1_620),
    ("3.1", 108_000, 3_600),
    ("3.2", 216_000, 5_120),
    ("4.0", 245_760, 8_192),
    ("4.1", 245_760, 8_192),
    ("4.2", 522_240, 8_704),
    ("5.0", 589_824, 22_080),
    ("5.1", 983_040, 36_864),
    ("5.2", 2_073_600, 36_864),
)


def h264_level(spec: RenditionSpec, size: RenditionSize, fps: float) -> str:
    """The level a rendition declares: the rung's own, or the lowest above it that covers the
    rendition's size at `fps` (1080p at 60 fps needs 4.2 where 1080p at 30 fps has 4.1)."""
    macroblocks = -(-size.width // 16) * -(-size.height // 16)
    levels = [name for name, _, _ in _H264_LEVELS]
    for name, per_second, per_frame in _H264_LEVELS[levels.index(spec.level) :]:
        if macroblocks <= per_frame and macroblocks * fps <= per_second:
            return name
    return _H264_LEVELS[-1][0]


def video_args(
    source_path: Path, source: SourceInfo, size: RenditionSize, spec: RenditionSpec, into: Path
) -> list[str]:
    """One H.264 rendition: scaled (rotation applied by ffmpeg), square pixels, fixed 2 s GOPs, at the
    level its size and frame rate need (`h264_level`), lasting as long as the video: a picture that ends
    before the sound holds its last frame (`tpad`) until the end, as the audio tracks span it all."""
    fps = output_frame_rate(source)
    gop = max(1, round(fps * KEYFRAME_SECONDS))
    filters = [DEINTERLACE, f"scale={size.width}:{size.height}:flags=bicubic", "setsar=1", "format=yuv420p"]
    filters.append("tpad=stop=-1:stop_mode=clone")  # cut by -t at the video's duration
    if source.frame_rate and source.frame_rate > MAX_FRAME_RATE:
        filters.insert(1, f"fps={MAX_FRAME_RATE:g}")
    return [
        "-i",
        _ffmpeg_path(source_path),
        "-map",
        "0:v:0",
        "-an",
        "-sn",
        "-dn",
        "-map_metadata",
        "-1",
        "-vf",
        ",".join(filters),
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-profile:v",
        spec.profile,
        "-level:v",
        h264_level(spec, size, fps),
        "-crf",
        str(spec.crf),
        "-maxrate",
        f"{spec.maxrate_kbps}k",
        "-bufsize",
        f"{spec.bufsize_kbps}k",
        "-g",
        str(gop),
        "-keyint_min",
        str(gop),
        "-sc_threshold",
        "0",
        "-force_key_frames",
        f"expr:gte(t,n_forced*{KEYFRAME_SECONDS})",
        "-t",
        f"{source.duration:.3f}",
        *hls_output(into),
    ]


def _aac(into: Path, duration: float) -> list[str]:
    """AAC-LC stereo 128 kb/s 48 kHz into an HLS media playlist in `into`, `duration` seconds long
    (0: as long as the input).

    The sound starts at the timeline's origin whatever the source says: a track that begins after the
    picture (a camera that starts recording sound late, an edit that opens on silence) gets silence
    before it, and gaps inside it are filled, so it stays in sync with the video — a player cannot
    start a video whose audio begins later (hls.js skips the picture up to the first sound). A track
    that ends before `duration` is padded with silence to it, one that runs past it is cut."""
    resample = "aresample=async=1:first_pts=0"
    length = ["-af", f"{resample},apad", "-t", f"{duration:.3f}"] if duration > 0 else ["-af", resample]
    return [
        "-vn",
        "-sn",
        "-dn",
        "-map_metadata",
        "-1",
        *length,
        "-c:a",
        "aac",
        "-b:a",
        AUDIO_BITRATE,
        "-ac",
        "2",
        "-ar",
        "48000",
        *hls_output(into),
    ]


def audio_args(source_path: Path, source: SourceInfo, renditions: Sequence[tuple[int | None, Path]]) -> list[str]:
    """Every audio rendition in one ffmpeg run (the source is read and demuxed once): for each
    (audio stream index, folder), that stream as AAC-LC stereo 128 kb/s HLS. A source without sound
    gets one silent track of the same length (stream None), so every video has the same shape (an
    audio group) and plays in hls.js like any other."""
    if not renditions:
        raise ValueError("no audio rendition to make")
    if any(stream is None for stream, _ in renditions):
        if len(renditions) != 1 or source.has_audio:
            raise ValueError("a silent track is the only audio rendition of a source without sound")
        inputs = ["-f", "lavfi", "-i", "anullsrc=channel_layout=stereo:sample_rate=48000"]
        return [*inputs, *_aac(renditions[0][1], source.duration)]
    args = ["-i", _ffmpeg_path(source_path)]
    for stream, into in renditions:
        args += ["-map", f"0:a:{stream}", *_aac(into, source.duration)]
    return args


def added_audio_args(audio_path: Path, duration: float, into: Path) -> list[str]:
    """An audio file added to a published video: its first audio stream, cut or padded with silence to
    the video's length (an unknown length, 0, changes nothing), as the same AAC HLS rendition the
    pipeline makes (t=0 on the same MPEG-TS origin as the video)."""
    return ["-i", _ffmpeg_path(audio_path), "-map", "0:a:0", *_aac(into, duration)]


def subtitle_extract_args(source_path: Path, streams: Sequence[tuple[int, Path]]) -> list[str]:
    """The source's own text subtitle streams as WebVTT files, in one run: (subtitle stream index, file)."""
    args = ["-i", _ffmpeg_path(source_path)]
    for stream, into in streams:
        args += ["-map", f"0:s:{stream}", "-an", "-vn", "-dn", "-c:s", "webvtt", "-f", "webvtt", _ffmpeg_path(into)]
    return args


def cover_args(source_path: Path, at: float, size: RenditionSize, into: Path) -> list[str]:
    # No seek for the first frame: a stream without an index (a bare H.264 file) cannot seek even to 0
    # and then yields no frame at all.
    seek = ["-ss", f"{at:.3f}"] if at > 0 else []
    return [
        *seek,
        "-i",
        _ffmpeg_path(source_path),
        "-map",
        "0:v:0",
        "-frames:v",
        "1",
        "-an",
        "-sn",
        "-vf",
        f"{DEINTERLACE},scale={size.width}:{size.height}:flags=bicubic,setsar=1,{JPEG_PIXELS}",
        "-q:v",
        "3",
        "-f",
        "image2",
        "-update",
        "1",
        _ffmpeg_path(into),
    ]


def cover_candidates_args(
    source_path: Path, times: list[float], size: RenditionSize, gray: tuple[int, int], into: Path
) -> list[str]:
    """One run for every candidate cover frame: input `i` seeks to `times[i]` and yields one frame as
    `into/<i>.jpg` (the cover's size) and as `into/<i>.gray` (raw 8-bit luma, `gray` sized, to score)."""
    inputs: list[str] = []
    outputs: list[str] = []
    for index, at in enumerate(times):
        inputs += ["-ss", f"{at:.3f}", "-i", _ffmpeg_path(source_path)]
        stream = f"{index}:v:0"
        outputs += ["-map", stream, "-frames:v", "1", "-an", "-sn", "-dn"]
        scaled = f"{DEINTERLACE},scale={size.width}:{size.height}:flags=bicubic,setsar=1,{JPEG_PIXELS}"
        outputs += ["-vf", scaled, "-q:v", "3"]
        outputs += ["-f", "image2", "-update", "1", _ffmpeg_path(into / f"{index}.jpg")]
        outputs += ["-map", stream, "-frames:v", "1", "-an", "-sn", "-dn"]
        outputs += ["-vf", f"{DEINTERLACE},scale={gray[0]}:{gray[1]}:flags=area,format=gray", "-pix_fmt", "gray"]
        outputs += ["-f", "rawvideo", _ffmpeg_path(into / f"{index}.gray")]
    return [*inputs, *outputs]
