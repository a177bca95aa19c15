"""The transcoding pipeline, unit by unit, composed the way the business says it:

    ConvertingInitial >> ConvertSubtitles >> ConvertBaseAudio >> ConvertVideoTo480p >> ConvertVideoTo720p
    >> ConvertVideoTo1080p >> ExtractCover >> RenderFinalPlaylist >> ImportKeys >> PublishToIPFS
    >> ConvertingTerminal

Every unit gets the run's `TranscodeRequest` and `PipelineTools` (ffmpeg, key store, content store)
through the executor's params, and returns a JSON-compatible output that later units read.

The work directory of a run:

    <work_dir>/out/      clear files, one part per unit: subs/, audio/, 480p/, 720p/, 1080p/, cover.jpg,
                         master.m3u8 — each written under a `.<name>.partial` name and renamed when
                         complete, so a unit killed midway leaves nothing a re-run could mistake for
                         its output (the re-run clears the partial and starts the unit again)
    <work_dir>/sealed/   what is published: segments AES-128 encrypted, playlists with #EXT-X-KEY

Units are idempotent: running one again after a crash redoes it from scratch and ends with exactly
the files one clean run would leave.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import os
import secrets
import shutil
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

from core.pipeline import Output, Pipeline, Unit, UnitContext
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
    AudioTrack,
    Rendition,
    RenditionSize,
    RenditionSpec,
    SourceInfo,
    SubtitleTrack,
    TranscodeRequest,
    TranscodeResult,
    VideoKey,
    rendition_size,
)
from features.pipeline.ports import ContentStore, FfmpegFailed, FfmpegRunner, KeyStore
from features.pipeline.probe import probe_media
from features.pipeline.subtitles import SubtitleError, decode_text, subtitle_playlist, to_webvtt, valid_language

SEGMENT_SECONDS = 4
KEYFRAME_SECONDS = 2  # a keyframe every 2 s: every 4 s segment starts on one, in every rendition
AUDIO_BITRATE = "128k"
AUDIO_BPS = 128_000
MAX_FRAME_RATE = 60.0
MAX_SUBTITLE_BYTES = 10 * 1024 * 1024
MASTER = "master.m3u8"
COVER = "cover.jpg"
RUN_MARKER = ".run"  # in the work dir: which ConvertingInitial made it (see `work_dir_matches`)
LOCK_POLL_SECONDS = 0.2


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


def out_dir(request: TranscodeRequest) -> Path:
    return request.work_dir.resolve() / "out"


def sealed_dir(request: TranscodeRequest) -> Path:
    return request.work_dir.resolve() / "sealed"


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """A fresh `.<name>.partial` directory beside `final`, renamed to `final` if the block succeeds.

    Any leftover partial from a killed attempt is removed first; on any exception (cancellation
    included) the partial is removed, so only complete outputs ever carry their final name.
    """
    partial = final.with_name(f".{final.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        yield partial
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)


@contextlib.contextmanager
def staged_file(final: Path) -> Iterator[Path]:
    """Like `staged_dir`, for a single file: write to the yielded path; it replaces `final` on success."""
    partial = final.with_name(f".{final.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        yield partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if not partial.is_file():
        raise RuntimeError(f"{final.name} was not produced")
    os.replace(partial, final)


def work_dir_matches(outputs: Mapping[str, Output], request: TranscodeRequest) -> bool:
    """Whether the work dir still holds what the recorded units left there.

    Checkpoints live in the database, the work dir on one machine's disk: a retry that lands on
    another machine, or after the dir was wiped, finds the checkpoints but not the files. The run
    can resume only if the dir carries the token of the recorded ConvertingInitial — or if nothing
    in the dir is needed any more (everything is published).
    """
    initial = outputs.get("ConvertingInitial")
    if initial is None or "PublishToIPFS" in outputs:
        return True
    try:
        return (request.work_dir / RUN_MARKER).read_text() == initial.get("work_token")
    except OSError:
        return False


@contextlib.asynccontextmanager
async def run_lock(work_dir: Path) -> AsyncIterator[None]:
    """Hold the run's lock (an flock'ed file beside its work dir) for the block; wait while another
    task or process on this machine holds it, so two deliveries of one job never share a work dir.

    The lock file is removed on release; a waiter that wins the lock on a file removed meanwhile
    notices (the path no longer names its inode) and tries again.
    """
    work_dir = work_dir.resolve()
    path = work_dir.with_name(work_dir.name + ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    await asyncio.sleep(LOCK_POLL_SECONDS)
            try:
                same = os.stat(path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                try:
                    yield
                finally:
                    path.unlink(missing_ok=True)
                return
        finally:
            os.close(fd)  # releases the lock


# --------------------------------------------------------------------------
# ffmpeg commands (module-level so the benchmark can run exactly the same ones bare)
# --------------------------------------------------------------------------


def _ffmpeg_path(path: Path) -> str:
    """An absolute path never reads as an option or a protocol ("-x", "concat:..."); `%` is literal."""
    return str(path.resolve())


def hls_output(directory: Path) -> list[str]:
    """MPEG-TS HLS, ~4 s segments, timestamps unshifted (source t=0 is MPEG-TS `MPEGTS_ORIGIN`)."""
    segments = _ffmpeg_path(directory).replace("%", "%%") + "/seg_%05d.ts"
    return [
        "-avoid_negative_ts",
        "disabled",
        "-f",
        "hls",
        "-hls_time",
        str(SEGMENT_SECONDS),
        "-hls_playlist_type",
        "vod",
        "-hls_segment_type",
        "mpegts",
        "-hls_flags",
        "independent_segments",
        "-hls_segment_options",
        "avoid_negative_ts=disabled",
        "-hls_segment_filename",
        segments,
        _ffmpeg_path(directory / "index.m3u8"),
    ]


def output_frame_rate(source: SourceInfo) -> float:
    return min(source.frame_rate or 25.0, MAX_FRAME_RATE)


def video_args(
    source_path: Path, source: SourceInfo, size: RenditionSize, spec: RenditionSpec, into: Path
) -> list[str]:
    """One H.264 rendition: scaled (rotation applied by ffmpeg), square pixels, fixed 2 s GOPs."""
    fps = output_frame_rate(source)
    gop = max(1, round(fps * KEYFRAME_SECONDS))
    filters = [f"scale={size.width}:{size.height}:flags=bicubic", "setsar=1", "format=yuv420p"]
    if source.frame_rate and source.frame_rate > MAX_FRAME_RATE:
        filters.insert(0, f"fps={MAX_FRAME_RATE:g}")
    return [
        "-i",
        _ffmpeg_path(source_path),
        "-map",
        "0:v:0",
        "-an",
        "-sn",
        "-dn",
        "-map_metadata",
        "-1",
        "-vf",
        ",".join(filters),
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-profile:v",
        spec.profile,
        "-level:v",
        spec.level,
        "-crf",
        str(spec.crf),
        "-maxrate",
        f"{spec.maxrate_kbps}k",
        "-bufsize",
        f"{spec.bufsize_kbps}k",
        "-g",
        str(gop),
        "-keyint_min",
        str(gop),
        "-sc_threshold",
        "0",
        "-force_key_frames",
        f"expr:gte(t,n_forced*{KEYFRAME_SECONDS})",
        *hls_output(into),
    ]


def audio_args(source_path: Path, source: SourceInfo, into: Path) -> list[str]:
    """AAC-LC stereo 128 kb/s; a source without sound gets a silent track of the same length, so
    every video has the same shape (one audio group) and plays in hls.js like any other."""
    if source.has_audio:
        inputs = ["-i", _ffmpeg_path(source_path), "-map", "0:a:0"]
    else:
        inputs = ["-f", "lavfi", "-i", "anullsrc=channel_layout=stereo:sample_rate=48000"]
        inputs += ["-t", f"{source.duration:.3f}"]
    return [
        *inputs,
        "-vn",
        "-sn",
        "-dn",
        "-map_metadata",
        "-1",
        "-c:a",
        "aac",
        "-b:a",
        AUDIO_BITRATE,
        "-ac",
        "2",
        "-ar",
        "48000",
        *hls_output(into),
    ]


def cover_args(source_path: Path, at: float, size: RenditionSize, into: Path) -> list[str]:
    return [
        "-ss",
        f"{at:.3f}",
        "-i",
        _ffmpeg_path(source_path),
        "-map",
        "0:v:0",
        "-frames:v",
        "1",
        "-an",
        "-sn",
        "-vf",
        f"scale={size.width}:{size.height}:flags=bicubic,setsar=1",
        "-q:v",
        "3",
        "-f",
        "image2",
        "-update",
        "1",
        _ffmpeg_path(into),
    ]


# --------------------------------------------------------------------------
# The units
# --------------------------------------------------------------------------


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
    """SRT or WebVTT → WebVTT (aligned to the MPEG-TS timeline) and a media playlist per track."""

    label = "Converting subtitles"
    weight = 0.1

    async def run(self, ctx: UnitContext) -> Output:
        request = _request(ctx)
        source = _source(ctx)
        final = out_dir(request) / "subs"
        if not request.subtitles:
            shutil.rmtree(final, ignore_errors=True)
            return {"subtitle_tracks": []}
        tracks: list[dict[str, str]] = []
        with staged_dir(final) as staging:
            for index, subtitle in enumerate(request.subtitles):
                if subtitle.path.stat().st_size > MAX_SUBTITLE_BYTES:
                    raise SubtitleError(f"The {subtitle.language} subtitle file is too large.")
                vtt = to_webvtt(decode_text(subtitle.path.read_bytes()), mpegts_origin=MPEGTS_ORIGIN)
                name = f"{index}-{subtitle.language}"
                (staging / f"{name}.vtt").write_text(vtt, encoding="utf-8")
                (staging / f"{name}.m3u8").write_text(subtitle_playlist(f"{name}.vtt", source.duration))
                label = " ".join(subtitle.label.replace('"', "'").split()) or subtitle.language
                tracks.append({"language": subtitle.language, "label": label, "playlist": f"subs/{name}.m3u8"})
                await ctx.report((index + 1) / len(request.subtitles))
        return {"subtitle_tracks": tracks}


class ConvertBaseAudio(Unit):
    """The audio rendition: AAC stereo in its own HLS media playlist (the master's audio group)."""

    label = "Converting audio"
    weight = 0.5

    async def run(self, ctx: UnitContext) -> Output:
        request = _request(ctx)
        source = _source(ctx)
        with staged_dir(out_dir(request) / "audio") as staging:
            await _run_ffmpeg(ctx, audio_args(request.source, source, staging), duration=source.duration)
        name = "Original" if source.has_audio else "Silent"
        track = AudioTrack(name=name, language="und", playlist="audio/index.m3u8")
        return {"audio_track": asdict(track), "synthetic": not source.has_audio}


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
    """A JPEG frame at 10 % of the duration: the fallback cover image."""

    label = "Extracting a cover"
    weight = 0.1

    async def run(self, ctx: UnitContext) -> Output:
        request = _request(ctx)
        source = _source(ctx)
        size = rendition_size(LADDER[1], source.display_width, source.display_height, base=True)
        assert size is not None
        with staged_file(out_dir(request) / COVER) as partial:
            await _run_ffmpeg(ctx, cover_args(request.source, source.duration * 0.1, size, partial))
            if not partial.is_file():  # a seek past the last decodable frame yields nothing
                await _run_ffmpeg(ctx, cover_args(request.source, 0.0, size, partial))
        return {"cover": COVER}


class RenderFinalPlaylist(Unit):
    """The master playlist: every rendition with its bandwidth, the audio group, the subtitle group."""

    label = "Writing the playlist"
    weight = 0.1

    async def run(self, ctx: UnitContext) -> Output:
        request = _request(ctx)
        out = out_dir(request)
        audio = ctx.output_of("ConvertBaseAudio")["audio_track"]
        subtitles = ctx.output_of("ConvertSubtitles")["subtitle_tracks"]
        audio_peak, audio_average = bandwidth(out / audio["playlist"])
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
                audio["name"],
                None if audio["language"] == "und" else audio["language"],
                audio["playlist"],
                True,
                2,
            )
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
            "audio_tracks": [audio],
            "subtitle_tracks": subtitles,
        }


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
    >> RenderFinalPlaylist
    >> ImportKeys
    >> PublishToIPFS
    >> ConvertingTerminal
)
