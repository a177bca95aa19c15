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
