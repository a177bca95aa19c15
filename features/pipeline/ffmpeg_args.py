"""The ffmpeg command lines of the units, module-level so the benchmark can run exactly the same ones
bare: HLS output, one H.264 rendition, the AAC audio rendition, the cover frame."""

from __future__ import annotations

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


def _ffmpeg_path(path: Path) -> str:
    """An absolute path never reads as an option or a protocol ("-x", "concat:..."); `%` is literal."""
    return str(path.resolve())


def hls_output(directory: Path) -> list[str]:
    """MPEG-TS HLS, ~4 s segments, timestamps unshifted (source t=0 is MPEG-TS `MPEGTS_ORIGIN`)."""
    segments = _ffmpeg_path(directory).replace("%", "%%") + "/seg_%05d.ts"
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


def output_frame_rate(source: SourceInfo) -> float:
    return min(source.frame_rate or 25.0, MAX_FRAME_RATE)


def video_args(
    source_path: Path, source: SourceInfo, size: RenditionSize, spec: RenditionSpec, into: Path
) -> list[str]:
    """One H.264 rendition: scaled (rotation applied by ffmpeg), square pixels, fixed 2 s GOPs."""
    fps = output_frame_rate(source)
    gop = max(1, round(fps * KEYFRAME_SECONDS))
    filters = [f"scale={size.width}:{size.height}:flags=bicubic", "setsar=1", "format=yuv420p"]
    if source.frame_rate and source.frame_rate > MAX_FRAME_RATE:
        filters.insert(0, f"fps={MAX_FRAME_RATE:g}")
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
        spec.level,
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
        *hls_output(into),
    ]


def audio_args(source_path: Path, source: SourceInfo, into: Path) -> list[str]:
    """AAC-LC stereo 128 kb/s; a source without sound gets a silent track of the same length, so
    every video has the same shape (one audio group) and plays in hls.js like any other."""
    if source.has_audio:
        inputs = ["-i", _ffmpeg_path(source_path), "-map", "0:a:0"]
    else:
        inputs = ["-f", "lavfi", "-i", "anullsrc=channel_layout=stereo:sample_rate=48000"]
        inputs += ["-t", f"{source.duration:.3f}"]
    return [
        *inputs,
        "-vn",
        "-sn",
        "-dn",
        "-map_metadata",
        "-1",
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


def cover_args(source_path: Path, at: float, size: RenditionSize, into: Path) -> list[str]:
    return [
        "-ss",
        f"{at:.3f}",
        "-i",
        _ffmpeg_path(source_path),
        "-map",
        "0:v:0",
        "-frames:v",
        "1",
        "-an",
        "-sn",
        "-vf",
        f"scale={size.width}:{size.height}:flags=bicubic,setsar=1",
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
        outputs += ["-vf", f"scale={size.width}:{size.height}:flags=bicubic,setsar=1", "-q:v", "3"]
        outputs += ["-f", "image2", "-update", "1", _ffmpeg_path(into / f"{index}.jpg")]
        outputs += ["-map", stream, "-frames:v", "1", "-an", "-sn", "-dn"]
        outputs += ["-vf", f"scale={gray[0]}:{gray[1]}:flags=area,format=gray", "-pix_fmt", "gray"]
        outputs += ["-f", "rawvideo", _ffmpeg_path(into / f"{index}.gray")]
    return [*inputs, *outputs]
