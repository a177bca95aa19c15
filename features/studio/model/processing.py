"""Processing a source file: the platform's limits, what probing found, the progress figure and
what the pipeline published."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.errors import InvalidInput


class UnreadableMedia(InvalidInput):
    """The uploaded file is not a video we can read, or breaks a limit; the reason is for the creator."""


@dataclass(frozen=True)
class VideoLimits:
    """What an upload may be: the platform's configurable limits."""

    max_bytes: int
    max_duration_seconds: float
    max_width: int
    max_height: int


@dataclass(frozen=True)
class SourceMeta:
    """What probing the source file told us (the shape of the pipeline's SourceInfo)."""

    duration: float
    width: int
    height: int
    video_codec: str | None
    audio_codec: str | None
    bit_rate: int | None
    frame_rate: float | None
    has_audio: bool
    rotation: int = 0
    format_name: str | None = None

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
        }

    def problem(self, limits: VideoLimits) -> str | None:
        """A human-readable reason why this source cannot be accepted, or None if it can."""
        if not self.video_codec or self.width <= 0 or self.height <= 0:
            return "This file has no video stream. Upload a video file (MP4, MOV, MKV, WebM…)."
        if not self.duration or self.duration <= 0:
            return "This video has no length (zero duration)."
        if self.duration > limits.max_duration_seconds:
            return f"This video is longer than the limit of {_hours(limits.max_duration_seconds)}."
        # Portrait sources are as acceptable as landscape ones: compare the long and short sides.
        long_side, short_side = max(self.width, self.height), min(self.width, self.height)
        if long_side > max(limits.max_width, limits.max_height) or short_side > min(
            limits.max_width, limits.max_height
        ):
            return (
                f"This video is {self.width}×{self.height}; the largest we accept is "
                f"{limits.max_width}×{limits.max_height}."
            )
        return None


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    if hours >= 1 and hours == int(hours):
        return f"{int(hours)} hour{'s' if hours != 1 else ''}"
    return f"{int(seconds // 60)} minutes"


@dataclass(frozen=True)
class ProcessingProgress:
    """One figure for the whole processing of a video: percent, the current step, time left."""

    percent: float
    step: str
    step_index: int
    steps: int
    eta_seconds: float | None
    updated_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "percent": self.percent,
            "step": self.step,
            "step_index": self.step_index,
            "steps": self.steps,
            "eta_seconds": self.eta_seconds,
            "updated_at": self.updated_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProcessingProgress:
        eta = data.get("eta_seconds")
        return cls(
            percent=float(data["percent"]),
            step=str(data["step"]),
            step_index=int(data["step_index"]),
            steps=int(data["steps"]),
            eta_seconds=None if eta is None else float(eta),
            updated_at=datetime.fromisoformat(str(data["updated_at"])),
        )


@dataclass(frozen=True)
class Transcoded:
    """What the pipeline published for a video: CIDs of the master playlist, every file and the tracks."""

    playlist: str
    manifest: Mapping[str, str]
    video_tracks: tuple[Mapping[str, Any], ...]
    audio_tracks: tuple[Mapping[str, Any], ...]
    subtitle_tracks: tuple[Mapping[str, Any], ...]
    cover: str | None
    duration: float | None
    published_bytes: int = 0  # the bytes of every published file, measured in the content store
    pending: tuple[str, ...] = ()  # renditions still converting after this publication (none: complete)
