"""Portability: a creator's published videos as IPFS directories, taken away as CAR files.

Each published video is one UnixFS directory (its manifest's files; media playlists name the key by
its absolute URL on Hypha, so `<gateway>/ipfs/<root>/master.m3u8` plays with the key still checked
here). The whole library is ONE CARv1 file whose roots are the videos' roots, in the order of the
JSON manifest, so `ipfs dag import library.car` pins every video (docs/portability.md).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from core.clock import Clock
from core.eventlog import EventLog, EventSelection
from features.pipeline.ipfs import DirectoryTooLarge
from features.pipeline.model import ContentStoreError
from features.pipeline.service import IpfsDirectory, TranscodeService
from features.playback.model import LoginToWatch, PlaybackLocked
from features.playback.service import PlaybackService
from features.portability.car import car_block, car_header
from features.portability.model import CarExport, LibraryEntry, NothingToExport, StoredRoot, source_digest
from features.portability.ports import RootRepository
from features.studio.model import Video, VideoState
from features.studio.service import StudioService
from features.unlocks.service import PricingService

PLAYABLE = frozenset({VideoState.READY, VideoState.PUBLISHED})
LIBRARY_LIMIT = 10_000
ROOTS_CONSUMER = "portability"  # this feature's consumer name in core's event log
# The studio's "video" events of a video that became (or, with new subtitles, stays) playable.
PLAYABLE_NEWS = EventSelection(
    frozenset({"video"}), {"video": frozenset({VideoState.READY.name, VideoState.PUBLISHED.name})}, "user:"
)
ROOTS_BATCH = 50
ROOTS_GRACE = timedelta(seconds=30)
log = logging.getLogger("hypha.portability")


@dataclass(frozen=True)
class PortabilityPolicy:
    public_url: str  # BASE_URL: the published playlists fetch the key from here


class PortabilityService:
    def __init__(
        self,
        roots: RootRepository,
        studio: StudioService,
        pricing: PricingService,
        media: TranscodeService,
        playback: PlaybackService,
        clock: Clock,
        policy: PortabilityPolicy,
        events: EventLog | None = None,
    ) -> None:
        self.roots = roots
        self.studio = studio
        self.pricing = pricing
        self.media = media
        self.playback = playback
        self.clock = clock
        self.policy = policy
        self.events = events

    def key_url(self, video: Video) -> str:
        """The absolute URL the IPFS copy's playlists fetch the key from (entitlement-checked)."""
        return f"{self.policy.public_url.rstrip('/')}/v/{video.public_id}/key"

    async def directory(self, video: Video) -> IpfsDirectory:
        """The video's IPFS directory (computed; its root is stored for the pages)."""
        key_url = self.key_url(video)
        directory = await self.media.ipfs_directory(video.manifest, key_url)
        digest = source_digest(video.manifest, key_url)
        stored = (await self.roots.get_many([video.id])).get(video.id)
        if stored is None or stored.source_digest != digest or stored.root_cid != directory.root:
            await self.roots.put(StoredRoot(video.id, digest, directory.root, self.clock.now()))
        return directory

    async def root_of(self, video: Video) -> str:
        """The video's root: the stored one while the video's files are unchanged, else computed now."""
        stored = (await self.roots.get_many([video.id])).get(video.id)
        if stored is not None and stored.source_digest == source_digest(video.manifest, self.key_url(video)):
            return stored.root_cid
        return (await self.directory(video)).root

    async def record_new_roots(self) -> int:
        """Compute and store the root of every video the studio announced as ready or published since
        the last call (the event log's consumer "portability", every minute in the worker), so the
        pages find it stored. A video whose files cannot make a directory is logged and skipped (its
        export then says why). Returns how many videos got a root."""
        if self.events is None:
            return 0
        recorded = 0
        while True:
            async with self.events.batch(
                ROOTS_CONSUMER, PLAYABLE_NEWS, ROOTS_BATCH, ROOTS_GRACE, self.clock.now()
            ) as batch:
                for video_id in dict.fromkeys(str(e.data.get("video_id", "")) for e in batch.events):
                    recorded += await self._record(video_id)
            if batch.exhausted:
                return recorded

    async def _record(self, video_id: str) -> int:
        try:
            video = await self.studio.get_video(UUID(video_id))
        except ValueError:
            return 0
        if video is None or not video.is_playable or not video.manifest:
            return 0
        try:
            await self.root_of(video)
        except (ContentStoreError, DirectoryTooLarge) as error:
            log.warning("no IPFS root for video %s: %s", video.id, error)
            return 0
        return 1

    async def _playable(self, owner_id: UUID) -> list[Video]:
        videos = await self.studio.list_for_owner(owner_id, limit=LIBRARY_LIMIT, states=PLAYABLE)
        return sorted((v for v in videos if v.is_playable and v.manifest), key=lambda v: (v.created_at, v.public_id))

    async def _owned_playable(self, owner_id: UUID, video_id: UUID) -> Video:
        video = await self.studio.owned_video(owner_id, video_id)  # another's video: VideoNotFound (404)
        if not video.is_playable or not video.manifest:
            raise NothingToExport()
        return video

    async def library(self, owner_id: UUID) -> list[LibraryEntry]:
        """The creator's published videos with their IPFS roots, oldest first."""
        return [
            LibraryEntry(v.id, v.public_id, v.title, await self.root_of(v), v.created_at)
            for v in await self._playable(owner_id)
        ]

    async def manifest(self, owner_id: UUID, video_id: UUID | None = None) -> dict[str, Any]:
        """The JSON manifest of an export: each video's title, prices, created date, root and files."""
        videos = [await self._owned_playable(owner_id, video_id)] if video_id else await self._playable(owner_id)
        entries = []
        for video in videos:
            directory = await self.directory(video)
            pricing = await self.pricing.pricing_for(video.id)
            entries.append(
                {
                    "title": video.title,
                    "description": video.description,
                    "public_id": video.public_id,
                    "created_at": video.created_at.isoformat(),
                    "duration_seconds": video.duration,
                    "free": pricing.free,
                    "prices_points": {offer.value: price for offer, price in pricing.offers},
                    "root_cid": directory.root,
                    "master_playlist": f"{directory.root}/{video.playlist or 'master.m3u8'}",
                    "key_url": self.key_url(video),
                    "files": {path: entry.cid for path, entry in sorted(directory.files.items())},
                }
            )
        return {
            "format": "hypha-library/1",
            "exported_at": self.clock.now().isoformat(),
            "car_roots": [entry["root_cid"] for entry in entries],
            "videos": entries,
        }

    async def car(self, owner_id: UUID, video_id: UUID | None = None) -> CarExport:
        """A CARv1 file of one published video (`video_id`) or of all of them, one root per video.

        The directories are computed first (the header names their roots); then every file's blocks
        are read from the content store and written one 256 KiB block at a time, so memory does not
        grow with the export. A block in several videos (the same file) is written once. Raises
        VideoNotFound for another's video, NothingToExport when there is nothing published."""
        videos = [await self._owned_playable(owner_id, video_id)] if video_id else await self._playable(owner_id)
        if not videos:
            raise NothingToExport()
        directories = [await self.directory(video) for video in videos]
        roots = list(dict.fromkeys(d.root for d in directories))
        name = f"hypha-{videos[0].public_id}.car" if video_id else "hypha-library.car"
        return CarExport(name, roots, self._car_chunks(roots, directories))

    async def _car_chunks(self, roots: list[str], directories: list[IpfsDirectory]) -> AsyncIterator[bytes]:
        yield car_header(roots)
        files_done: set[str] = set()
        nodes_done: set[str] = set()
        for directory in directories:
            for entry in directory.files.values():
                if entry.cid in files_done:
                    continue
                files_done.add(entry.cid)
                async for block in self.media.file_blocks(entry.cid):
                    yield car_block(block.cid, block.data)
            for block in directory.blocks:
                if block.cid not in nodes_done:
                    nodes_done.add(block.cid)
                    yield car_block(block.cid, block.data)

    async def for_viewer(self, viewer_id: UUID | None, public_id: str) -> str:
        """The video's root, for a viewer with full access; raises like the key does otherwise."""
        video, access = await self.playback.access(viewer_id, public_id)
        if not access.full:
            raise LoginToWatch() if viewer_id is None else PlaybackLocked()
        return await self.root_of(video)
