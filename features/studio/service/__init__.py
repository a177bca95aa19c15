"""Studio use cases: create a video, receive its source over tus, check it, convert it, show progress.

The story of one video:
  create_video           → DRAFT
  create_upload          → UPLOADING (a tus upload with a declared length)
  receive                  bytes arrive in chunks, straight to blob storage, offset kept in the database
  (last byte)            → probe → UPLOADED + a transcode job in the queue, or REJECTED + bytes deleted
  process (the job)      → CONVERTING, progress figures published live → READY, or FAILED after retries
  retry                  → UPLOADED again; the pipeline resumes from its last completed unit

Every change of a video is published on the EventBus topic `user:<owner id>` as a `video` event
with a small payload — {video_id, public_id, state (upper case, e.g. "CONVERTING", "READY"), and
percent/step/eta, queue_position, title, reason when they apply}; web processes render the tile
from the stored video, and the notifications feature mails about READY and FAILED.

The stories live in their own modules — videos (reading and editing), uploads (tus and quotas),
processing (the fair queue, conversion and progress) — on what they share (base).
"""

from __future__ import annotations

from features.studio.service.base import (
    DEFAULT_QUOTA,
    EVENT,
    FINAL_NEWS,
    REASON_MAX,
    TRANSCODE_JOB,
    StudioPolicy,
    job_key_for,
    topic_for,
)
from features.studio.service.processing import JobProgress, ProcessingUseCases
from features.studio.service.uploads import FLUSH_BYTES, LEASE, UploadUseCases
from features.studio.service.videos import VideoTile, VideoUseCases


class StudioService(VideoUseCases, UploadUseCases, ProcessingUseCases):
    """What creators do with their videos, and what other features read about videos."""


__all__ = [
    "DEFAULT_QUOTA",
    "EVENT",
    "FINAL_NEWS",
    "FLUSH_BYTES",
    "LEASE",
    "REASON_MAX",
    "TRANSCODE_JOB",
    "JobProgress",
    "StudioPolicy",
    "StudioService",
    "VideoTile",
    "job_key_for",
    "topic_for",
]
