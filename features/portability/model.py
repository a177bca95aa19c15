"""Portability's values: a video's stored IPFS root, the library as the creator takes it away."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from core.errors import NotFound


class NothingToExport(NotFound):
    """The creator has no published video (or not this one) to export."""

    def __init__(self) -> None:
        super().__init__("There is no published video to export.")


@dataclass(frozen=True)
class StoredRoot:
    """A video's IPFS directory root, computed from what `source_digest` fingerprints."""

    video_id: UUID
    source_digest: str
    root_cid: str
    computed_at: datetime


def source_digest(manifest: Mapping[str, str], key_url: str) -> str:
    """Fingerprint of what a video's directory is made of (same inputs, same root)."""
    text = json.dumps([sorted(manifest.items()), key_url], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class LibraryEntry:
    """One published video of a creator's library, with its IPFS root."""

    video_id: UUID
    public_id: str
    title: str
    root_cid: str
    created_at: datetime


@dataclass(frozen=True)
class CarExport:
    """A CARv1 download: its file name, its roots, and its bytes as they are produced."""

    filename: str
    roots: list[str]
    chunks: AsyncIterator[bytes]
