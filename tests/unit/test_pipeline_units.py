"""The transcoding pipeline's pure rules: its composition, subtitles, the rendition ladder, playlists."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import m3u8
import pytest

from features.pipeline.ffmpeg_args import h264_level
from features.pipeline.hls import (
    MPEGTS_ORIGIN,
    MasterMedia,
    MasterVariant,
    avc1_codec,
    bandwidth,
    decrypt_bytes,
    encrypt_file,
    iv_for,
    render_master,
    sealed_playlist,
    sealed_size,
    unwritten_segments,
)
from features.pipeline.model import LADDER, RenditionSize, SourceInfo, TranscodeResult, rendition_ladder
from features.pipeline.subtitles import SubtitleError, parse_cues, sniff, subtitle_playlist, to_webvtt
from features.pipeline.units import TRANSCODE


def source(width: int, height: int, rotation: int = 0, pixel_aspect: float = 1.0) -> SourceInfo:
    return SourceInfo(
        duration=10.0,
        width=width,
        height=height,
        video_codec="h264",
        audio_codec="aac",
        bit_rate=1_000_000,
        frame_rate=30.0,
        has_audio=True,
        rotation=rotation,
        format_name="mov,mp4,m4a,3gp,3g2,mj2",
        pixel_aspect=pixel_aspect,
    )


def sizes(info: SourceInfo) -> list[tuple[str, int, int]]:
    return [(r.name, r.width, r.height) for r in rendition_ladder(info)]


# --------------------------------------------------------------------------
# Composition
# --------------------------------------------------------------------------


def test_the_pipeline_runs_the_units_in_the_order_the_business_names_them() -> None:
    assert TRANSCODE.names == [
        "ConvertingInitial",
        "ConvertSubtitles",
        "ConvertBaseAudio",
        "ConvertVideoTo480p",
        "ExtractCover",
        "ExtractStoryboard",
        "Publish480p",
        "ConvertVideoTo720p",
        "Publish720p",
        "ConvertVideoTo1080p",
        "Publish1080p",
        "ConvertingTerminal",
    ]


def test_every_unit_has_a_title_for_the_progress_tile_and_encoding_weighs_most() -> None:
    assert all(unit.title != unit.name for unit in TRANSCODE.units)
    weights = {unit.name: unit.weight for unit in TRANSCODE.units}
    assert weights["ConvertVideoTo1080p"] > weights["ConvertVideoTo720p"] > weights["ConvertVideoTo480p"]
    assert weights["ConvertVideoTo480p"] > weights["Publish480p"]


# --------------------------------------------------------------------------
# Rendition ladder
# --------------------------------------------------------------------------


def test_a_1080p_source_gets_every_rung() -> None:
    assert sizes(source(1920, 1080)) == [("480p", 854, 480), ("720p", 1280, 720), ("1080p", 1920, 1080)]


def test_a_720p_source_is_never_upscaled_to_1080p() -> None:
    assert sizes(source(1280, 720)) == [("480p", 854, 480), ("720p", 1280, 720)]


def test_a_small_source_keeps_its_own_size_in_the_base_rung() -> None:
    assert sizes(source(320, 240)) == [("480p", 320, 240)]


def test_a_portrait_phone_video_scales_its_short_side() -> None:
    assert sizes(source(1080, 1920)) == [("480p", 480, 854), ("720p", 720, 1280), ("1080p", 1080, 1920)]


def test_a_rotated_phone_video_is_laddered_by_its_display_size() -> None:
    rotated = source(1920, 1080, rotation=90)
    assert (rotated.display_width, rotated.display_height) == (1080, 1920)
    assert sizes(rotated)[0] == ("480p", 480, 854)


def test_an_anamorphic_source_is_laddered_by_the_picture_players_show() -> None:
    widescreen_dvd = source(720, 576, pixel_aspect=64 / 45)
    assert (widescreen_dvd.display_width, widescreen_dvd.display_height) == (1024, 576)
    assert sizes(widescreen_dvd) == [("480p", 854, 480)]
    assert sizes(source(1440, 1080, pixel_aspect=4 / 3)) == [
        ("480p", 854, 480),
        ("720p", 1280, 720),
        ("1080p", 1920, 1080),
    ]
    turned = source(720, 576, rotation=90, pixel_aspect=64 / 45)  # the pixels widen first, then it turns
    assert (turned.display_width, turned.display_height) == (576, 1024)
    older = source(720, 576).to_dict()
    del older["pixel_aspect"]  # recorded before pixel aspects were probed
    assert SourceInfo.from_dict(older) == source(720, 576)


def test_a_cinemascope_source_is_fitted_by_width_and_keeps_even_dimensions() -> None:
    assert sizes(source(1920, 804)) == [("480p", 854, 358), ("720p", 1280, 536), ("1080p", 1920, 804)]
    for _name, width, height in sizes(source(1001, 563)) + sizes(source(333, 187)):
        assert width % 2 == 0
        assert height % 2 == 0


def test_the_ladder_rungs_grow_in_size_and_bitrate() -> None:
    assert [spec.box_height for spec in LADDER] == [480, 720, 1080]
    assert [spec.maxrate_kbps for spec in LADDER] == sorted(spec.maxrate_kbps for spec in LADDER)


# --------------------------------------------------------------------------
# Subtitles
# --------------------------------------------------------------------------

SRT = """1
00:00:01,000 --> 00:00:02,500
Hello <I>there</I>

2
00:01:02,050 --> 00:01:04,000
{\\an8}<font color="#ff0000">Fish & chips</font>
two lines --> one arrow

"""


def test_srt_becomes_webvtt_with_dotted_timestamps_and_the_same_cues() -> None:
    vtt = to_webvtt(SRT, mpegts_origin=MPEGTS_ORIGIN)
    lines = vtt.split("\n")
    assert lines[0] == "WEBVTT"
    assert lines[1] == f"X-TIMESTAMP-MAP=MPEGTS:{MPEGTS_ORIGIN},LOCAL:00:00:00.000"
    assert "00:00:01.000 --> 00:00:02.500" in lines
    assert "00:01:02.050 --> 00:01:04.000" in lines
    assert "Hello <i>there</i>" in lines
    assert "Fish &amp; chips" in lines  # the <font> tag dropped, the ampersand escaped
    assert "two lines --&gt; one arrow" in lines
    assert "," not in "".join(line for line in lines if "-->" in line)


def test_formats_are_told_apart_by_content_not_by_name() -> None:
    assert sniff(SRT) == "srt"
    assert sniff("\ufeffWEBVTT\n\n00:01.000 --> 00:02.000\nHi\n") == "webvtt"
    assert sniff("1\n00:00:01.000 --> 00:00:02.000\nDots, as some tools write SRT\n") == "srt"
    with pytest.raises(SubtitleError):
        sniff("[Script Info]\nTitle: an ASS file\n")
    with pytest.raises(SubtitleError):
        sniff("just some text\n")


def test_webvtt_input_keeps_cue_settings_and_short_timestamps_are_normalized() -> None:
    source_vtt = "WEBVTT - a title\n\nNOTE a comment\n\nintro\n00:01.000 --> 00:02.000 align:start line:10%\nHi\n"
    cues = parse_cues(source_vtt)
    assert [(c.start, c.end, c.text, c.identifier, c.settings) for c in cues] == [
        (1.0, 2.0, "Hi", "intro", "align:start line:10%")
    ]
    assert "00:00:01.000 --> 00:00:02.000 align:start line:10%" in to_webvtt(source_vtt, mpegts_origin=0)


def test_a_subtitle_file_without_cues_is_refused() -> None:
    with pytest.raises(SubtitleError, match="no cues"):
        to_webvtt("WEBVTT\n\n", mpegts_origin=0)


def test_the_subtitle_playlist_spans_the_whole_video_in_one_segment() -> None:
    playlist = m3u8.loads(subtitle_playlist("0-en.vtt", 12.4))
    assert playlist.target_duration == 13
    assert [(s.uri, s.duration) for s in playlist.segments] == [("0-en.vtt", 12.4)]
    assert playlist.is_endlist


# --------------------------------------------------------------------------
# Playlists and keys
# --------------------------------------------------------------------------


def test_the_master_playlist_lists_renditions_audio_and_subtitle_groups() -> None:
    text = render_master(
        [
            MasterVariant("720p/index.m3u8", 1280, 720, 3_100_000, 2_000_000, 30.0, "avc1.640028,mp4a.40.2"),
            MasterVariant("480p/index.m3u8", 854, 480, 1_500_000, 900_000, 30.0, "avc1.4d401f,mp4a.40.2"),
        ],
        [
            MasterMedia("AUDIO", "audio", "Original", None, "audio/index.m3u8", True, 2),
            MasterMedia("SUBTITLES", "subs", "English", "en", "subs/0-en.m3u8", True),
            MasterMedia("SUBTITLES", "subs", "Français", "fr", "subs/1-fr.m3u8", False),
        ],
    )
    master = m3u8.loads(text)
    assert [p.uri for p in master.playlists] == ["480p/index.m3u8", "720p/index.m3u8"]
    first = master.playlists[0].stream_info
    assert first.resolution == (854, 480)
    assert first.bandwidth == 1_500_000
    assert first.codecs == "avc1.4d401f,mp4a.40.2"
    assert first.audio == "audio"
    assert first.subtitles == "subs"
    assert [(m.type, m.uri) for m in master.media] == [
        ("AUDIO", "audio/index.m3u8"),
        ("SUBTITLES", "subs/0-en.m3u8"),
        ("SUBTITLES", "subs/1-fr.m3u8"),
    ]


def test_a_rendition_declares_the_lowest_h264_level_that_covers_its_size_and_frame_rate() -> None:
    rung = {spec.name: spec for spec in LADDER}
    assert h264_level(rung["480p"], RenditionSize("480p", 854, 480), 60) == "3.1"
    assert h264_level(rung["720p"], RenditionSize("720p", 1280, 720), 60) == "4.0"
    assert h264_level(rung["1080p"], RenditionSize("1080p", 1920, 1080), 30) == "4.1"
    assert h264_level(rung["1080p"], RenditionSize("1080p", 1920, 1080), 60) == "4.2"
    assert h264_level(rung["1080p"], RenditionSize("1080p", 1080, 1920), 50) == "4.2"


def test_a_media_playlist_naming_files_ffmpeg_did_not_write_is_caught(tmp_path: Path) -> None:
    assert unwritten_segments(tmp_path) == ["index.m3u8"]
    (tmp_path / "index.m3u8").write_text("#EXTM3U\n#EXTINF:4.0,\nseg_00000.ts\n#EXTINF:1.0,\nseg_00001.ts\n")
    (tmp_path / "seg_00000.ts").write_bytes(b"G")
    assert unwritten_segments(tmp_path) == ["seg_00001.ts"]
    (tmp_path / "seg_00001.ts").write_bytes(b"G")
    assert unwritten_segments(tmp_path) == []


def test_codec_strings_follow_rfc_6381() -> None:
    assert avc1_codec("main", "3.1") == "avc1.4d401f"
    assert avc1_codec("high", "4.0") == "avc1.640028"
    assert avc1_codec("high", "4.1") == "avc1.640029"


def test_every_sealed_segment_gets_its_own_explicit_iv() -> None:
    base = bytes(range(16))
    playlist = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXTINF:4.0,\nseg_00000.ts\n#EXTINF:2.0,\nseg_00001.ts\n#EXT-X-ENDLIST\n"
    )
    counter = itertools.count()
    text, sealed = sealed_playlist(playlist, "/v/abc/key", (iv_for(base, n) for n in counter))
    parsed = m3u8.loads(text)
    assert [s.uri for s in parsed.segments] == ["seg_00000.ts", "seg_00001.ts"]
    ivs = [s.key.iv for s in parsed.segments]
    assert ivs == ["0x" + iv_for(base, 0).hex(), "0x" + iv_for(base, 1).hex()]
    assert len(set(ivs)) == 2
    assert all(s.key.method == "AES-128" and s.key.uri == "/v/abc/key" for s in parsed.segments)
    assert [iv for _uri, iv in sealed] == [iv_for(base, 0), iv_for(base, 1)]
    assert iv_for(b"\xff" * 16, 1) == bytes(16)  # wraps around modulo 2**128


def test_a_sealed_segment_decrypts_back_to_the_clear_bytes(tmp_path: Path) -> None:
    folder = tmp_path
    clear = bytes([0x47]) + bytes(range(256)) * 700
    (folder / "clear.ts").write_bytes(clear)
    key, iv = b"k" * 16, b"i" * 16
    encrypt_file(folder / "clear.ts", folder / "sealed.ts", key, iv)
    sealed = (folder / "sealed.ts").read_bytes()
    assert sealed[0] != 0x47
    assert len(sealed) % 16 == 0
    assert decrypt_bytes(sealed, key, iv) == clear


@pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 188 * 1000, 188 * 1001])
def test_the_bandwidth_counts_segments_as_sealed(tmp_path: Path, size: int) -> None:
    (tmp_path / "clear.ts").write_bytes(b"\x47" * size)
    encrypt_file(tmp_path / "clear.ts", tmp_path / "sealed.ts", b"k" * 16, b"i" * 16)
    assert (tmp_path / "sealed.ts").stat().st_size == sealed_size(size)


def test_the_peak_counts_a_short_last_segment_and_the_average_never_exceeds_it(tmp_path: Path) -> None:
    (tmp_path / "a.ts").write_bytes(b"x" * 100_000)
    (tmp_path / "b.ts").write_bytes(b"x" * 3_000)  # 0.04 s: 600 kb/s, above the first segment's 200 kb/s
    (tmp_path / "index.m3u8").write_text("#EXTM3U\n#EXTINF:4.000,\na.ts\n#EXTINF:0.040,\nb.ts\n#EXT-X-ENDLIST\n")
    peak, average = bandwidth(tmp_path / "index.m3u8")
    assert peak == math.ceil(sealed_size(3_000) * 8 / 0.04)
    assert average == math.ceil((sealed_size(100_000) + sealed_size(3_000)) * 8 / 4.04)
    assert average <= peak


def test_a_transcode_result_round_trips_through_json_shapes() -> None:
    data = {
        "master_playlist_cid": "bafkrei-master",
        "master_playlist": "master.m3u8",
        "manifest": {"master.m3u8": "bafkrei-master"},
        "renditions": [{"name": "480p", "width": 854, "height": 480, "bandwidth": 1, "playlist": "480p/index.m3u8"}],
        "audio_tracks": [
            {"name": "English", "language": "en", "playlist": "audio/index.m3u8", "default": True}
            | {"autoselect": True, "channels": 2, "characteristics": None},
            {"name": "Audio description (English)", "language": "en", "playlist": "audio-1/index.m3u8"}
            | {"default": False, "autoselect": True, "channels": 2}
            | {"characteristics": "public.accessibility.describes-video"},
        ],
        "subtitle_tracks": [{"language": "en", "label": "English", "playlist": "subs/0-en.m3u8"}],
        "cover_cid": None,
        "cover": None,
        "duration": 2.0,
        "pending": ["720p", "1080p"],
    }
    assert TranscodeResult.from_dict(data).to_dict() == data
    # A result recorded before several audio tracks (one track, no default flag) still reads: its one track.
    old = {**data, "audio_tracks": [{"name": "Original", "language": "und", "playlist": "audio/index.m3u8"}]}
    (track,) = TranscodeResult.from_dict(old).audio_tracks
    assert (track.default, track.autoselect, track.channels) == (True, True, 2)
