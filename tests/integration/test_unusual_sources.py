"""Unusual but legitimate sources through the real pipeline: each one comes out as encrypted HLS that
plays — every rendition decodes, at the picture's own shape in square pixels, audio and video start
together, the durations agree — with its audio tracks and subtitles named.

The sources are made with ffmpeg's lavfi (1–2 s, small sizes) in the shapes creators upload: phones,
anamorphic DVDs, broadcast TS, camera codecs, several languages."""

from __future__ import annotations

import io
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import pytest

from core.pipeline import MemoryCheckpointStore, Output, Unit, UnitContext, UnitFailed
from features.pipeline.adapters import MemoryKeyStore, SubprocessFfmpeg
from features.pipeline.content_store import MemoryContentStore
from features.pipeline.hls import MPEGTS_ORIGIN
from features.pipeline.model import SubtitleSource, TranscodeRequest
from features.pipeline.service import TranscodeService
from features.pipeline.units import ConvertingInitial
from tests.support.media import FFMPEG, can_encode, make_source
from tests.support.transcoding import Transcoded, transcode

TICKS = 90_000  # MPEG-TS timestamps are in 1/90000 s
H264 = ("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p")
AAC = ("-c:a", "aac", "-b:a", "64k")
SRT = "1\n00:00:00,200 --> 00:00:00,800\nHello\n"
ASS = (
    "[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\n"
    "Format: Name, Fontname, Fontsize, PrimaryColour, Bold, Italic, Alignment, MarginL, MarginR, MarginV, Encoding\n"
    "Style: Default,Arial,20,&H00FFFFFF,0,0,2,10,10,10,1\n\n[Events]\n"
    "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"
    "Dialogue: 0,0:00:00.30,0:00:00.90,Default,,0,0,0,,{\\i1}Bonjour{\\i0} à tous\n"
)


def picture(width: int, height: int, *, rate: float = 25, seconds: float = 1.0, pattern: str = "testsrc2") -> list[str]:
    """A moving test pattern (`testsrc` keeps odd sizes, `testsrc2` rounds them to even)."""
    return ["-f", "lavfi", "-i", f"{pattern}=size={width}x{height}:rate={rate}:duration={seconds}"]


def tone(seconds: float = 1.0, *, rate: int = 48000, hertz: int = 440, layout: str = "") -> list[str]:
    layout_filter = f",aformat=channel_layouts={layout}" if layout else ""
    return ["-f", "lavfi", "-i", f"sine=frequency={hertz}:sample_rate={rate}:duration={seconds}{layout_filter}"]


@dataclass(frozen=True)
class Case:
    """A source and what a viewer must get from it: the picture's display shape, the renditions, the
    audio track and subtitle names, the frame rate the master announces."""

    file: str
    make: Callable[[Path], Path]
    display: tuple[int, int]
    rungs: tuple[str, ...] = ("480p",)
    audio: tuple[str, ...] = ("Original",)
    subtitles: tuple[str, ...] = ()
    frame_rate: float = 25.0


def made(name: str, *args: str) -> Callable[[Path], Path]:
    return lambda folder: make_source(folder / name, *args)


def two_steps(name: str, first: list[str], second: Callable[[Path], list[str]]) -> Callable[[Path], Path]:
    """A clip made, then remuxed by `second(clip)` (start offsets, rotation, containers)."""

    def make(folder: Path) -> Path:
        clip = make_source(folder / f"step-{name}.mkv", *first)
        return make_source(folder / name, *second(clip))

    return make


def with_subtitle_files(name: str, args: Callable[[Path, Path], list[str]]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        (folder / "s.srt").write_text(SRT)
        (folder / "s.ass").write_text(ASS)
        return make_source(folder / name, *args(folder / "s.srt", folder / "s.ass"))

    return make


CASES = [
    Case(
        "vertical.mp4",
        made("vertical.mp4", *picture(1080, 1920, seconds=0.5), *tone(0.5), *H264, *AAC),
        (1080, 1920),
        ("480p", "720p", "1080p"),
    ),
    Case(
        "odd-853x479.avi",
        made("odd-853x479.avi", *picture(853, 479, pattern="testsrc"), "-c:v", "mpeg4"),
        (853, 479),
        audio=("Silent",),
    ),
    Case(
        "odd-641x361.mkv",
        made("odd-641x361.mkv", *picture(641, 361, pattern="testsrc"), *tone(), "-c:v", "ffv1", "-c:a", "flac"),
        (641, 361),
    ),
    Case("tiny.mp4", made("tiny.mp4", *picture(96, 64), *tone(), *H264, *AAC), (96, 64)),
    Case("ultra-wide.mp4", made("ultra-wide.mp4", *picture(1104, 400), *tone(), *H264, *AAC), (1104, 400)),
    Case(
        "anamorphic-16x9.mp4",
        made("anamorphic-16x9.mp4", *picture(720, 576), *tone(), *H264, "-vf", "setsar=64/45", *AAC),
        (1024, 576),
    ),
    Case(
        "anamorphic-4x3.mkv",
        made("anamorphic-4x3.mkv", *picture(720, 480), *tone(), *H264, "-vf", "setsar=8/9", *AAC),
        (640, 480),
    ),
    Case(
        "phone-rotated.mov",
        two_steps(
            "phone-rotated.mov",
            [*picture(640, 360), *tone(), *H264, *AAC],
            lambda clip: ["-display_rotation", "90", "-i", str(clip), "-c", "copy"],
        ),
        (360, 640),
    ),
    Case("short.mp4", made("short.mp4", *picture(320, 240, seconds=0.3), *tone(0.3), *H264, *AAC), (320, 240)),
    Case("60fps.mp4", made("60fps.mp4", *picture(640, 360, rate=60), *tone(), *H264, *AAC), (640, 360), frame_rate=60),
    Case(
        "120fps.mp4", made("120fps.mp4", *picture(640, 360, rate=120), *tone(), *H264, *AAC), (640, 360), frame_rate=60
    ),
    Case(
        "variable-frame-rate.mkv",
        made(
            "variable-frame-rate.mkv",
            *picture(320, 240, rate=30, seconds=2),
            *tone(2),
            "-vf",
            "select='lt(t,1)+not(mod(n,3))'",
            "-fps_mode",
            "vfr",
            *H264,
            *AAC,
        ),
        (320, 240),
        frame_rate=30,
    ),
    Case(
        "video-starts-late.mkv",
        two_steps(
            "video-starts-late.mkv",
            [*picture(320, 240), *H264],
            lambda clip: [
                "-itsoffset",
                "1",
                "-i",
                str(clip),
                *tone(2),
                "-map",
                "0:v",
                "-map",
                "1:a",
                "-c:v",
                "copy",
                *AAC,
            ],
        ),
        (320, 240),
    ),
    Case(
        "audio-starts-late.mkv",
        two_steps(
            "audio-starts-late.mkv",
            [*tone(), *AAC],
            lambda clip: [*picture(320, 240, seconds=2), "-itsoffset", "1", "-i", str(clip), *H264, "-c:a", "copy"],
        ),
        (320, 240),
    ),
    Case(
        "sound-outlasts-picture.mp4",
        made("sound-outlasts-picture.mp4", *picture(320, 240), *tone(2), *H264, *AAC),
        (320, 240),
    ),
    Case(
        "picture-outlasts-sound.mp4",
        made("picture-outlasts-sound.mp4", *picture(320, 240, seconds=2), *tone(), *H264, *AAC),
        (320, 240),
    ),
    Case(
        "browser-recording.webm",  # MediaRecorder writes WebM as it records: no duration in the header
        made(
            "browser-recording.webm",
            *picture(320, 240, rate=30, seconds=1.5),
            *tone(1.5),
            *("-c:v", "libvpx", "-deadline", "realtime", "-c:a", "libopus", "-f", "webm", "-live", "1"),
        ),
        (320, 240),
        frame_rate=30,
    ),
    Case(
        "elementary-stream.h264",  # a bare H.264 stream (drones, CCTV exports): no container, no timestamps
        made("elementary-stream.h264", *picture(320, 240), *H264, "-f", "h264"),
        (320, 240),
        audio=("Silent",),
    ),
    Case(
        "ten-hours-in.ts",
        made("ten-hours-in.ts", *picture(320, 240), *tone(), *H264, *AAC, "-output_ts_offset", "36000"),
        (320, 240),
    ),
    Case(
        "timestamps-wrap.ts",  # MPEG-TS clocks wrap after 2**33 ticks (26.5 h): here in the middle of the clip
        made(
            "timestamps-wrap.ts", *picture(320, 240, seconds=2), *tone(2), *H264, *AAC, "-output_ts_offset", "95442.7"
        ),
        (320, 240),
    ),
    Case(
        "hevc-10bit.mp4",
        made(
            "hevc-10bit.mp4",
            *picture(320, 240),
            *tone(),
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p10le",
            "-x265-params",
            "log-level=error",
            "-tag:v",
            "hvc1",
            *AAC,
        ),
        (320, 240),
    ),
    Case(
        "vp9.webm",
        made(
            "vp9.webm",
            *picture(320, 240),
            *tone(),
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-c:a",
            "libopus",
        ),
        (320, 240),
    ),
    Case(
        "av1.mp4",
        made("av1.mp4", *picture(320, 240), *tone(), "-c:v", "libsvtav1", "-preset", "12", "-pix_fmt", "yuv420p", *AAC),
        (320, 240),
    ),
    Case("mpeg2.ts", made("mpeg2.ts", *picture(352, 288), *tone(), "-c:v", "mpeg2video", "-c:a", "mp2"), (352, 288)),
    Case(
        "prores.mov",
        made("prores.mov", *picture(320, 240), *tone(), "-c:v", "prores_ks", "-profile:v", "2", "-c:a", "pcm_s24le"),
        (320, 240),
    ),
    Case(
        "languages-and-subtitles.mkv",
        with_subtitle_files(
            "languages-and-subtitles.mkv",
            lambda srt, ass: [
                *picture(320, 240),
                *tone(hertz=440),
                *tone(hertz=660),
                *tone(hertz=880, rate=96000),
                "-i",
                str(srt),
                "-i",
                str(ass),
                *("-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:a", "-map", "4:s", "-map", "5:s"),
                *H264,
                *("-c:a:0", "aac", "-c:a:1", "libvorbis", "-c:a:2", "flac", "-c:s:0", "srt", "-c:s:1", "ass"),
                *("-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fre"),
                *("-metadata:s:a:2", "language=ger", "-metadata:s:a:2", "title=Kommentar"),
                *("-metadata:s:s:0", "language=eng", "-metadata:s:s:1", "language=fre"),
            ],
        ),
        (320, 240),
        audio=("English", "Français", "Kommentar"),
        subtitles=("English", "Français"),
    ),
    Case(
        "mov-text.mp4",
        with_subtitle_files(
            "mov-text.mp4",
            lambda srt, _: [
                *picture(320, 240),
                *tone(),
                "-i",
                str(srt),
                *("-map", "0:v", "-map", "1:a", "-map", "2:s", *H264, *AAC),
                *("-c:s", "mov_text", "-metadata:s:s:0", "language=spa"),
            ],
        ),
        (320, 240),
        subtitles=("Español",),
    ),
    Case(
        "animated.gif",
        made("animated.gif", *picture(320, 240, rate=10)),
        (320, 240),
        audio=("Silent",),
        frame_rate=10,
    ),
    Case(
        "animated.png",
        made("animated.png", *picture(320, 240, rate=10), "-f", "apng", "-plays", "0"),
        (320, 240),
        audio=("Silent",),
        frame_rate=10,
    ),
    Case(
        "surround-5.1.mp4", made("surround-5.1.mp4", *picture(320, 240), *tone(layout="5.1"), *H264, *AAC), (320, 240)
    ),
    Case("mono.mp4", made("mono.mp4", *picture(320, 240), *tone(), *H264, *AAC, "-ac", "1"), (320, 240)),
    Case("96khz.mov", made("96khz.mov", *picture(320, 240), *tone(rate=96000), *H264, "-c:a", "pcm_s24le"), (320, 240)),
    Case("no-audio.mp4", made("no-audio.mp4", *picture(320, 240), *H264), (320, 240), audio=("Silent",)),
    Case(
        "matroska-called.mp4",
        made("matroska-called.mp4", *picture(320, 240), *tone(), *H264, "-c:a", "libopus", "-f", "matroska"),
        (320, 240),
    ),
]


def _id(case: Case) -> str:
    return case.file.rsplit(".", 1)[0]


@pytest.mark.parametrize("case", CASES, ids=_id)
async def test_an_unusual_source_becomes_a_video_that_plays(case: Case, tmp_path: Path) -> None:
    if case.file == "av1.mp4" and not can_encode("libsvtav1"):
        pytest.skip("this ffmpeg cannot encode AV1")
    source = case.make(tmp_path)
    video = await transcode(tmp_path, source)
    await assert_plays(video, case)


async def assert_plays(video: Transcoded, case: Case) -> None:
    """What a viewer's player needs: each rendition named in the master decodes from its decrypted
    segments at the size the master says — the source's display shape in square pixels — starting at
    the timeline's origin; each audio track decodes as stereo 48 kHz from the same origin; the
    playlists' durations agree with the video's; the subtitles are WebVTT with their cues."""
    master = await video.playlist("master.m3u8")
    duration = video.result.duration
    assert [p.uri for p in master.playlists] == [f"{rung}/index.m3u8" for rung in case.rungs]
    display_aspect = case.display[0] / case.display[1]
    for variant in master.playlists:
        width, height = variant.stream_info.resolution
        assert (width % 2, height % 2) == (0, 0)  # H.264 4:2:0 needs even sides
        assert width / height == pytest.approx(display_aspect, rel=0.015), variant.uri
        assert variant.stream_info.frame_rate == pytest.approx(case.frame_rate)
        playlist = await video.playlist(variant.uri)
        assert playlist.is_endlist
        assert sum(s.duration for s in playlist.segments) == pytest.approx(duration, abs=0.1)
        with av.open(io.BytesIO(await video.clear_stream(variant.uri)), format="mpegts") as container:
            stream = container.streams.video[0]
            frames = list(container.decode(stream))
            assert stream.codec_context.sample_aspect_ratio in (None, 1)  # square pixels
        assert frames, variant.uri
        assert {(f.width, f.height) for f in frames} == {(width, height)}
        assert frames[0].pts == MPEGTS_ORIGIN
    audio = [m for m in master.media if m.type == "AUDIO"]
    assert [m.name for m in audio] == list(case.audio)
    for track in audio:
        playlist = await video.playlist(track.uri)
        assert sum(s.duration for s in playlist.segments) == pytest.approx(duration, abs=0.1)
        with av.open(io.BytesIO(await video.clear_stream(track.uri)), format="mpegts") as container:
            stream = container.streams.audio[0]
            sound = list(container.decode(stream))
            assert (stream.codec_context.name, stream.codec_context.sample_rate) == ("aac", 48000)
            assert stream.codec_context.channels == 2
        assert sound, track.uri
        # AAC's priming puts the first packet one frame (1024 samples, 21 ms) before the origin.
        assert sound[0].pts == pytest.approx(MPEGTS_ORIGIN, abs=0.025 * TICKS), track.uri
    subtitles = [m for m in master.media if m.type == "SUBTITLES"]
    assert [m.name for m in subtitles] == list(case.subtitles)
    for track in subtitles:
        vtt = await video.text(track.uri.removesuffix(".m3u8") + ".vtt")
        assert vtt.startswith(f"WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{MPEGTS_ORIGIN},")
        assert " --> " in vtt
    assert video.result.cover_cid is not None
    with av.open(io.BytesIO(await video.service.read_published(video.result.cover_cid))) as image:
        cover = next(image.decode(video=0))
    assert cover.width / cover.height == pytest.approx(display_aspect, rel=0.015)
    assert "storyboard/thumbnails.vtt" in video.result.manifest  # seek previews


def _bright_quarters(frame: av.VideoFrame) -> tuple[bool, bool, bool, bool]:
    """Which quarters of the picture (top-left, top-right, bottom-left, bottom-right) are mostly white."""
    gray = frame.reformat(width=8, height=8, format="gray")
    plane = gray.planes[0]
    rows = [bytes(plane)[y * plane.line_size : y * plane.line_size + 8] for y in range(8)]

    def bright(top: int, left: int) -> bool:
        return sum(rows[y][x] for y in range(top, top + 4) for x in range(left, left + 4)) > 16 * 128

    return bright(0, 0), bright(0, 4), bright(4, 0), bright(4, 4)


@pytest.mark.parametrize("rotation", [90, 180, 270])
async def test_a_phone_clip_with_a_rotation_matrix_plays_the_right_way_up(rotation: int, tmp_path: Path) -> None:
    """What the phone showed — a portrait picture white in its top-left quarter — is stored turned on
    its side with a display matrix that turns it back; the video shows it as the phone did."""
    shown = "color=black:size=360x640:rate=25:duration=1,drawbox=x=0:y=0:w=180:h=320:color=white:t=fill"
    turn = {90: "transpose=clock", 180: "hflip,vflip", 270: "transpose=cclock"}[rotation]
    stored = make_source(tmp_path / "stored.mp4", "-f", "lavfi", "-i", shown, "-vf", turn, *H264)
    phone = make_source(tmp_path / "phone.mov", "-display_rotation", str(rotation), "-i", str(stored), "-c", "copy")
    video = await transcode(tmp_path, phone)
    await assert_plays(video, Case("phone.mov", lambda _: phone, (360, 640), audio=("Silent",)))
    with av.open(io.BytesIO(await video.clear_segment("480p/index.m3u8")), format="mpegts") as container:
        assert _bright_quarters(next(container.decode(video=0))) == (True, False, False, False)
    assert video.result.cover_cid is not None
    with av.open(io.BytesIO(await video.service.read_published(video.result.cover_cid))) as image:
        assert _bright_quarters(next(image.decode(video=0))) == (True, False, False, False)


def _field_order_detection(clear: bytes, folder: Path) -> dict[str, int]:
    """ffmpeg's interlace detector (idet) over a decrypted rendition: how many frames look woven from two
    fields (top or bottom first) and how many look progressive."""
    stream = folder / "rendition.ts"
    stream.write_bytes(clear)
    run = subprocess.run(
        [FFMPEG, "-hide_banner", "-i", str(stream), "-vf", "idet", "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    # The last report: ffmpeg may set the filter up twice, and the first saw no frame.
    line = [line for line in run.stderr.splitlines() if "Multi frame detection" in line][-1]
    counts = dict(re.findall(r"(TFF|BFF|Progressive|Undetermined):\s*(\d+)", line))
    return {name: int(count) for name, count in counts.items()}


async def test_an_interlaced_broadcast_clip_is_deinterlaced(tmp_path: Path) -> None:
    """A 50i camera or broadcast clip (each frame two fields woven together, top field first) comes
    out progressive: a browser shows frames whole, so woven fields would comb every moving edge."""
    interlaced = make_source(
        tmp_path / "broadcast.ts",
        *picture(640, 480, rate=50),
        *tone(),
        "-vf",
        "interlace",
        *H264,
        *("-flags", "+ildct+ilme", "-x264-params", "tff=1"),
        *AAC,
    )
    assert _field_order_detection(interlaced.read_bytes(), tmp_path)["TFF"] > 20  # the source is combed
    video = await transcode(tmp_path, interlaced)
    await assert_plays(video, Case("broadcast.ts", lambda _: interlaced, (640, 480)))
    detected = _field_order_detection(await video.clear_stream("480p/index.m3u8"), tmp_path)
    assert detected["TFF"] + detected["BFF"] == 0
    assert detected["Progressive"] > 20


# H.264 levels (ITU-T H.264 table A-1): the macroblocks per second and per frame a decoder of that
# level must handle, and no more.
_H264_LEVELS = {30: (40_500, 1_620), 31: (108_000, 3_600), 32: (216_000, 5_120), 40: (245_760, 8_192)}
_H264_LEVELS |= {41: (245_760, 8_192), 42: (522_240, 8_704), 50: (589_824, 22_080), 51: (983_040, 36_864)}


async def test_a_1080p60_source_announces_the_h264_level_its_renditions_need(tmp_path: Path) -> None:
    """The CODECS a player checks before it loads a rendition name the level the stream declares, and
    that level covers the rendition's size and frame rate (1080p at 60 fps needs 4.2, not 4.1)."""
    source = make_source(tmp_path / "sport.mp4", *picture(1920, 1080, rate=60, seconds=0.5), *tone(0.5), *H264, *AAC)
    video = await transcode(tmp_path, source)
    master = await video.playlist("master.m3u8")
    assert [p.uri for p in master.playlists] == ["480p/index.m3u8", "720p/index.m3u8", "1080p/index.m3u8"]
    for variant in master.playlists:
        announced = int(variant.stream_info.codecs.split(",")[0].removeprefix("avc1.")[4:], 16)
        with av.open(io.BytesIO(await video.clear_segment(variant.uri)), format="mpegts") as container:
            declared = container.streams.video[0].codec_context.level
        assert announced == declared, variant.uri
        width, height = variant.stream_info.resolution
        macroblocks = -(-width // 16) * -(-height // 16)
        per_second, per_frame = _H264_LEVELS[declared]
        assert macroblocks <= per_frame, variant.uri
        assert macroblocks * variant.stream_info.frame_rate <= per_second, variant.uri


@pytest.mark.parametrize(
    "folder",
    ["Vidéos d’été 2026", "100% fait main", "-i concat:x|y", "動画 🎥 " + "long " * 40],
    ids=["unicode-and-spaces", "percent-sign", "looks-like-options", "very-long"],
)
async def test_unicode_spaces_percent_signs_and_long_names_do_not_matter(folder: str, tmp_path: Path) -> None:
    """Wherever the server keeps its files and whatever the creator called theirs, the paths ffmpeg is
    given mean only those files."""
    place = tmp_path / folder.strip()
    place.mkdir()
    name = ("Vacances à Zürich — version définitive 100% " * 6).encode()[:240].decode(errors="ignore") + ".mov"
    source = make_source(place / name, *picture(320, 240), *tone(), *H264, *AAC)
    subtitles = place / "sous-titres (français) 100%.srt"
    subtitles.write_text(SRT)
    video = await transcode(place, source, (SubtitleSource(subtitles, "fr", "Français"),))
    await assert_plays(video, Case(name, lambda _: source, (320, 240), subtitles=("Français",)))


async def test_a_work_folder_ffmpeg_cannot_name_segments_in_fails_the_step_instead_of_publishing(
    tmp_path: Path,
) -> None:
    """ffmpeg's HLS muxer numbers every `%d` in a segment's path and exits 0 when it cannot write one:
    the run refuses such a folder at its first HLS step, and names no server path."""
    place = tmp_path / "take %d"
    place.mkdir()
    source = make_source(tmp_path / "clip.mp4", *picture(320, 240), *tone(), *H264, *AAC)
    with pytest.raises(UnitFailed) as failed:
        await transcode(place, source)
    assert failed.value.unit == "ConvertBaseAudio"
    assert "%d" in failed.value.reason
    assert str(tmp_path) not in failed.value.reason


async def test_a_source_the_probe_refuses_fails_the_run_for_good_with_its_reason(tmp_path: Path) -> None:
    """Trying again cannot turn a text file into a video: the queue is told not to retry it."""
    notes = tmp_path / "notes.mp4"
    notes.write_text("Not a video at all.\n" * 40)
    with pytest.raises(UnitFailed) as failed:
        await transcode(tmp_path, notes)
    assert failed.value.unit == "ConvertingInitial"
    assert "not a video" in failed.value.reason
    assert failed.value.permanent


async def test_a_subtitle_file_the_pipeline_cannot_read_fails_the_run_for_good(tmp_path: Path) -> None:
    source = make_source(tmp_path / "clip.mp4", *picture(320, 240), *tone(), *H264, *AAC)
    bad = tmp_path / "bad.srt"
    bad.write_text("1\n00:00:02,000 --> 00:00:01,000\nEnds before it starts\n")
    with pytest.raises(UnitFailed) as failed:
        await transcode(tmp_path, source, (SubtitleSource(bad, "en", "English"),))
    assert failed.value.unit == "ConvertSubtitles"
    assert "no cues" in failed.value.reason
    assert failed.value.permanent


class _ReadsAFileThatIsNotThere(Unit):
    """A step that fails on the file system, as a full disk or a vanished work folder would."""

    label = "Reading"

    async def run(self, ctx: UnitContext) -> Output:
        request = ctx.params["request"]
        return {"size": len((request.work_dir / "out" / "480p" / "seg_00000.ts").read_bytes())}


async def test_a_step_failing_on_the_file_system_names_no_server_path(tmp_path: Path) -> None:
    """The reason a failed video shows its creator never tells where the server keeps its files."""
    source = make_source(tmp_path / "clip.mp4", *picture(320, 240), *tone(), *H264, *AAC)
    service = TranscodeService(
        MemoryCheckpointStore(),
        MemoryKeyStore(),
        MemoryContentStore(),
        SubprocessFfmpeg(FFMPEG),
        ConvertingInitial >> _ReadsAFileThatIsNotThere,
    )
    request = TranscodeRequest(run_id="run", source=source, work_dir=tmp_path / "work", key_uri="/v/x/key")
    with pytest.raises(UnitFailed) as failed:
        await service.transcode(request)
    assert failed.value.unit == "_ReadsAFileThatIsNotThere"
    assert str(tmp_path) not in failed.value.reason
    assert "seg_00000.ts" in failed.value.reason
