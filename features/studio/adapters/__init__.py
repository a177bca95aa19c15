"""Studio adapters, by story: videos, uploads and quotas, transcoders (wired in features.studio.module)."""

from __future__ import annotations

from features.studio.adapters.transcoders import (
    FAKE_JPEG,
    FAKE_MEDIA_MAGIC,
    FAKE_STEPS,
    MemoryTranscoder,
    PipelineTranscoder,
    fake_media,
)
from features.studio.adapters.uploads import (
    MemoryQuotaRepository,
    MemoryUploadRepository,
    PiccoloUploadRepository,
    PostgresQuotaRepository,
)
from features.studio.adapters.videos import MemoryVideoRepository, PiccoloVideoRepository

__all__ = [
    "FAKE_JPEG",
    "FAKE_MEDIA_MAGIC",
    "FAKE_STEPS",
    "MemoryQuotaRepository",
    "MemoryTranscoder",
    "MemoryUploadRepository",
    "MemoryVideoRepository",
    "PiccoloUploadRepository",
    "PiccoloVideoRepository",
    "PipelineTranscoder",
    "PostgresQuotaRepository",
    "fake_media",
]
