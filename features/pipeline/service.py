"""Transcoding use cases: probe a source, run the pipeline, hand out keys and published bytes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from features.pipeline.model import SourceInfo
from features.pipeline.probe import probe_media


class TranscodeService:
    """The pipeline feature's face to the rest of Hypha."""

    async def probe(self, path: Path) -> SourceInfo:
        """Facts about the media file at `path` (duration, size, codecs, rotation...).

        Raises ProbeError with a human-readable reason when the file is not a usable video: not a
        media file or unreadable, a still image, no video stream, zero or unknown duration. Limits
        (size, duration, resolution) are not checked here.
        """
        return await asyncio.to_thread(probe_media, Path(path))
