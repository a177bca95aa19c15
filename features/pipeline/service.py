"""Transcoding use cases: probe a source, run the pipeline, hand out keys and published bytes."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.pipeline import CheckpointStore, Executor, Pipeline, ProgressSink, UnitFailed
from features.pipeline.added_audio import PublishedAudio, publish_added_audio
from features.pipeline.hls import MPEGTS_ORIGIN, add_subtitle_rendition, with_key_url
from features.pipeline.ipfs import CHUNK_SIZE, Block, DagBuilder, FileEntry, directory_dag, tsize_of_size
from features.pipeline.model import ContentStoreError, SourceInfo, TranscodeRequest, TranscodeResult, VideoKey
from features.pipeline.ports import ContentStore, FfmpegRunner, KeyStore
from features.pipeline.probe import probe_media
from features.pipeline.subtitles import SubtitleError, decode_text, subtitle_playlist, to_webvtt, valid_language
from features.pipeline.units import (
    MASTER,
    MAX_SUBTITLE_BYTES,
    TRANSCODE,
    PipelineTools,
    PublishedHook,
    pipeline_params,
)
from features.pipeline.work_dir import run_lock, work_dir_matches


@dataclass(frozen=True)
class PublishedSubtitle:
    """A subtitles rendition added to a published video: the video's new manifest (every file's CID),
    its new master playlist's CID, and the track as the pipeline describes its own."""

    manifest: dict[str, str]
    master_playlist_cid: str
    track: dict[str, str]


@dataclass(frozen=True)
class IpfsDirectory:
    """A published video as one UnixFS directory: `root` is what `ipfs add -r --cid-version 1
    --raw-leaves` prints for the tree `files` (path -> CID and Tsize) describes; `blocks` are its
    directory nodes (the files' own blocks come from the content store: `TranscodeService.file_blocks`).

    The tree is the video's manifest (every published file, never the key) except the media
    playlists, whose copies here name the key by its absolute URL so that a gateway can serve them."""

    root: str
    files: dict[str, FileEntry]
    blocks: list[Block]


class TranscodeService:
    """The pipeline feature's face to the rest of Hypha.

    `pipeline` defaults to the full transcoding pipeline; tests may pass another composition of
    units (same unit names share checkpoints).
    """

    def __init__(
        self,
        checkpoints: CheckpointStore,
        keys: KeyStore,
        content: ContentStore,
        ffmpeg: FfmpegRunner,
        pipeline: Pipeline = TRANSCODE,
    ) -> None:
        self.checkpoints = checkpoints
        self.keys = keys
        self.content = content
        self.ffmpeg = ffmpeg
        self.pipeline = pipeline

    async def probe(self, path: Path) -> SourceInfo:
        """Facts about the media file at `path` (duration, size, codecs, rotation...).

        Raises ProbeError with a human-readable reason when the file is not a usable video: not a
        media file or unreadable, a still image, no video stream, zero or unknown duration. Limits
        (size, duration, resolution) are not checked here.
        """
        return await asyncio.to_thread(probe_media, Path(path))

    async def transcode(
        self,
        request: TranscodeRequest,
        on_progress: ProgressSink | None = None,
        on_published: PublishedHook | None = None,
    ) -> TranscodeResult:
        """Run the pipeline for `request` to the end and return what it published.

        `on_published` hears of every publication before the end: the video playable in its first
        rendition (all audio, subtitles, key), then again with each higher rendition added — each
        time the whole video as published so far (a manifest naming every file its master names).

        Resumable: units already completed for `request.run_id` (checkpointed) are skipped, so calling
        this again after a crash, a kill or a failure continues at the first incomplete unit; calling
        it after success returns the same result without doing any work. If the work dir no longer
        holds what the recorded units made (another machine, wiped), the run starts over. Concurrent
        calls for one run on one machine take turns (the later one then finds the work done). Progress of the whole run
        goes to `on_progress`. Raises core.pipeline.UnitFailed (`.unit`, `.reason` in words a creator
        can read) when a unit fails; completed units stay recorded. The source file is only read.
        """
        tools = PipelineTools(ffmpeg=self.ffmpeg, keys=self.keys, content=self.content)
        executor = Executor(self.checkpoints, on_progress=on_progress)
        async with run_lock(request.work_dir):
            if not work_dir_matches(await self.checkpoints.completed(request.run_id), request):
                # Recorded on another machine, or the files are gone: start over (same key, same CIDs).
                await self.checkpoints.clear(request.run_id)
            try:
                outputs = await executor.run(
                    self.pipeline, request.run_id, pipeline_params(request, tools, on_published)
                )
            except UnitFailed as error:
                raise _without_server_paths(error, request) from error
        return TranscodeResult.from_dict(outputs[self.pipeline.units[-1].name])

    def check_subtitle(self, data: bytes) -> None:
        """Raise SubtitleError (saying why) unless `data` is a subtitle file the pipeline can publish:
        SRT or WebVTT with at least one cue, no larger than the pipeline takes."""
        if len(data) > MAX_SUBTITLE_BYTES:
            raise SubtitleError("This subtitle file is too large.")
        to_webvtt(decode_text(data), mpegts_origin=MPEGTS_ORIGIN)

    async def add_subtitle_track(
        self, manifest: Mapping[str, str], duration: float, data: bytes, language: str, label: str
    ) -> PublishedSubtitle:
        """Publish one more subtitles rendition of an already published video, without touching its
        video or audio: the file as WebVTT (on the segments' MPEG-TS timeline, like the pipeline's own
        tracks) and its media playlist go into the content store, then a new master playlist that
        names them. Nothing already published changes; the caller swaps in the returned manifest.

        Raises SubtitleError (not SRT/WebVTT, no cue, too large, a bad language tag or one the video
        already has) and ContentNotFound when the published master playlist is gone."""
        if not valid_language(language):
            raise SubtitleError(f"{language!r} is not a language tag such as 'en' or 'pt-BR'.")
        if len(data) > MAX_SUBTITLE_BYTES:
            raise SubtitleError(f"The {language} subtitle file is too large.")
        master = await self.content.read(manifest[MASTER])
        existing = sorted(path for path in manifest if path.startswith("subs/") and path.endswith(".m3u8"))
        if any(Path(path).stem.split("-", 1)[-1] == language for path in existing):
            raise SubtitleError(f"There is already a subtitle file in “{language}”.")
        vtt = to_webvtt(decode_text(data), mpegts_origin=MPEGTS_ORIGIN)
        name = f"{len(existing)}-{language}"
        label = " ".join(label.replace('"', "'").split()) or language
        playlist = f"subs/{name}.m3u8"
        new_master = add_subtitle_rendition(master.decode("utf-8"), label, language, playlist)
        published = dict(manifest)
        with tempfile.TemporaryDirectory(prefix="hypha-subs-") as tmp:
            files = {
                f"subs/{name}.vtt": vtt,
                playlist: subtitle_playlist(f"{name}.vtt", duration),
                MASTER: new_master,
            }
            for path, text in files.items():
                local = Path(tmp) / path.replace("/", "_")
                local.write_text(text, encoding="utf-8")
                published[path] = await self.content.put_file(local)
        track = {"language": language, "label": label, "playlist": playlist}
        return PublishedSubtitle(published, published[MASTER], track)

    async def ipfs_directory(self, manifest: Mapping[str, str], key_url: str) -> IpfsDirectory:
        """The published files of `manifest` as one IPFS directory whose media playlists fetch the key
        from `key_url` (absolute). Their copies go into the content store (idempotent: the same
        manifest and URL always give the same root). Raises ContentNotFound when a file is gone,
        ipfs.DirectoryTooLarge for a directory IPFS would shard."""
        files: dict[str, FileEntry] = {}
        with tempfile.TemporaryDirectory(prefix="hypha-ipfs-") as tmp:
            for path, cid in sorted(manifest.items()):
                if path.endswith(".m3u8") and path != MASTER:
                    text = (await self.content.read(cid)).decode("utf-8")
                    if "#EXT-X-KEY" in text:
                        local = Path(tmp) / "playlist.m3u8"
                        local.write_text(with_key_url(text, key_url), encoding="utf-8")
                        cid = await self.content.put_file(local)
                files[path] = FileEntry(cid, tsize_of_size(await self.content.size(cid)))
        directory = await asyncio.to_thread(directory_dag, files)
        return IpfsDirectory(directory.root, files, directory.blocks)

    async def file_blocks(self, cid: str) -> AsyncIterator[Block]:
        """Every block of the published file `cid` (leaves and dag-pb nodes, the root last), read
        from the content store one 256 KiB chunk at a time. Raises ContentNotFound, and
        ContentStoreError when the stored bytes do not give `cid` back."""
        builder = DagBuilder()
        offset = 0
        last = ""
        while True:
            chunk = await self.content.read(cid, offset, CHUNK_SIZE)
            for block in builder.add(chunk):
                last = block.cid
                yield block
            offset += len(chunk)
            if len(chunk) < CHUNK_SIZE:
                break
        for block in builder.finish():
            last = block.cid
            yield block
        if last != cid:
            raise ContentStoreError(f"the stored bytes of {cid} no longer hash to it")

    async def add_audio_track(
        self, run_id: str, manifest: Mapping[str, str], duration: float, audio: Path, language: str, name: str
    ) -> PublishedAudio:
        """Publish one more audio rendition of the already published video of `run_id`, without touching
        its video, its other audio or its subtitles: the file at `audio` (probed: it must hold sound) is
        encoded like the pipeline's own audio, sealed with the video's key, and named (`name`, `language`)
        in a new master playlist. Nothing already published changes; the caller swaps in the returned
        manifest. The file at `audio` is only read.

        Raises AudioTrackError (not audio, a bad language or a name the video has, too many tracks),
        ContentNotFound / KeyError when the published files or the key are gone, FfmpegFailed."""
        return await publish_added_audio(
            content=self.content,
            ffmpeg=self.ffmpeg,
            key=await self.keys.get(run_id),
            manifest=manifest,
            duration=duration,
            audio=Path(audio),
            language=language,
            name=name,
        )

    async def key_for(self, run_id: str) -> VideoKey | None:
        """The AES-128 key and base IV of `run_id`'s segments (None before Publish480p sealed anything).

        For the playback feature only: hand it to a viewer entitled to watch.
        """
        return await self.keys.get(run_id)

    async def read_published(self, cid: str, offset: int = 0, length: int | None = None) -> bytes:
        """Bytes `[offset, offset + length)` of a published file. Raises ContentNotFound."""
        return await self.content.read(cid, offset, length)

    async def published_size(self, cid: str) -> int:
        """Size in bytes of a published file. Raises ContentNotFound."""
        return await self.content.size(cid)

    async def unpublish(self, cid: str) -> None:
        """Remove a published file nothing references any more (a superseded master playlist) from the
        content store. Idempotent. Raises ContentStoreError."""
        await self.content.remove(cid)

    async def discard(self, run_id: str) -> None:
        """Destroy a run for good: its checkpoints and work files go (as with `forget`) and so does its
        AES key, so the encrypted segments it published can never be decrypted again (the
        content-addressed store may share bytes between runs, so the segments themselves stay)."""
        await self.forget(run_id)
        await self.keys.delete(run_id)

    async def forget(self, run_id: str, work_dir: Path | None = None) -> None:
        """Start `run_id` over: drop its checkpoints and its work directory (the one recorded, and
        `work_dir` if given). Waits for a run in progress on this machine to end first. The key is
        kept, so a retry publishes byte-identical segments and re-uses the CIDs already published."""
        recorded = _recorded_work_dir(await self.checkpoints.completed(run_id))
        directories = {d.resolve() for d in (work_dir, recorded) if d is not None}
        async with contextlib.AsyncExitStack() as locks:
            for directory in sorted(directories):
                await locks.enter_async_context(run_lock(directory))
            await self.checkpoints.clear(run_id)
            for directory in directories:
                await asyncio.to_thread(shutil.rmtree, directory, True)


def _without_server_paths(error: UnitFailed, request: TranscodeRequest) -> UnitFailed:
    """The failure with the work folder and the source named `<work>` and `<source>`: its reason is
    shown to the creator, who has no business knowing where the server keeps files."""
    reason = error.reason
    places = {request.work_dir: "<work>", request.source: "<source>"}
    for path, placeholder in sorted(
        ((str(p), name) for place, name in places.items() for p in (place.resolve(), place)),
        key=lambda pair: -len(pair[0]),
    ):
        reason = reason.replace(path, placeholder)
    if reason == error.reason:
        return error
    return UnitFailed(error.unit, reason, permanent=error.permanent)


def _recorded_work_dir(completed: Mapping[str, Mapping[str, Any]]) -> Path | None:
    work_dir = completed.get("ConvertingInitial", {}).get("work_dir")
    return Path(work_dir) if isinstance(work_dir, str) else None
