"""Tiny media files made with the bundled ffmpeg's lavfi sources, for tests that need real clips."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def make_clip(
    path: Path,
    *,
    width: int = 320,
    height: int = 240,
    seconds: float = 2.0,
    rate: int = 25,
    tone: bool = True,
    rotation: int | None = None,
) -> Path:
    """An H.264 (+ AAC sine tone) MP4 test pattern; `rotation` sets a display-rotation matrix."""
    args = [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={rate}"]
    if tone:
        args += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
    args += ["-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    args += ["-c:a", "aac", "-b:a", "64k"] if tone else []
    if rotation is None:
        args.append(str(path))
        subprocess.run(args, check=True)
        return path
    plain = path.with_name(path.stem + ".plain.mp4")
    subprocess.run([*args, str(plain)], check=True)
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-display_rotation", str(rotation), "-i", str(plain), "-c", "copy", str(path)],
        check=True,
    )
    plain.unlink()
    return path


def make_tone(path: Path, seconds: float = 1.0) -> Path:
    """An audio-only AAC file."""
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", f"sine=duration={seconds}", "-c:a", "aac", str(path)],
        check=True,
    )
    return path


def make_still(path: Path) -> Path:
    """A single PNG picture."""
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1", str(path)],
        check=True,
    )
    return path


def make_multilingual_clip(
    path: Path,
    *,
    width: int = 720,
    height: int = 1280,
    seconds: float = 3.0,
    tones: tuple[tuple[str, int], ...] = (("eng", 440), ("fra", 660)),
    default: int = 0,
    subtitles: str | None = "1\n00:00:00,500 --> 00:00:01,500\nHello\n\n2\n00:00:02,000 --> 00:00:02,800\nBye\n",
    subtitle_language: str = "eng",
    commentary: int | None = None,
) -> Path:
    """An H.264 test pattern (portrait 720x1280 by default) with one AAC sine tone per (language, Hz) —
    stream `default` marked default, stream `commentary` marked a commentary — and, unless None, an SRT
    subtitle stream (mov_text in MP4, subrip in Matroska) tagged `subtitle_language`."""
    args = [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=25"]
    for _, hertz in tones:
        args += ["-f", "lavfi", "-i", f"sine=frequency={hertz}:sample_rate=48000"]
    maps = ["-map", "0:v"] + [arg for index in range(len(tones)) for arg in ("-map", f"{index + 1}:a")]
    if subtitles is not None:
        srt = path.with_suffix(".srt")
        srt.write_text(subtitles)
        args += ["-i", str(srt)]
        maps += ["-map", f"{len(tones) + 1}:s"]
    args += [*maps, "-t", str(seconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    args += ["-c:a", "aac", "-b:a", "64k"]
    if subtitles is not None:
        args += ["-c:s", "mov_text" if path.suffix == ".mp4" else "srt"]
        args += ["-metadata:s:s:0", f"language={subtitle_language}"]
    for index, (language, _) in enumerate(tones):
        flags = "default" if index == default else "0"
        if index == commentary:
            flags = "comment" if index != default else "default+comment"
        args += [f"-metadata:s:a:{index}", f"language={language}", f"-disposition:a:{index}", flags]
    args.append(str(path))
    subprocess.run(args, check=True)
    return path


def make_source(path: Path, *args: str) -> Path:
    """Whatever ffmpeg makes of `args` (inputs, filters, codecs, muxer options) at `path`."""
    subprocess.run([FFMPEG, "-v", "error", "-y", *args, str(path)], check=True)
    return path


def can_encode(encoder: str) -> bool:
    """Whether the bundled ffmpeg has `encoder` (AV1 encoders are not in every build)."""
    listed = subprocess.run([FFMPEG, "-hide_banner", "-encoders"], capture_output=True, text=True, check=True)
    return any(line.split()[1:2] == [encoder] for line in listed.stdout.splitlines())
