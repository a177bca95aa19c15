"""The transcoding pipeline, unit by unit, composed the way the business says it:

    ConvertingInitial >> ConvertSubtitles >> ConvertBaseAudio >> ConvertVideoTo480p >> ConvertVideoTo720p
    >> ConvertVideoTo1080p >> ExtractCover >> ExtractStoryboard >> RenderFinalPlaylist >> ImportKeys
    >> PublishToIPFS >> ConvertingTerminal

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
import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
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


def pipeline_params(request: TranscodeRequest, tools: PipelineTools) -> dict[str, Any]:
    return {"request": request, "tools": tools}


def _request(ctx: UnitContext) -> TranscodeRequest:
    request = ctx.params["request"]
    assert isinstance(request, TranscodeRequest)
    return request


def _tools(ctx: UnitContext) -> PipelineTools:
    tools = ctx.params["tools"]
    assert isinstance(tools, PipelineTools)
    return tools


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
        return {
            "rendition": {
                "name": self.rung,
                "width": size.width,
                "height": size.height,
                "playlist": f"{self.rung}/index.m3u8",
                "codecs": avc1_codec(spec.profile, spec.level),
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


class RenderFinalPlaylist(Unit):
    """The master playlist: every rendition with its bandwidth, the audio group, the subtitle group."""

    label = "Writing the playlist"
    weight = 0.1

    async def run(self, ctx: UnitContext) -> Output:
        request = _request(ctx)
        out = out_dir(request)
        audio_tracks = _audio_tracks(ctx.output_of("ConvertBaseAudio"))
        subtitles = ctx.output_of("ConvertSubtitles")["subtitle_tracks"]
        # A variant's bandwidth counts the largest rendition of the audio group it names (RFC 8216 4.3.4.2).
        audio_rates = [bandwidth(out / track["playlist"]) for track in audio_tracks]
        audio_peak = max(peak for peak, _ in audio_rates)
        audio_average = max(average for _, average in audio_rates)
        renditions: list[dict[str, Any]] = []
        variants: list[MasterVariant] = []
        for rendition in ctx.collected("rendition"):
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
            renditions.append(
                asdict(
                    Rendition(
                        name=rendition["name"],
                        width=rendition["width"],
                        height=rendition["height"],
                        bandwidth=peak + audio_peak,
                        playlist=rendition["playlist"],
                    )
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
        with staged_file(out / MASTER) as partial:
            partial.write_text(render_master(variants, media))
        return {
            "master_playlist": MASTER,
            "renditions": renditions,
            "audio_tracks": audio_tracks,
            "subtitle_tracks": subtitles,
        }


def _audio_tracks(output: Output) -> list[dict[str, Any]]:
    """ConvertBaseAudio's tracks (a checkpoint recorded before several audio tracks holds one `audio_track`)."""
    tracks = output.get("audio_tracks")
    if tracks is None:
        tracks = [output["audio_track"]]
    return [asdict(AudioTrack(**track)) for track in tracks]


class ImportKeys(Unit):
    """Seal what will be published: every audio and video segment AES-128-CBC encrypted with the
    video's key and its own explicit IV; the media playlists say where the key is and which IV."""

    label = "Encrypting"
    weight = 0.3

    async def run(self, ctx: UnitContext) -> Output:
        request = _request(ctx)
        candidate = VideoKey(secrets.token_bytes(16), secrets.token_bytes(16))
        key = await _tools(ctx).keys.ensure(ctx.run_id, candidate)
        playlists = ctx.output_of("RenderFinalPlaylist")
        media_playlists = [r["playlist"] for r in playlists["renditions"]]
        media_playlists += [a["playlist"] for a in playlists["audio_tracks"]]
        clear_files = [MASTER, COVER]
        storyboard = ctx.outputs.get("ExtractStoryboard", {}).get("storyboard")
        if storyboard:
            clear_files += [storyboard["track"], *storyboard["sprites"]]
        for subtitle in playlists["subtitle_tracks"]:
            clear_files.append(subtitle["playlist"])
            folder = Path(subtitle["playlist"]).parent
            text = (out_dir(request) / subtitle["playlist"]).read_text()
            clear_files += [(folder / s.uri).as_posix() for s in media_segments(text)]
        with staged_dir(sealed_dir(request)) as staging:
            count = await asyncio.to_thread(
                _seal, out_dir(request), staging, key, request.key_uri, media_playlists, clear_files
            )
        return {"sealed_segments": count}


def _seal(
    out: Path,
    into: Path,
    key: VideoKey,
    key_uri: str,
    media_playlists: list[str],
    clear_files: list[str],
) -> int:
    counter = 0

    def ivs() -> Iterator[bytes]:
        nonlocal counter
        while True:
            yield iv_for(key.iv, counter)
            counter += 1

    iv_source = ivs()
    for playlist in media_playlists:
        text, segments = sealed_playlist((out / playlist).read_text(), key_uri, iv_source)
        folder = Path(playlist).parent
        (into / folder).mkdir(parents=True, exist_ok=True)
        (into / playlist).write_text(text)
        for uri, iv in segments:
            encrypt_file(out / folder / uri, into / folder / uri, key.key, iv)
    for name in clear_files:
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(out / name, into / name)
        except OSError:
            shutil.copyfile(out / name, into / name)
    return counter


class PublishToIPFS(Unit):
    """Every sealed file into the content store; the manifest maps each relative path to its CID."""

    label = "Publishing"
    weight = 0.5

    async def run(self, ctx: UnitContext) -> Output:
        request = _request(ctx)
        sealed = sealed_dir(request)
        files = sorted(path for path in sealed.rglob("*") if path.is_file())
        content = _tools(ctx).content
        manifest: dict[str, str] = {}
        for index, path in enumerate(files):
            manifest[path.relative_to(sealed).as_posix()] = await content.put_file(path)
            await ctx.report((index + 1) / len(files))
        return {"manifest": manifest, "master_playlist_cid": manifest[MASTER], "cover_cid": manifest.get(COVER)}


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
    playlists = outputs["RenderFinalPlaylist"]
    published = outputs["PublishToIPFS"]
    return TranscodeResult(
        master_playlist_cid=published["master_playlist_cid"],
        manifest=dict(published["manifest"]),
        renditions=tuple(Rendition(**r) for r in playlists["renditions"]),
        audio_tracks=tuple(AudioTrack(**a) for a in playlists["audio_tracks"]),
        subtitle_tracks=tuple(SubtitleTrack(**s) for s in playlists["subtitle_tracks"]),
        cover_cid=published.get("cover_cid"),
        cover=COVER if published.get("cover_cid") else None,
        duration=float(outputs["ConvertingInitial"]["source"]["duration"]),
        master_playlist=playlists["master_playlist"],
    )


TRANSCODE: Pipeline = (
    ConvertingInitial
    >> ConvertSubtitles
    >> ConvertBaseAudio
    >> ConvertVideoTo480p
    >> ConvertVideoTo720p
    >> ConvertVideoTo1080p
    >> ExtractCover
    >> ExtractStoryboard
    >> RenderFinalPlaylist
    >> ImportKeys
    >> PublishToIPFS
    >> ConvertingTerminal
)
