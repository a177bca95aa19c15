"""Several audio tracks, the pure parts: which renditions a source gets and what they are called, the
ffmpeg command lines that make them, and the master playlist that names them (checked with `m3u8`)."""

from __future__ import annotations

from pathlib import Path

import m3u8
import pytest

from features.pipeline.added_audio import AudioTrackError, check_audio_track
from features.pipeline.audio import hls_language, plan_audio, unique_names
from features.pipeline.ffmpeg_args import added_audio_args, audio_args, subtitle_extract_args
from features.pipeline.hls import MasterMedia, MasterVariant, add_audio_rendition, render_master
from features.pipeline.model import AudioStream, ProbeError, SourceInfo
from features.pipeline.probe import probe_audio, probe_media
from tests.support.media import make_clip, make_multilingual_clip, make_still, make_tone


def stream(index: int, language: str | None, *flags: str, title: str | None = None) -> AudioStream:
    return AudioStream(index, "aac", 2, language, title, tuple(flags))


def source(*streams: AudioStream) -> SourceInfo:
    return SourceInfo(4.0, 320, 240, "h264", "aac" if streams else None, None, 25.0, bool(streams), 0, "mp4", streams)


# -- naming and the default ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("eng", "en"),
        ("fra", "fr"),
        ("fre", "fr"),
        ("ger", "de"),
        ("pt-BR", "pt-BR"),
        ("EN", "en"),
        ("haw", "haw"),
        ("und", None),
        ("", None),
        (None, None),
        ('en"x', None),
        ("../x", None),
    ],
)
def test_language_tags_become_rfc_5646(tag: str | None, expected: str | None) -> None:
    assert hls_language(tag) == expected


def test_each_audio_stream_is_a_rendition_named_by_its_language_with_the_sources_default() -> None:
    plans = plan_audio([stream(0, "eng"), stream(1, "fra", "default"), stream(2, None)])
    assert [(p.stream, p.folder, p.name, p.language, p.default, p.autoselect) for p in plans] == [
        (0, "audio", "English", "en", False, True),
        (1, "audio-1", "Français", "fr", True, True),
        (2, "audio-2", "Track 3", None, False, True),
    ]
    assert [p.playlist for p in plans] == ["audio/index.m3u8", "audio-1/index.m3u8", "audio-2/index.m3u8"]


def test_exactly_one_default_a_commentary_is_neither_default_nor_autoselected() -> None:
    # The source marks its commentary default too: the first non-commentary default wins.
    plans = plan_audio([stream(0, "eng", "default", "comment"), stream(1, "eng", "default"), stream(2, "deu")])
    assert [(p.name, p.default, p.autoselect) for p in plans] == [
        ("Commentary (English)", False, False),
        ("English", True, True),
        ("Deutsch", False, True),
    ]
    # No stream marked default: the first that is not a commentary.
    plans = plan_audio([stream(0, "eng", "comment"), stream(1, "fra")])
    assert [p.default for p in plans] == [False, True]
    # Only commentaries: the first, which is then autoselectable (DEFAULT=YES implies AUTOSELECT=YES).
    plans = plan_audio([stream(0, None, "comment"), stream(1, None, "comment")])
    assert [(p.name, p.default, p.autoselect) for p in plans] == [
        ("Commentary", True, True),
        ("Commentary 2", False, False),
    ]


def test_an_audio_description_is_marked_for_players_that_offer_it() -> None:
    plans = plan_audio([stream(0, "eng", "default"), stream(1, "eng", "visual_impaired")])
    assert [(p.name, p.default, p.characteristics) for p in plans] == [
        ("English", True, None),
        ("Audio description (English)", False, "public.accessibility.describes-video"),
    ]
    media = [
        MasterMedia("AUDIO", "audio", p.name, p.language, p.playlist, p.default, 2, p.autoselect, p.characteristics)
        for p in plans
    ]
    master = m3u8.loads(render_master(VARIANTS, media))
    assert [m.characteristics for m in master.media] == [None, "public.accessibility.describes-video"]


def test_titles_win_and_are_made_safe_and_names_stay_unique() -> None:
    plans = plan_audio([stream(0, "eng", title='Director "cut"\n'), stream(1, "eng"), stream(2, "eng")])
    assert [p.name for p in plans] == ["Director 'cut'", "English", "English 2"]
    assert unique_names(["A", "A", "A 2", "A"]) == ["A", "A 2", "A 2 2", "A 3"]


def test_a_source_without_sound_gets_one_silent_default_track() -> None:
    (plan,) = plan_audio([])
    assert (plan.stream, plan.folder, plan.name, plan.default) == (None, "audio", "Silent", True)


def test_a_track_added_later_needs_a_language_and_gets_a_name() -> None:
    assert check_audio_track("fra", "") == ("fr", "Français")
    assert check_audio_track(" pt-BR ", " Dublagem  ") == ("pt-BR", "Dublagem")
    for bad in ("", "und", "../etc", "e", "english language"):
        with pytest.raises(AudioTrackError):
            check_audio_track(bad, "x")


# -- ffmpeg command lines -----------------------------------------------------------------------------


def test_every_audio_rendition_is_made_in_one_ffmpeg_run(tmp_path: Path) -> None:
    args = audio_args(
        tmp_path / "in.mp4", source(stream(0, "eng"), stream(1, "fra")), [(0, tmp_path / "a"), (1, tmp_path / "b")]
    )
    assert args.count("-i") == 1
    maps = [args[i + 1] for i, arg in enumerate(args) if arg == "-map"]
    assert maps == ["0:a:0", "0:a:1"]
    outputs = [arg for arg in args if arg.endswith("index.m3u8")]
    assert outputs == [str((tmp_path / "a" / "index.m3u8").resolve()), str((tmp_path / "b" / "index.m3u8").resolve())]
    assert args.count("aac") == 2
    assert args.count("-avoid_negative_ts") == 2  # every rendition on the same MPEG-TS origin as the video


def test_a_single_audio_source_keeps_its_command_line(tmp_path: Path) -> None:
    args = audio_args(tmp_path / "in.mp4", source(stream(0, "eng")), [(0, tmp_path / "audio")])
    assert args[:4] == ["-i", str((tmp_path / "in.mp4").resolve()), "-map", "0:a:0"]
    assert args[args.index("-b:a") + 1] == "128k"


def test_a_silent_source_gets_a_generated_track_of_its_length(tmp_path: Path) -> None:
    args = audio_args(tmp_path / "in.mp4", source(), [(None, tmp_path / "audio")])
    assert "anullsrc=channel_layout=stereo:sample_rate=48000" in args
    assert args[args.index("-t") + 1] == "4.000"
    with pytest.raises(ValueError, match="silent"):
        audio_args(tmp_path / "in.mp4", source(), [(None, tmp_path / "a"), (None, tmp_path / "b")])


def test_an_added_audio_file_is_cut_or_padded_to_the_videos_length_and_subtitles_are_extracted_as_webvtt(
    tmp_path: Path,
) -> None:
    args = added_audio_args(tmp_path / "a.m4a", 12.5, tmp_path / "out")
    assert args[:4] == ["-i", str((tmp_path / "a.m4a").resolve()), "-map", "0:a:0"]
    assert args[args.index("-t") + 1] == "12.500"
    assert args[args.index("-af") + 1].endswith(",apad")  # silence after a file shorter than the video
    assert "libx264" not in args
    unknown = added_audio_args(tmp_path / "a.m4a", 0.0, tmp_path / "out")
    assert "-t" not in unknown
    assert "apad" not in unknown[unknown.index("-af") + 1]
    args = subtitle_extract_args(tmp_path / "in.mkv", [(0, tmp_path / "0.vtt"), (2, tmp_path / "2.vtt")])
    assert [args[i + 1] for i, arg in enumerate(args) if arg == "-map"] == ["0:s:0", "0:s:2"]
    assert args.count("webvtt") == 4


# -- the master playlist ------------------------------------------------------------------------------

VARIANTS = [
    MasterVariant("480p/index.m3u8", 480, 854, 1_500_000, 900_000, 25.0, "avc1.4d401f,mp4a.40.2"),
    MasterVariant("720p/index.m3u8", 720, 1280, 3_100_000, 2_000_000, 25.0, "avc1.640028,mp4a.40.2"),
]


def test_the_master_playlist_has_one_audio_group_with_every_language_and_one_default() -> None:
    media = [
        MasterMedia("AUDIO", "audio", "English", "en", "audio/index.m3u8", True, 2),
        MasterMedia("AUDIO", "audio", "Français", "fr", "audio-1/index.m3u8", False, 2),
        MasterMedia("AUDIO", "audio", "Commentary", "en", "audio-2/index.m3u8", False, 2, autoselect=False),
        MasterMedia("SUBTITLES", "subs", "English", "en", "subs/0-en.m3u8", True),
    ]
    master = m3u8.loads(render_master(VARIANTS, media))
    audio = [m for m in master.media if m.type == "AUDIO"]
    assert [(m.group_id, m.language, m.name, m.default, m.autoselect, m.channels, m.uri) for m in audio] == [
        ("audio", "en", "English", "YES", "YES", "2", "audio/index.m3u8"),
        ("audio", "fr", "Français", "NO", "YES", "2", "audio-1/index.m3u8"),
        ("audio", "en", "Commentary", "NO", "NO", "2", "audio-2/index.m3u8"),
    ]
    assert [(p.stream_info.audio, p.stream_info.subtitles) for p in master.playlists] == [("audio", "subs")] * 2


def test_two_defaults_or_two_equal_names_in_a_group_are_refused() -> None:
    with pytest.raises(ValueError, match="DEFAULT"):
        render_master(
            VARIANTS,
            [
                MasterMedia("AUDIO", "audio", "English", "en", "audio/index.m3u8", True),
                MasterMedia("AUDIO", "audio", "Français", "fr", "audio-1/index.m3u8", True),
            ],
        )
    with pytest.raises(ValueError, match="NAME"):
        render_master(
            VARIANTS,
            [
                MasterMedia("AUDIO", "audio", "English", "en", "audio/index.m3u8", True),
                MasterMedia("AUDIO", "audio", "English", "en", "audio-1/index.m3u8", False),
            ],
        )


def test_an_added_audio_rendition_joins_the_group_after_the_others_and_grows_the_bandwidth() -> None:
    master = render_master(
        VARIANTS,
        [
            MasterMedia("AUDIO", "audio", "English", "en", "audio/index.m3u8", True, 2),
            MasterMedia("SUBTITLES", "subs", "English", "en", "subs/0-en.m3u8", True),
        ],
    )
    parsed = m3u8.loads(
        add_audio_rendition(master, "Deutsch", "de", "audio-1/index.m3u8", bandwidth_increase=1000, average_increase=10)
    )
    assert [(m.type, m.language, m.name, m.default, m.uri) for m in parsed.media] == [
        ("AUDIO", "en", "English", "YES", "audio/index.m3u8"),
        ("AUDIO", "de", "Deutsch", "NO", "audio-1/index.m3u8"),
        ("SUBTITLES", "en", "English", "YES", "subs/0-en.m3u8"),
    ]
    assert [(p.stream_info.bandwidth, p.stream_info.average_bandwidth) for p in parsed.playlists] == [
        (1_501_000, 900_010),
        (3_101_000, 2_000_010),
    ]
    assert [p.stream_info.audio for p in parsed.playlists] == ["audio", "audio"]
    unchanged = m3u8.loads(add_audio_rendition(master, "Deutsch", "de", "audio-1/index.m3u8"))
    assert [p.stream_info.bandwidth for p in unchanged.playlists] == [1_500_000, 3_100_000]
    with pytest.raises(ValueError, match="already has"):
        add_audio_rendition(master, "English", "en", "audio-1/index.m3u8")
    with pytest.raises(ValueError, match="no audio group"):
        add_audio_rendition(render_master(VARIANTS, []), "Deutsch", "de", "audio-1/index.m3u8")


# -- probing ------------------------------------------------------------------------------------------


def test_the_probe_lists_every_audio_and_subtitle_stream_with_tags_and_dispositions(tmp_path: Path) -> None:
    path = make_multilingual_clip(
        tmp_path / "film.mkv", width=320, height=240, seconds=1, default=1, commentary=0, subtitle_language="fra"
    )
    info = probe_media(path)
    assert [(a.index, a.language, a.default, a.commentary) for a in info.audio_streams] == [
        (0, "eng", False, True),
        (1, "fra", True, False),
    ]
    assert [(s.index, s.codec, s.text, s.language) for s in info.subtitle_streams] == [(0, "srt", True, "fra")]
    assert SourceInfo.from_dict(info.to_dict()) == info


def test_an_added_audio_file_must_hold_sound(tmp_path: Path) -> None:
    assert probe_audio(make_tone(tmp_path / "tone.m4a")).codec == "aac"
    for path in (make_still(tmp_path / "still.png"), make_clip(tmp_path / "silent.mp4", tone=False)):
        with pytest.raises(ProbeError, match="not audio"):
            probe_audio(path)
    (tmp_path / "empty.m4a").write_bytes(b"")
    with pytest.raises(ProbeError, match="empty"):
        probe_audio(tmp_path / "empty.m4a")
