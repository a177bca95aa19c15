"""Receiving a source file: the tus Upload, its errors, and the creator's quotas."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from core.errors import Conflict, InvalidInput, NotFound


class UploadNotFound(NotFound):
    message = "We could not find that upload."


class UploadExpired(NotFound):
    """The upload was not finished in time (or its record outlived its window): HTTP 410 on the tus endpoint."""

    message = "This upload has expired. Start the upload again."


class UploadTooLarge(InvalidInput):
    """A declared or streamed upload is larger than allowed (HTTP 413 on the tus endpoint)."""


class QuotaExceeded(UploadTooLarge):
    """A tus create would take the creator past a quota; the message names the quota and the usage."""


@dataclass(frozen=True)
class Quota:
    """What one creator may keep and upload: total storage, and bytes per rolling 24 hours."""

    storage_bytes: int
    daily_upload_bytes: int


@dataclass(frozen=True)
class QuotaUsage:
    """A creator's usage against their quota.

    `stored_bytes` counts real bytes recorded when stored — sources, published files (renditions,
    playlists, cover) — plus the declared length of uploads still in progress (reserved).
    `uploaded_bytes` counts the declared lengths of uploads started in the last 24 hours (rolling).
    """

    quota: Quota
    stored_bytes: int
    uploaded_bytes: int
    overridden: bool = False

    def refusal(self, length: int) -> str | None:
        """Why an upload of `length` more bytes is refused, or None if both quotas allow it."""
        if self.stored_bytes + length > self.quota.storage_bytes:
            return (
                f"This upload ({size_text(length)}) would exceed your storage quota: you use "
                f"{size_text(self.stored_bytes)} of {size_text(self.quota.storage_bytes)}."
            )
        if self.uploaded_bytes + length > self.quota.daily_upload_bytes:
            return (
                f"This upload ({size_text(length)}) would exceed your daily upload allowance: you uploaded "
                f"{size_text(self.uploaded_bytes)} of {size_text(self.quota.daily_upload_bytes)} in the last 24 hours."
            )
        return None

    @staticmethod
    def percent(used: int, limit: int) -> int:
        """Whole percent of `limit` used, 0–100 (a zero limit counts as full)."""
        if limit <= 0:
            return 100
        return min(100, used * 100 // limit)

    @property
    def storage_percent(self) -> int:
        return self.percent(self.stored_bytes, self.quota.storage_bytes)

    @property
    def upload_percent(self) -> int:
        return self.percent(self.uploaded_bytes, self.quota.daily_upload_bytes)


def size_text(n: int) -> str:
    """Bytes as people read them: 1.5 GB, 20 MB, 512 bytes."""
    for unit, factor in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= factor:
            value = n / factor
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n} bytes"


class UploadOffsetMismatch(Conflict):
    """A PATCH did not start where the upload stands (HTTP 409 on the tus endpoint)."""

    def __init__(self, expected: int, given: int) -> None:
        super().__init__(f"The upload is at byte {expected}, not {given}.")
        self.expected = expected
        self.given = given


class UploadBusy(Conflict):
    """Another request is writing to this upload right now (HTTP 423 on the tus endpoint)."""

    message = "This upload is receiving bytes in another request."


@dataclass(frozen=True)
class Upload:
    """A tus upload of a video's source file: how long it will be and how much has arrived.

    Its bytes live in blob storage under a key built from the upload's random id — never from
    the name of the file on the creator's disk, which is kept only to be shown.
    """

    id: str
    video_id: UUID
    owner_id: UUID
    length: int
    offset: int
    created_at: datetime
    filename: str = ""
    # When the upload is forgotten: an unfinished one with its bytes (it was abandoned), a finished
    # one only its record (its bytes became the video's source). None: never (records made before
    # expiry existed are given one by the migration).
    expires_at: datetime | None = None
    finished_at: datetime | None = None  # the last byte arrived and the file was checked

    @property
    def blob_key(self) -> str:
        return f"uploads/{self.id}"

    @property
    def complete(self) -> bool:
        return self.offset >= self.length

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now
