"""The transcoding pipeline, unit by unit, composed the way the business says it:

    ConvertingInitial >> ConvertSubtitles >> ConvertBaseAudio >> ConvertVideoTo480p >> ExtractCover
    >> ExtractStoryboard >> Publish480p >> ConvertVideoTo720p >> Publish720p >> ConvertVideoTo1080p
    >> Publish1080p >> ConvertingTerminal

Time to first playable: the base rendition is published (sealed, in the content store, named by a
master playlist) with every audio track, the subtitles, the cover and the seek previews as soon as it
is converted; each higher rendition is then converted and added (a new master naming it, published
after its files). The run's `on_published` hook hears of each publication, so a viewer can start
watching at 480p while 720p and 1080p are on the way.

Every unit gets the run's `TranscodeRequest` and `PipelineTools` (ffmpeg, key store, content store)
through the executor's params, and returns a JSON-compatible output that later units read. The
units write into the run's work directory (features/pipeline/work_dir.py) with the ffmpeg command
lines of features/pipeline/ffmpeg_args.py.

Units are idempotent: running one again after a crash redoes it from scratch and ends with exactly
the files one clean run would leave.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import os
import secrets
import shutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from core.pipeline import Output, Pipeline, Unit, UnitContext
from features.pipeline.audio import clean_name, hls_language, language_name, plan_audio, unique_names
from features.pipeline.cover import best_candidate, candidate_times, frame_score, gray_size
from features.pipeline.ffmpeg_args import (
    audio_args,
    cover_args,
    cover_candidates_args,
    h264_level,
    output_frame_rate,
    subtitle_extract_args,
    video_args,
)
from features.pipeline.hls import (
    AAC_LC,
    AUDIO_GROUP,
    MPEGTS_ORIGIN,
    SUBTITLE_GROUP,
    MasterMedia,
    MasterVariant,
    avc1_codec,
    bandwidth,
    encrypt_file,
    iv_for,
    media_segments,
    render_master,
    sealed_playlist,
    unwritten_segments,
)
from features.pipeline.model import (
    LADDER,
    AudioStream,
    AudioTrack,
    Rendition,
    RenditionSize,
    SourceInfo,
    SubtitleStream,
    SubtitleTrack,
    TranscodeRequest,
    TranscodeResult,
    VideoKey,
    rendition_size,
)
from features.pipeline.ports import ContentStore, FfmpegFailed, FfmpegRunner, KeyStore
from features.pipeline.probe import probe_media
from features.pipeline.storyboard import (
    STORYBOARD_DIR,
    THUMBNAILS_VTT,
    plan_storyboard,
    sprite_name,
    storyboard_args,
    thumbnails_vtt,
)
from features.pipeline.subtitles import SubtitleError, decode_text, subtitle_playlist, to_webvtt, valid_language
from features.pipeline.work_dir import RUN_MARKER, out_dir, sealed_dir, staged_dir, staged_file

MAX_SUBTITLE_BYTES = 10 * 1024 * 1024
MASTER = "master.m3u8"
COVER = "cover.jpg"
COVER_CANDIDATES = "cover-candidates"


@dataclass(frozen=True)
class PipelineTools:
    """The ports the units work through (the executor's params carry them to each unit)."""

    ffmpeg: FfmpegRunner
    keys: KeyStore
    content: ContentStore


def pipeline_params(
    request: TranscodeRequest, tools: PipelineTools, on_published: PublishedHook | None = None
) -> dict[str, Any]:
    return {"request": request, "tools": tools, "on_published": on_published}


def _request(ctx: UnitContext) -> TranscodeRequest:
    request = ctx.params["request"]
    assert isinstance(request, TranscodeRequest)
    return request


def _tools(ctx: UnitContext) -> PipelineTools:
    tools = ctx.params["tools"]
    assert isinstance(tools, PipelineTools)
    return tools


def _require_segments(folder: Path) -> None:
    """Fail the step, not the publication after it, when ffmpeg left its media playlist incomplete."""
    missing = unwritten_segments(folder)
    if missing:
        raise FfmpegFailed(f"ffmpeg did not write {len(missing)} file(s) of its HLS output, {missing[0]} first")


async def _run_ffmpeg(ctx: UnitContext, args: list[str], *, duration: float | None = None) -> None:
    """Run ffmpeg for this unit, reporting its progress; a failure's reason names no server paths."""
    request = _request(ctx)
    try:
        await _tools(ctx).ffmpeg.run(args, duration=duration, on_progress=ctx.report if duration else None)
    except FfmpegFailed as error:
        reason = error.reason
        for path, placeholder in ((request.work_dir.resolve(), "<work>"), (request.source.resolve(), "<source>")):
            reason = reason.replace(str(path), placeholder)
        raise FfmpegFailed(reason, error.returncode, permanent=error.permanent) from error


def _source(ctx: UnitContext) -> SourceInfo:
    return SourceInfo.from_dict(ctx.output_of("ConvertingInitial")["source"])


def plan_ladder(source: SourceInfo) -> list[RenditionSize]:
    """The renditions a source is converted to: the base rung always, the others only when the
    source is at least that big (never upscale)."""
    return [
        size
        for index, spec in enumerate(LADDER)
        if (size := rendition_size(spec, source.display_width, source.display_height, base=index == 0))
    ]


def planned_rungs(path: Path) -> frozenset[str] | None:
    """The names of the rungs `plan_ladder` will make for the file at `path` (None: it cannot be probed
    now; the run's first step reports why). Probed once per file version."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return _planned_rungs(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _planned_rungs(path: str, _mtime_ns: int, _size: int) -> frozenset[str] | None:
    try:
        return frozenset(size.name for size in plan_ladder(probe_media(Path(path))))
    except Exception:  # a bad source fails the run's first step, with its reason, not here
        return None


class ConvertingInitial(Unit):
    """Probe the source, check the subtitle requests, plan the renditions, start a clean work dir."""

    label = "Preparing"
    weight = 0.2

    async def run(self, ctx: UnitContext) -> Output:
        request = _request(ctx)
        source = await asyncio.to_thread(probe_media, request.source)
        if not request.key_uri or any(c in request.key_uri for c in '"\r\n'):
            raise ValueError(f"the key URI {request.key_uri!r} cannot be written into a playlist")
        for subtitle in request.subtitles:
            if not valid_language(subtitle.language):
                raise SubtitleError(f"{subtitle.language!r} is not a language tag such as 'en' or 'pt-BR'.")
            if not subtitle.path.is_file():
                raise SubtitleError(f"The {subtitle.label or subtitle.language} subtitle file is missing.")
        # Nothing of this run is recorded yet, so anything already in the work dir is stale.
        await asyncio.to_thread(shutil.rmtree, out_dir(request), True)
        await asyncio.to_thread(shutil.rmtree, sealed_dir(request), True)
        out_dir(request).mkdir(parents=True)
        token = secrets.token_hex(8)
        (request.work_dir / RUN_MARKER).write_text(token)
        ladder = [asdict(size) for size in plan_ladder(source)]
        return {
            "source": source.to_dict(),
            "ladder": ladder,
            "work_dir": str(request.work_dir.resolve()),
            "work_token": token,
        }


class ConvertSubtitles(Unit):
    """SRT or WebVTT → WebVTT (aligned to the MPEG-TS timeline) and a media playlist per track: the
    creator's subtitle files first, then the source's own text subtitle streams (one ffmpeg run)."""

    label = "Converting subtitles"
    weight = 0.1

    async def run(self, ctx: UnitContext) -> Output:
        request = _request(ctx)
        source = _source(ctx)
        final = out_dir(request) / "subs"
        embedded = [s for s in source.subtitle_streams if s.text]
        if not request.subtitles and not embedded:
            shutil.rmtree(final, ignore_errors=True)
            return {"subtitle_tracks": []}
        tracks: list[dict[str, str]] = []
        with staged_dir(final) as staging:
            for index, subtitle in enumerate(request.subtitles):
                if subtitle.path.stat().st_size > MAX_SUBTITLE_BYTES:
                    raise SubtitleError(f"The {subtitle.language} subtitle file is too large.")
                vtt = to_webvtt(decode_text(subtitle.path.read_bytes()), mpegts_origin=MPEGTS_ORIGIN)
                label = " ".join(subtitle.label.replace('"', "'").split()) or subtitle.language
                tracks.append(_subtitle_files(staging, len(tracks), subtitle.language, label, vtt, source.duration))
                await ctx.report((index + 1) / (len(request.subtitles) + len(embedded)))
            if embedded:
                taken = {t["language"] for t in tracks}
                tracks += await self._embedded(ctx, source, staging, embedded, taken, len(tracks))
        return {"subtitle_tracks": tracks}

    async def _embedded(
        self,
        ctx: UnitContext,
        source: SourceInfo,
        staging: Path,
        streams: list[SubtitleStream],
        taken: set[str],
        first: int,
    ) -> list[dict[str, str]]:
        """The source's own text subtitles, extracted in one run; a stream ffmpeg cannot turn into
        WebVTT, with no cue, or in a language a creator's file already covers is left out."""
        request = _request(ctx)
        extracted = staging / ".embedded"
        extracted.mkdir()
        files = [(stream.index, extracted / f"{stream.index}.vtt") for stream in streams]
        with contextlib.suppress(FfmpegFailed):  # the source's subtitles are a bonus, never a failure
            await _run_ffmpeg(ctx, subtitle_extract_args(request.source, files))
        tracks: list[dict[str, str]] = []
        names: list[str] = []
        for stream, (_, path) in zip(streams, files, strict=True):
            language = hls_language(stream.language) or "und"
            if (language in taken and language != "und") or not path.is_file():
                continue
            try:
                vtt = to_webvtt(decode_text(path.read_bytes()), mpegts_origin=MPEGTS_ORIGIN)
            except SubtitleError:
                continue
            taken.add(language)
            names.append(clean_name(stream.title) or language_name(language) or f"Subtitles {len(names) + 1}")
            tracks.append(_subtitle_files(staging, first + len(tracks), language, "", vtt, source.duration))
        for track, name in zip(tracks, unique_names(names), strict=True):
            track["label"] = name
        shutil.rmtree(extracted, ignore_errors=True)
        return tracks


def _subtitle_files(staging: Path, index: int, language: str, label: str, vtt: str, duration: float) -> dict[str, str]:
    """Write one subtitles rendition (its WebVTT file and media playlist) into `staging`."""
    name = f"{index}-{language}"
    (staging / f"{name}.vtt").write_text(vtt, encoding="utf-8")
    (staging / f"{name}.m3u8").write_text(subtitle_playlist(f"{name}.vtt", duration))
    return {"language": language, "label": label, "playlist": f"subs/{name}.m3u8"}


class ConvertBaseAudio(Unit):
    """The audio renditions: every audio stream of the source (languages, commentary) as AAC stereo in
    its own HLS media playlist, all in one ffmpeg run — the master's audio group
    (features/pipeline/audio.py names them and picks the one default)."""

    label = "Converting audio"
    weight = 0.5

    async def run(self, ctx: UnitContext) -> Output:
        request = _request(ctx)
        source = _source(ctx)
        streams = source.audio_streams
        if source.has_audio and not streams:  # probed before audio streams were listed: its first one
            streams = (AudioStream(0, source.audio_codec or "unknown", 2),)
        plans = plan_audio(streams if source.has_audio else ())
        out = out_dir(request)
        for stale in out.glob("audio-*"):  # the folders of an earlier attempt's other plan
            if stale.name not in {plan.folder for plan in plans}:
                shutil.rmtree(stale, ignore_errors=True)
        with contextlib.ExitStack() as stack:
            folders = [(plan.stream, stack.enter_context(staged_dir(out / plan.folder))) for plan in plans]
            await _run_ffmpeg(ctx, audio_args(request.source, source, folders), duration=source.duration)
            for _, folder in folders:
                _require_segments(folder)
        tracks = [
            AudioTrack(
                name=plan.name,
                language=plan.language or "und",
                playlist=plan.playlist,
                default=plan.default,
                autoselect=plan.autoselect,
                channels=plan.channels,
                characteristics=plan.characteristics,
            )
            for plan in plans
        ]
        return {"audio_tracks": [asdict(track) for track in tracks], "synthetic": not source.has_audio}


class ConvertVideo(Unit):
    """One video rendition of the ladder; a no-op when the source is too small for it (never upscale)."""

    rung: ClassVar[str] = ""

    def applies(self, outputs: Mapping[str, Output], params: Mapping[str, Any]) -> bool:
        """Only the renditions of the plan are steps: a 720p source shows no 1080p step, from the
        first step on (before the plan is made, the source is probed for it)."""
        plan = outputs.get("ConvertingInitial")
        if plan is not None:
            return any(size["name"] == self.rung for size in plan["ladder"])
        request = params.get("request")
        if not isinstance(request, TranscodeRequest):
            return True
        planned = planned_rungs(request.source)
        return planned is None or self.rung in planned

    async def run(self, ctx: UnitContext) -> Output:
        request = _request(ctx)
        source = _source(ctx)
        final = out_dir(request) / self.rung
        plan = next((s for s in ctx.output_of("ConvertingInitial")["ladder"] if s["name"] == self.rung), None)
        if plan is None:
            shutil.rmtree(final, ignore_errors=True)
            return {"skipped": True}
        size = RenditionSize(**plan)
        spec = next(s for s in LADDER if s.name == self.rung)
        with staged_dir(final) as staging:
            await _run_ffmpeg(ctx, video_args(request.source, source, size, spec, staging), duration=source.duration)
            _require_segments(staging)
        return {
            "rendition": {
                "name": self.rung,
                "width": size.width,
                "height": size.height,
                "playlist": f"{self.rung}/index.m3u8",
                "codecs": avc1_codec(spec.profile, h264_level(spec, size, output_frame_rate(source))),
                "frame_rate": output_frame_rate(source),
            }
        }


class ConvertVideoTo480p(ConvertVideo):
    label = "Converting video to 480p"
    rung = "480p"
    weight = 2.0


class ConvertVideoTo720p(ConvertVideo):
    label = "Converting video to 720p"
    rung = "720p"
    weight = 3.0


class ConvertVideoTo1080p(ConvertVideo):
    label = "Converting video to 1080p"
    rung = "1080p"
    weight = 5.0


class ExtractCover(Unit):
    """The fallback cover: of a few frames spread over the video (one ffmpeg run), the one with the
    most contrast and detail — never a black or blurred frame when a better one was among them
    (features/pipeline/cover.py)."""

    label = "Extracting a cover"
    weight = 0.1

    async def run(self, ctx: UnitContext) -> Output:
        request = _request(ctx)
        source = _source(ctx)
        size = rendition_size(LADDER[1], source.display_width, source.display_height, base=True)
        assert size is not None
        gray = gray_size(size.width, size.height)
        with staged_file(out_dir(request) / COVER) as partial:
            with staged_dir(out_dir(request) / COVER_CANDIDATES) as candidates:
                times = candidate_times(source.duration)
                # A seek past the last decodable frame fails the run; the frames it made are kept.
                with contextlib.suppress(FfmpegFailed):
                    await _run_ffmpeg(ctx, cover_candidates_args(request.source, times, size, gray, candidates))
                scores = [_candidate_score(candidates, index, gray) for index in range(len(times))]
                best = best_candidate(scores)
                if best is not None:
                    os.replace(candidates / f"{best}.jpg", partial)
            shutil.rmtree(out_dir(request) / COVER_CANDIDATES, ignore_errors=True)
            if not partial.is_file():  # every seek went past the last decodable frame
                await _run_ffmpeg(ctx, cover_args(request.source, 0.0, size, partial))
        return {"cover": COVER}


def _candidate_score(candidates: Path, index: int, gray: tuple[int, int]) -> float | None:
    """The candidate's score, None if ffmpeg made no frame for it (a seek past the end)."""
    if not (candidates / f"{index}.jpg").is_file():
        return None
    try:
        luma = (candidates / f"{index}.gray").read_bytes()
    except OSError:
        return 0.0
    return frame_score(luma, *gray)


class ExtractStoryboard(Unit):
    """Seek previews: sprites of small frames from the base rendition's keyframes (one cheap ffmpeg
    run) and the WebVTT thumbnails track naming them (features/pipeline/storyboard.py). A storyboard
    ffmpeg cannot make costs the video its seek previews, not its publication."""

    label = "Making seek previews"
    weight = 0.1

    async def run(self, ctx: UnitContext) -> Output:
        request = _request(ctx)
        source = _source(ctx)
        base = RenditionSize(**ctx.output_of("ConvertingInitial")["ladder"][0])
        board = plan_storyboard(source.duration, base.width, base.height)
        final = out_dir(request) / STORYBOARD_DIR
        with staged_dir(final) as staging:
            try:
                await _run_ffmpeg(ctx, storyboard_args(out_dir(request) / base.name / "index.m3u8", board, staging))
            except FfmpegFailed:
                for made in staging.iterdir():
                    made.unlink()
            sprites = 0
            while (staging / sprite_name(sprites)).is_file():
                sprites += 1
            if sprites:
                (staging / THUMBNAILS_VTT).write_text(thumbnails_vtt(board, source.duration, sprites))
        if not sprites:
            shutil.rmtree(final, ignore_errors=True)
            return {"storyboard": None}
        files = [f"{STORYBOARD_DIR}/{sprite_name(index)}" for index in range(sprites)]
        return {
            "storyboard": {
                "track": f"{STORYBOARD_DIR}/{THUMBNAILS_VTT}",
                "sprites": files,
                "interval": board.interval,
                "width": board.width,
                "height": board.height,
            }
        }


PUBLISH_UNITS = ("Publish480p", "Publish720p", "Publish1080p")
"""The publishing units, in pipeline order: each adds its rung to what the one before published."""

PublishedHook = Callable[[TranscodeResult], Awaitable[None]]
"""Told of every publication of a run (the first playable rendition, then each one added): the
whole video as published so far. Called again with the same result when a unit is redone after a
crash, so it must be idempotent (it swaps in a manifest)."""


def _legacy_published(outputs: Mapping[str, Output]) -> dict[str, Any] | None:
    """A run checkpointed by the pipeline before it published rendition by rendition (one master at
    the end: RenderFinalPlaylist, ImportKeys, PublishToIPFS) and resumed after it: what it published."""
    if "PublishToIPFS" not in outputs or "RenderFinalPlaylist" not in outputs:
        return None
    return {**outputs["RenderFinalPlaylist"], **outputs["PublishToIPFS"]}


def _last_published(outputs: Mapping[str, Output], before: str | None = None) -> dict[str, Any] | None:
    """The output of the last publishing unit that completed (before the unit `before`), if any."""
    names = PUBLISH_UNITS if before is None else PUBLISH_UNITS[: PUBLISH_UNITS.index(before)]
    for name in reversed(names):
        if name in outputs:
            return dict(outputs[name])
    return _legacy_published(outputs)


def _iv_slot(playlist: str, audio_playlists: list[str]) -> int:
    """Each media playlist seals with its own range of IVs (base IV + slot × 2**32 + segment number),
    so a rendition sealed later never reuses an IV of one sealed earlier, and sealing is the same
    pure function of the clear files whichever order the renditions are published in."""
    if playlist in audio_playlists:
        return 16 + audio_playlists.index(playlist)
    rung = playlist.split("/", 1)[0]
    return next(index for index, spec in enumerate(LADDER) if spec.name == rung)


class PublishRendition(Unit):
    """Publish the video as far as its renditions are converted: the first one (the base rung) with
    everything a viewer needs — every audio track, the subtitles, the cover, the seek previews — and
    each later one added to it. Its segments are sealed (AES-128-CBC, the video's key, an explicit IV
    each), put into the content store, and only then is a new master playlist naming it written and
    published: a master never names a rendition whose files are not in the manifest.

    The output is the video as published so far (the renditions, tracks, manifest, master CID); the
    run's `on_published` hook hears of it. A rung the source is too small for publishes nothing new."""

    rung: ClassVar[str] = ""
    weight = 0.3

    def applies(self, outputs: Mapping[str, Output], params: Mapping[str, Any]) -> bool:
        plan = outputs.get("ConvertingInitial")
        if plan is not None:
            return any(size["name"] == self.rung for size in plan["ladder"])
        request = params.get("request")
        if not isinstance(request, TranscodeRequest):
            return True
        planned = planned_rungs(request.source)
        return planned is None or self.rung in planned

    async def run(self, ctx: UnitContext) -> Output:
        legacy = _legacy_published(ctx.outputs)
        if legacy is not None:
            return legacy
        previous = _last_published(ctx.outputs, self.name)
        converted = ctx.outputs.get(f"ConvertVideoTo{self.rung}", {}).get("rendition")
        if previous is not None and converted is None:  # a rung too big for this source
            return previous
        published = await self._publish(ctx, previous)
        hook = ctx.params.get("on_published")
        if hook is not None:
            planned = [size["name"] for size in ctx.output_of("ConvertingInitial")["ladder"]]
            done = {rendition["name"] for rendition in published["renditions"]}
            pending = tuple(name for name in planned if name not in done)
            await hook(published_result(published, _source(ctx).duration, pending))
        return published

    async def _publish(self, ctx: UnitContext, previous: dict[str, Any] | None) -> dict[str, Any]:
        request = _request(ctx)
        tools = _tools(ctx)
        out = out_dir(request)
        sealed = sealed_dir(request)
        candidate = VideoKey(secrets.token_bytes(16), secrets.token_bytes(16))
        key = await tools.keys.ensure(ctx.run_id, candidate)
        audio_tracks = _audio_tracks(ctx.output_of("ConvertBaseAudio"))
        subtitles = ctx.output_of("ConvertSubtitles")["subtitle_tracks"]
        audio_playlists = [track["playlist"] for track in audio_tracks]
        upto = next(index for index, spec in enumerate(LADDER) if spec.name == self.rung)
        ranks = {spec.name: index for index, spec in enumerate(LADDER)}
        renditions = [r for r in ctx.collected("rendition") if ranks[r["name"]] <= upto]
        manifest: dict[str, str] = dict(previous["manifest"]) if previous else {}
        new_playlists = [r["playlist"] for r in renditions if r["playlist"] not in manifest]
        clear_files: list[str] = []
        if previous is None:  # the first publication: everything but the higher renditions
            new_playlists = audio_playlists + new_playlists
            clear_files = [COVER]
            storyboard = ctx.outputs.get("ExtractStoryboard", {}).get("storyboard")
            if storyboard:
                clear_files += [storyboard["track"], *storyboard["sprites"]]
            for subtitle in subtitles:
                clear_files.append(subtitle["playlist"])
                folder = Path(subtitle["playlist"]).parent
                text = (out / subtitle["playlist"]).read_text()
                clear_files += [(folder / s.uri).as_posix() for s in media_segments(text)]
        parts = sorted({Path(p).parts[0] for p in new_playlists + clear_files})
        # Seal into a staging dir, then move each part into sealed/ (a redo after a crash starts clean).
        staging_root = sealed / f".{self.name}.partial"
        shutil.rmtree(staging_root, ignore_errors=True)
        staging_root.mkdir(parents=True)
        try:
            slots = {playlist: _iv_slot(playlist, audio_playlists) for playlist in new_playlists}
            count = await asyncio.to_thread(_seal, out, staging_root, key, request.key_uri, slots, clear_files)
            for part in parts:
                target = sealed / part
                if target.is_dir():
                    shutil.rmtree(target)
                elif target.exists():
                    target.unlink()
                (staging_root / part).rename(target)
        finally:
            shutil.rmtree(staging_root, ignore_errors=True)
        files = sorted(
            path.relative_to(sealed).as_posix()
            for part in parts
            for path in ([sealed / part] if (sealed / part).is_file() else (sealed / part).rglob("*"))
            if path.is_file()
        )
        for index, path in enumerate(files):
            manifest[path] = await tools.content.put_file(sealed / path)
            await ctx.report((index + 1) / (len(files) + 1))
        # Only now, with every file it names published, the master playlist that names them.
        master = _render_master(out, renditions, audio_tracks, subtitles)
        with staged_file(out / MASTER) as partial:
            partial.write_text(master)
        with staged_file(sealed / MASTER) as partial:
            shutil.copyfile(out / MASTER, partial)
        manifest[MASTER] = await tools.content.put_file(sealed / MASTER)
        await ctx.report(1.0)
        return {
            "master_playlist": MASTER,
            "renditions": [_rendition_record(out, r, audio_tracks) for r in renditions],
            "audio_tracks": audio_tracks,
            "subtitle_tracks": subtitles,
            "manifest": manifest,
            "master_playlist_cid": manifest[MASTER],
            "cover_cid": manifest.get(COVER),
            "sealed_segments": (previous or {}).get("sealed_segments", 0) + count,
        }


class Publish480p(PublishRendition):
    label = "Publishing 480p (first playable)"
    rung = "480p"


class Publish720p(PublishRendition):
    label = "Publishing 720p"
    rung = "720p"


class Publish1080p(PublishRendition):
    label = "Publishing 1080p"
    rung = "1080p"


def _audio_peak(out: Path, audio_tracks: list[dict[str, Any]]) -> tuple[int, int]:
    """A variant's bandwidth counts the largest rendition of the audio group it names (RFC 8216 4.3.4.2)."""
    audio_rates = [bandwidth(out / track["playlist"]) for track in audio_tracks]
    return max(peak for peak, _ in audio_rates), max(average for _, average in audio_rates)


def _rendition_record(out: Path, rendition: Mapping[str, Any], audio_tracks: list[dict[str, Any]]) -> dict[str, Any]:
    peak, _ = bandwidth(out / rendition["playlist"])
    audio_peak, _ = _audio_peak(out, audio_tracks)
    return asdict(
        Rendition(
            name=rendition["name"],
            width=rendition["width"],
            height=rendition["height"],
            bandwidth=peak + audio_peak,
            playlist=rendition["playlist"],
        )
    )


def _render_master(
    out: Path,
    renditions: list[Mapping[str, Any]],
    audio_tracks: list[dict[str, Any]],
    subtitles: list[dict[str, str]],
) -> str:
    """The master playlist: the given renditions with their bandwidth, the audio group, the subtitle group."""
    audio_peak, audio_average = _audio_peak(out, audio_tracks)
    variants: list[MasterVariant] = []
    for rendition in renditions:
        peak, average = bandwidth(out / rendition["playlist"])
        variants.append(
            MasterVariant(
                playlist=rendition["playlist"],
                width=rendition["width"],
                height=rendition["height"],
                bandwidth=peak + audio_peak,
                average_bandwidth=average + audio_average,
                frame_rate=rendition["frame_rate"],
                codecs=f"{rendition['codecs']},{AAC_LC}",
            )
        )
    media = [
        MasterMedia(
            "AUDIO",
            AUDIO_GROUP,
            track["name"],
            None if track["language"] == "und" else track["language"],
            track["playlist"],
            track["default"],
            track["channels"],
            track["autoselect"],
            track["characteristics"],
        )
        for track in audio_tracks
    ]
    media += [
        MasterMedia("SUBTITLES", SUBTITLE_GROUP, s["label"], s["language"], s["playlist"], index == 0)
        for index, s in enumerate(subtitles)
    ]
    return render_master(variants, media)


def _audio_tracks(output: Output) -> list[dict[str, Any]]:
    """ConvertBaseAudio's tracks (a checkpoint recorded before several audio tracks holds one `audio_track`)."""
    tracks = output.get("audio_tracks")
    if tracks is None:
        tracks = [output["audio_track"]]
    return [asdict(AudioTrack(**track)) for track in tracks]


def _seal(
    out: Path,
    into: Path,
    key: VideoKey,
    key_uri: str,
    media_playlists: Mapping[str, int],
    clear_files: list[str],
) -> int:
    """Seal each media playlist (to its IV slot) and its segments, and link the clear files, from
    `out` into `into`; returns how many segments were sealed."""
    count = 0
    for playlist, slot in media_playlists.items():
        ivs = (iv_for(key.iv, (slot << 32) + n) for n in itertools.count())
        text, segments = sealed_playlist((out / playlist).read_text(), key_uri, ivs)
        folder = Path(playlist).parent
        (into / folder).mkdir(parents=True, exist_ok=True)
        (into / playlist).write_text(text)
        for uri, iv in segments:
            encrypt_file(out / folder / uri, into / folder / uri, key.key, iv)
        count += len(segments)
    for name in clear_files:
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(out / name, into / name)
        except OSError:
            shutil.copyfile(out / name, into / name)
    return count


class ConvertingTerminal(Unit):
    """Remove the work directory; the output is the run's `TranscodeResult`."""

    label = "Finishing"
    weight = 0.1

    async def run(self, ctx: UnitContext) -> Output:
        request = _request(ctx)
        result = result_from(ctx.outputs)
        await asyncio.to_thread(shutil.rmtree, request.work_dir, True)
        return result.to_dict()


def result_from(outputs: Mapping[str, Output]) -> TranscodeResult:
    """The video as the last publishing unit left it."""
    published = _last_published(outputs)
    if published is None:
        raise ValueError("nothing of this run is published yet")
    return published_result(published, float(outputs["ConvertingInitial"]["source"]["duration"]))


def published_result(published: Mapping[str, Any], duration: float, pending: tuple[str, ...] = ()) -> TranscodeResult:
    """The video as `published` says, with the renditions still `pending` (none: the run is complete)."""
    return TranscodeResult(
        master_playlist_cid=published["master_playlist_cid"],
        manifest=dict(published["manifest"]),
        renditions=tuple(Rendition(**r) for r in published["renditions"]),
        audio_tracks=tuple(AudioTrack(**a) for a in published["audio_tracks"]),
        subtitle_tracks=tuple(SubtitleTrack(**s) for s in published["subtitle_tracks"]),
        cover_cid=published.get("cover_cid"),
        cover=COVER if published.get("cover_cid") else None,
        duration=duration,
        master_playlist=published.get("master_playlist", MASTER),
        pending=pending,
    )


TRANSCODE: Pipeline = (
    ConvertingInitial
    >> ConvertSubtitles
    >> ConvertBaseAudio
    >> ConvertVideoTo480p
    >> ExtractCover
    >> ExtractStoryboard
    >> Publish480p
    >> ConvertVideoTo720p
    >> Publish720p
    >> ConvertVideoTo1080p
    >> Publish1080p
    >> ConvertingTerminal
)
