"""Transcoders: the pipeline feature's TranscodeService in the studio's words, and an in-memory one for tests."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from core.errors import Conflict
from core.pipeline import Progress, ProgressSink, UnitFailed
from features.pipeline.added_audio import AudioTrackError
from features.pipeline.model import ContentNotFound, ContentStoreError, ProbeError, TranscodeRequest, TranscodeResult
from features.pipeline.model import SubtitleSource as PipelineSubtitle
from features.pipeline.ports import FfmpegFailed
from features.pipeline.probe import UnreadableImage, read_image
from features.pipeline.service import TranscodeService
from features.pipeline.subtitles import SubtitleError, decode_text, to_webvtt
from features.studio.model import (
    InvalidAudioTrack,
    InvalidCover,
    InvalidSubtitle,
    SourceMeta,
    Transcoded,
    UnreadableMedia,
)
from features.studio.ports import AddedAudio, AddedSubtitle, TranscodeOrder

log = logging.getLogger("hypha.studio")


class PipelineTranscoder:
    """The pipeline feature's TranscodeService, in the studio's words."""

    def __init__(self, service: TranscodeService) -> None:
        self.service = service

    async def probe(self, path: Path) -> SourceMeta:
        try:
            info = await self.service.probe(path)
        except ProbeError as error:
            raise UnreadableMedia(error.message) from error
        facts = info.to_dict()
        return SourceMeta(**{f.name: facts[f.name] for f in fields(SourceMeta) if f.name in facts})

    async def transcode(
        self,
        order: TranscodeOrder,
        on_progress: ProgressSink | None = None,
        on_published: Callable[[Transcoded], Awaitable[None]] | None = None,
    ) -> Transcoded:
        request = TranscodeRequest(
            run_id=order.run_id,
            source=order.source,
            work_dir=order.work_dir,
            subtitles=tuple(PipelineSubtitle(s.path, s.language, s.label) for s in order.subtitles),
            key_uri=order.key_uri,
        )

        async def published(result: TranscodeResult) -> None:
            if on_published is not None:
                await on_published(await self._transcoded(result))

        return await self._transcoded(await self.service.transcode(request, on_progress, published))

    async def _transcoded(self, transcoded: TranscodeResult) -> Transcoded:
        result = transcoded.to_dict()
        cids = set(result["manifest"].values()) | {result["master_playlist_cid"]}
        if result["cover_cid"]:
            cids.add(result["cover_cid"])
        published = 0
        for cid in cids:  # the real bytes in the content store, for the creator's storage quota
            with contextlib.suppress(ContentNotFound):
                published += await self.service.published_size(cid)
        return Transcoded(
            playlist=result["master_playlist_cid"],
            manifest=result["manifest"],
            video_tracks=tuple(result["renditions"]),
            audio_tracks=tuple(result["audio_tracks"]),
            subtitle_tracks=tuple(result["subtitle_tracks"]),
            cover=result["cover_cid"],
            duration=result["duration"],
            published_bytes=published,
            pending=tuple(result.get("pending", ())),
        )

    async def published_file(self, cid: str) -> bytes | None:
        try:
            return await self.service.read_published(cid)
        except ContentNotFound:
            return None

    async def remove_published(self, cid: str) -> None:
        try:
            await self.service.unpublish(cid)
        except ContentStoreError as error:  # only space is lost: the video plays from its new master
            log.warning("could not remove the superseded file %s: %s", cid, error)

    async def forget(self, run_id: str) -> None:
        await self.service.forget(run_id)

    async def discard(self, run_id: str) -> None:
        await self.service.discard(run_id)

    async def check_image(self, data: bytes) -> None:
        await _check_image(data)

    async def check_subtitle(self, data: bytes) -> None:
        try:
            self.service.check_subtitle(data)
        except SubtitleError as error:
            raise InvalidSubtitle(error.message) from error

    async def add_subtitle_track(
        self, manifest: Mapping[str, str], duration: float, data: bytes, language: str, label: str
    ) -> AddedSubtitle:
        try:
            added = await self.service.add_subtitle_track(manifest, duration, data, language, label)
        except SubtitleError as error:
            raise InvalidSubtitle(error.message) from error
        except (ContentNotFound, KeyError, ValueError) as error:
            raise Conflict("This video's published files are incomplete: convert it again first.") from error
        return AddedSubtitle(added.manifest, added.master_playlist_cid, added.track)

    async def add_audio_track(
        self, run_id: str, manifest: Mapping[str, str], duration: float, audio: Path, language: str, name: str
    ) -> AddedAudio:
        try:
            added = await self.service.add_audio_track(run_id, manifest, duration, audio, language, name)
        except AudioTrackError as error:
            raise InvalidAudioTrack(error.message) from error
        except FfmpegFailed as error:
            raise InvalidAudioTrack("This sound file cannot be converted: it may be damaged.") from error
        except (ContentNotFound, KeyError, ValueError) as error:
            raise Conflict("This video's published files are incomplete: convert it again first.") from error
        published = 0
        for cid in set(added.manifest.values()) - set(manifest.values()):  # for the creator's storage quota
            with contextlib.suppress(ContentNotFound):
                published += await self.service.published_size(cid)
        return AddedAudio(added.manifest, added.master_playlist_cid, added.track, published)


async def _check_image(data: bytes) -> None:
    try:
        await asyncio.to_thread(read_image, data)  # decoding is CPU work: off the event loop
    except UnreadableImage as error:
        raise InvalidCover(error.message) from error


FAKE_MEDIA_MAGIC = b"HYPHA-FAKE-MEDIA\n"
FAKE_AUDIO_MAGIC = b"HYPHA-FAKE-AUDIO\n"
FAKE_JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 16 + b"\xff\xd9"
FAKE_STEPS = ("Converting subtitles", "Converting audio", "Converting to 480p", "Publishing")


def fake_media(meta: SourceMeta, padding: int = 0) -> bytes:
    """Bytes the in-memory transcoder reads as a video with `meta` (tests and demos without ffmpeg)."""
    return FAKE_MEDIA_MAGIC + json.dumps(meta.to_dict()).encode() + b"\n" + b"\0" * padding


@dataclass
class MemoryTranscoder:
    """Probes files written by `fake_media`, 'converts' in four reported steps, publishes fake CIDs.

    `fail_next` holds reasons: each run pops one and fails with it (a UnitFailed), like a flaky unit;
    `step_seconds` makes each step take that long (for tests of what happens meanwhile);
    `fail_permanently` fails every run with that reason as a permanent UnitFailed (a spent CPU budget).
    `upgrades` names higher renditions converted after the first publication (480p): each is then
    published with a new master; `hold_upgrades`, when given, is waited for before they start (tests
    watch the video playable while upgrading), and `fail_upgrades` fails them with that reason.
    """

    fail_next: list[str] = field(default_factory=list)
    step_seconds: float = 0.0
    fail_permanently: str | None = None
    upgrades: tuple[str, ...] = ()
    hold_upgrades: asyncio.Event | None = None
    fail_upgrades: str | None = None
    runs: list[TranscodeOrder] = field(default_factory=list)
    completed: set[str] = field(default_factory=set)
    forgotten: list[str] = field(default_factory=list)
    discarded: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # published files removed (superseded masters)

    async def probe(self, path: Path) -> SourceMeta:
        head = await asyncio.to_thread(_head, path)
        if not head.startswith(FAKE_MEDIA_MAGIC):
            raise UnreadableMedia("This file is not a video we can read.")
        try:
            data = json.loads(head[len(FAKE_MEDIA_MAGIC) :].split(b"\n", 1)[0])
            return SourceMeta(**data)
        except (ValueError, TypeError) as error:
            raise UnreadableMedia("This video file is damaged.") from error

    async def transcode(
        self,
        order: TranscodeOrder,
        on_progress: ProgressSink | None = None,
        on_published: Callable[[Transcoded], Awaitable[None]] | None = None,
    ) -> Transcoded:
        self.runs.append(order)
        if not order.source.is_file():
            raise UnitFailed("ConvertingInitial", "the source file is missing")
        steps = len(FAKE_STEPS)
        for index, step in enumerate(FAKE_STEPS):
            if self.step_seconds:
                await asyncio.sleep(self.step_seconds)
            if on_progress is not None:
                eta = float(steps - index)
                await on_progress(Progress(order.run_id, step, index + 1, steps, round(100 * index / steps, 1), eta))
            if index == 2 and self.fail_permanently:
                raise UnitFailed("ConvertVideoTo480p", self.fail_permanently, permanent=True)
            if index == 2 and self.fail_next:
                raise UnitFailed("ConvertVideoTo480p", self.fail_next.pop(0))
            if index == 2 and on_published is not None:  # playable in 480p before the last step
                await on_published(self._result(order, 0))
            if index == 2 and self.upgrades:
                if self.hold_upgrades is not None:
                    await self.hold_upgrades.wait()
                if self.fail_upgrades is not None:
                    raise UnitFailed(f"ConvertVideoTo{self.upgrades[0]}", self.fail_upgrades)
                for done in range(1, len(self.upgrades) + 1):
                    if on_published is not None:
                        await on_published(self._result(order, done))
        if on_progress is not None:
            await on_progress(Progress(order.run_id, FAKE_STEPS[-1], steps, steps, 100.0, 0.0, finished=True))
        self.completed.add(order.run_id)
        return self._result(order, len(self.upgrades))

    def _result(self, order: TranscodeOrder, upgraded: int) -> Transcoded:
        """The video as published with the first `upgraded` of `upgrades` added to 480p."""
        digest = hashlib.sha256(order.run_id.encode()).hexdigest()[:16]
        names = self.upgrades[:upgraded]
        master = f"fake-master-{digest}" + "".join(f"-{name}" for name in names)
        heights = {"720p": (1280, 720, 3_000_000), "1080p": (1920, 1080, 6_000_000)}
        higher = tuple(
            {"name": name, "width": heights[name][0], "height": heights[name][1], "bandwidth": heights[name][2]}
            for name in names
        )
        return Transcoded(
            playlist=master,
            manifest={
                "master.m3u8": master,
                "480p/index.m3u8": f"fake-480p-{digest}",
                **{f"{name}/index.m3u8": f"fake-{name}-{digest}" for name in names},
            },
            pending=self.upgrades[upgraded:],
            video_tracks=({"name": "480p", "width": 854, "height": 480, "bandwidth": 1_400_000}, *higher),
            audio_tracks=({"name": "Stereo", "language": "und", "playlist": "audio/index.m3u8"},),
            subtitle_tracks=tuple(
                {"language": s.language, "label": s.label, "playlist": f"subs/{s.language}.m3u8"}
                for s in order.subtitles
            ),
            cover=f"fake-cover-{digest}",
            duration=None,
        )

    async def published_file(self, cid: str) -> bytes | None:
        return FAKE_JPEG if cid.startswith("fake-cover-") else None

    async def remove_published(self, cid: str) -> None:
        self.removed.append(cid)

    async def forget(self, run_id: str) -> None:
        self.forgotten.append(run_id)
        self.completed.discard(run_id)

    async def discard(self, run_id: str) -> None:
        await self.forget(run_id)
        self.discarded.append(run_id)

    async def check_image(self, data: bytes) -> None:
        """The pipeline's own judgement (PyAV in this process, as the real one)."""
        await _check_image(data)

    async def check_subtitle(self, data: bytes) -> None:
        """The pipeline's own judgement (pure text work, no ffmpeg)."""
        try:
            to_webvtt(decode_text(data), mpegts_origin=0)
        except SubtitleError as error:
            raise InvalidSubtitle(error.message) from error

    async def add_subtitle_track(
        self, manifest: Mapping[str, str], duration: float, data: bytes, language: str, label: str
    ) -> AddedSubtitle:
        """A fake rendition: a new fake master CID naming the track (the real conversion is the pipeline's)."""
        playlist = f"subs/late-{language}.m3u8"
        digest = hashlib.sha256(json.dumps([sorted(manifest.items()), playlist]).encode()).hexdigest()[:16]
        published = {**manifest, playlist: f"fake-subs-{digest}", "master.m3u8": f"fake-master-{digest}"}
        track = {"language": language, "label": label or language, "playlist": playlist}
        return AddedSubtitle(published, published["master.m3u8"], track)

    async def add_audio_track(
        self, run_id: str, manifest: Mapping[str, str], duration: float, audio: Path, language: str, name: str
    ) -> AddedAudio:
        """A fake rendition for a file written by `fake_audio` (the real encoding is the pipeline's)."""
        head = await asyncio.to_thread(_head, audio)
        if not head.startswith(FAKE_AUDIO_MAGIC):
            raise InvalidAudioTrack("This file is not audio: it contains no sound.")
        folder = f"audio-{1 + sum(1 for p in manifest if p.startswith('audio-') and p.endswith('/index.m3u8'))}"
        playlist = f"{folder}/index.m3u8"
        digest = hashlib.sha256(json.dumps([sorted(manifest.items()), playlist]).encode()).hexdigest()[:16]
        published = {**manifest, playlist: f"fake-audio-{digest}", "master.m3u8": f"fake-master-{digest}"}
        track = {"name": name or language, "language": language, "playlist": playlist, "default": False}
        return AddedAudio(published, published["master.m3u8"], track | {"autoselect": True, "channels": 2})


def _head(path: Path, size: int = 4096) -> bytes:
    with path.open("rb") as fh:
        return fh.read(size)
