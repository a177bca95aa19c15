"""Several audio tracks, with real ffmpeg: a source's audio streams (languages, commentary) each become an
HLS audio rendition of one group — LANGUAGE, NAME, exactly one DEFAULT from the source's disposition —
encrypted like the rest and named by every variant; its own subtitle stream becomes a subtitles rendition;
and an audio file added later is published beside them without encoding the video again."""

from __future__ import annotations

import array
import dataclasses
import io
from pathlib import Path

import av
import m3u8
import pytest

from features.pipeline.added_audio import AudioTrackError
from features.pipeline.hls import MPEGTS_ORIGIN
from tests.support.media import make_clip, make_multilingual_clip, make_still, make_tone
from tests.support.transcoding import Transcoded, transcode


def dominant_hertz(clear_ts: bytes) -> float:
    """The frequency of a pure tone in a clear MPEG-TS audio segment, from its zero crossings (silence,
    the padding of a track shorter than the video, is not counted)."""
    crossings, samples, rate = 0, 0, 48_000
    previous = 0.0
    with av.open(io.BytesIO(clear_ts)) as container:
        stream = container.streams.audio[0]
        for frame in container.decode(stream):
            rate = frame.sample_rate
            values = array.array("f", bytes(frame.planes[0]))[: frame.samples]
            for value in values:
                if (value >= 0) != (previous >= 0):
                    crossings += 1
                previous = value
            if any(abs(value) > 1e-3 for value in values):
                samples += frame.samples
    return crossings / 2 / (samples / rate)


def audio_media(master: m3u8.M3U8) -> list[m3u8.Media]:
    return [m for m in master.media if m.type == "AUDIO"]


@pytest.fixture(scope="module")
async def portrait(tmp_path_factory: pytest.TempPathFactory) -> Transcoded:
    """A 3 s portrait 720x1280 clip: English (440 Hz, default) and French (660 Hz) audio, English subtitles."""
    tmp = tmp_path_factory.mktemp("portrait")
    return await transcode(tmp, make_multilingual_clip(tmp / "portrait.mp4"))


async def test_a_portrait_source_with_two_audio_languages_and_subtitles_keeps_them_all(portrait: Transcoded) -> None:
    master = await portrait.playlist("master.m3u8")
    audio = audio_media(master)
    assert [(m.language, m.name, m.uri) for m in audio] == [
        ("en", "English", "audio/index.m3u8"),
        ("fr", "Français", "audio-1/index.m3u8"),
    ]
    assert [m.default for m in audio] == ["YES", "NO"]  # exactly one default: the source's
    assert all(m.group_id == "audio" and m.autoselect == "YES" for m in audio)
    subtitles = [(m.language, m.uri) for m in master.media if m.type == "SUBTITLES"]
    assert subtitles == [("en", "subs/0-en.m3u8")]
    assert {(p.stream_info.resolution, p.stream_info.audio, p.stream_info.subtitles) for p in master.playlists} == {
        ((480, 854), "audio", "subs"),
        ((720, 1280), "audio", "subs"),
    }
    assert [t.language for t in portrait.result.audio_tracks] == ["en", "fr"]
    # Every audio rendition is sealed like the video, and holds its own stream of the source.
    for uri, hertz in (("audio/index.m3u8", 440), ("audio-1/index.m3u8", 660)):
        sealed = await portrait.service.read_published(
            portrait.result.manifest[uri.replace("index.m3u8", "seg_00000.ts")]
        )
        assert sealed[:1] != b"\x47"
        assert abs(dominant_hertz(await portrait.clear_segment(uri)) - hertz) < 15
    vtt = await portrait.text("subs/0-en.vtt")
    assert vtt.startswith(f"WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{MPEGTS_ORIGIN},")
    assert "00:00:00.500 --> 00:00:01.500\nHello" in vtt
    # The audio of both languages is made in one ffmpeg run (the source is read once).
    audio_runs = [call for call in portrait.ffmpeg.calls if "0:a:0" in call]
    assert len(audio_runs) == 1
    assert "0:a:1" in audio_runs[0]


async def test_the_default_follows_the_source_and_a_commentary_is_not_autoselected(tmp_path: Path) -> None:
    source = make_multilingual_clip(
        tmp_path / "film.mkv",
        width=320,
        height=240,
        seconds=2,
        tones=(("eng", 440), ("fra", 660), ("eng", 880)),
        default=1,
        commentary=2,
        subtitles=None,
    )
    done = await transcode(tmp_path, source)
    audio = audio_media(await done.playlist("master.m3u8"))
    assert [(m.language, m.name, m.default, m.autoselect) for m in audio] == [
        ("en", "English", "NO", "YES"),
        ("fr", "Français", "YES", "YES"),
        ("en", "Commentary (English)", "NO", "NO"),
    ]


async def test_an_audio_file_added_later_is_published_without_encoding_the_video_again(
    portrait: Transcoded, tmp_path: Path
) -> None:
    before = dict(portrait.result.manifest)
    master_before = await portrait.playlist("master.m3u8")
    calls = len(portrait.ffmpeg.calls)
    tone = make_tone(tmp_path / "commentary.m4a", seconds=2)
    added = await portrait.service.add_audio_track(
        portrait.request.run_id, before, portrait.result.duration, tone, "deu", "Kommentar"
    )
    # One ffmpeg run, for the audio file alone; every file already published is the same file.
    new_calls = portrait.ffmpeg.calls[calls:]
    assert len(new_calls) == 1
    assert not any("libx264" in arg for arg in new_calls[0])
    assert {p: c for p, c in added.manifest.items() if p in before and p != "master.m3u8"} == {
        p: c for p, c in before.items() if p != "master.m3u8"
    }
    assert added.manifest["master.m3u8"] == added.master_playlist_cid != before["master.m3u8"]
    assert added.track == {
        "name": "Kommentar",
        "language": "de",
        "playlist": "audio-2/index.m3u8",
        "default": False,
        "autoselect": True,
        "channels": 2,
        "characteristics": None,
    }
    master = m3u8.loads((await portrait.service.read_published(added.master_playlist_cid)).decode())
    assert [(m.language, m.name, m.default) for m in audio_media(master)] == [
        ("en", "English", "YES"),
        ("fr", "Français", "NO"),
        ("de", "Kommentar", "NO"),
    ]
    assert [m.uri for m in master.media if m.type == "SUBTITLES"] == ["subs/0-en.m3u8"]
    assert [p.uri for p in master.playlists] == [p.uri for p in master_before.playlists]
    assert all(p.stream_info.audio == "audio" for p in master.playlists)
    for new, old in zip(master.playlists, master_before.playlists, strict=True):
        assert new.stream_info.bandwidth >= old.stream_info.bandwidth
    # Sealed with the video's key (the same key URI), and it is the added file's sound.
    playlist = m3u8.loads((await portrait.service.read_published(added.manifest["audio-2/index.m3u8"])).decode())
    assert {s.key.uri for s in playlist.segments} == {"/v/abc123/key"}
    # The 2 s file spans the 3 s video: silence after it, so the player's audio never ends early.
    assert sum(s.duration for s in playlist.segments) == pytest.approx(portrait.result.duration, abs=0.1)
    view = dataclasses.replace(portrait, result=dataclasses.replace(portrait.result, manifest=added.manifest))
    assert abs(dominant_hertz(await view.clear_segment("audio-2/index.m3u8")) - 440) < 15


@pytest.mark.parametrize(
    ("make", "language", "name", "message"),
    [
        (lambda p: make_still(p.with_suffix(".png")), "fr", "Français", "not audio"),
        (lambda p: make_clip(p.with_suffix(".mp4"), tone=False), "fr", "Français", "not audio"),
        (lambda p: (p.write_bytes(b"RIFF....WAVEnot really"), p)[1], "fr", "Français", "not audio"),
        (lambda p: make_tone(p.with_suffix(".m4a")), "../../etc", "X", "language code"),
        (lambda p: make_tone(p.with_suffix(".m4a")), "fr", "English", "already has an audio track named"),
    ],
    ids=["picture", "silent-video", "garbage", "bad-language", "name-taken"],
)
async def test_an_unusable_audio_file_is_refused_and_nothing_is_published(
    portrait: Transcoded, tmp_path: Path, make: object, language: str, name: str, message: str
) -> None:
    assert callable(make)
    path = make(tmp_path / "upload")
    stored = sorted(p.name for p in portrait.store.root.rglob("*") if p.is_file())
    with pytest.raises(AudioTrackError) as raised:
        await portrait.service.add_audio_track(
            portrait.request.run_id, portrait.result.manifest, portrait.result.duration, path, language, name
        )
    assert message in raised.value.message
    assert sorted(p.name for p in portrait.store.root.rglob("*") if p.is_file()) == stored
