"""Transcoding real clips end to end: what comes out plays, is encrypted, and is addressed by CID."""

from __future__ import annotations

import io
from pathlib import Path

import av
import pytest

from features.pipeline.hls import MPEGTS_ORIGIN
from features.pipeline.ipfs import cid_of_bytes, cid_of_file
from features.pipeline.model import SubtitleSource
from tests.support.media import make_clip
from tests.support.transcoding import Transcoded, decoded, transcode

SRT = "1\n00:00:00,500 --> 00:00:01,500\nHello\n\n2\n00:00:03,000 --> 00:00:04,000\nGoodbye\n"


@pytest.fixture(scope="module")
async def talk(tmp_path_factory: pytest.TempPathFactory) -> Transcoded:
    """A 5 s 320x240 clip with a 440 Hz tone and English subtitles."""
    tmp = tmp_path_factory.mktemp("talk")
    source = make_clip(tmp / "talk.mp4", width=320, height=240, seconds=5)
    srt = tmp / "talk.srt"
    srt.write_text(SRT)
    return await transcode(tmp, source, (SubtitleSource(srt, "en", "English"),))


async def test_the_master_playlist_lists_renditions_the_audio_group_and_subtitles(talk: Transcoded) -> None:
    master = await talk.playlist("master.m3u8")
    assert [p.uri for p in master.playlists] == ["480p/index.m3u8"]
    info = master.playlists[0].stream_info
    assert info.resolution == (320, 240)
    assert info.codecs == "avc1.4d401f,mp4a.40.2"
    assert info.bandwidth > 128_000
    assert (info.audio, info.subtitles) == ("audio", "subs")
    audio = [m for m in master.media if m.type == "AUDIO"]
    subtitles = [m for m in master.media if m.type == "SUBTITLES"]
    assert [(m.group_id, m.uri, m.default) for m in audio] == [("audio", "audio/index.m3u8", "YES")]
    assert [(m.group_id, m.language, m.name, m.uri) for m in subtitles] == [("subs", "en", "English", "subs/0-en.m3u8")]
    assert talk.result.master_playlist_cid == talk.result.manifest["master.m3u8"]
    assert [(r.name, r.width, r.height) for r in talk.result.renditions] == [("480p", 320, 240)]
    assert talk.result.duration == pytest.approx(5.0, abs=0.1)


async def test_segments_are_about_four_seconds_and_all_encrypted_with_distinct_explicit_ivs(talk: Transcoded) -> None:
    ivs: list[str] = []
    for path in ("480p/index.m3u8", "audio/index.m3u8"):
        playlist = await talk.playlist(path)
        assert playlist.playlist_type == "vod"
        assert [round(s.duration) for s in playlist.segments] == [4, 1]
        for segment in playlist.segments:
            assert segment.key.uri == "/v/abc123/key"
            assert segment.key.iv is not None
            assert int(segment.key.iv, 16) != 0
            ivs.append(segment.key.iv)
            sealed = await talk.service.read_published(talk.result.manifest[f"{path.split('/')[0]}/{segment.uri}"])
            # A clear MPEG-TS packet starts with the sync byte 0x47 every 188 bytes; ciphertext starts
            # with it by chance 1 time in 256, but never at every packet boundary.
            assert not all(sealed[i] == 0x47 for i in range(0, min(len(sealed), 188 * 8), 188))
            assert len(sealed) % 16 == 0
    assert len(set(ivs)) == len(ivs)


async def test_a_decrypted_video_segment_is_h264_in_mpeg_ts(talk: Transcoded) -> None:
    clear = await talk.clear_segment("480p/index.m3u8")
    assert clear[0] == 0x47
    assert decoded(clear, "video") == ("h264", 100)  # 4 s at 25 fps
    with av.open(io.BytesIO(clear)) as container:
        assert container.streams.video[0].start_time == MPEGTS_ORIGIN  # what the WebVTT map assumes


async def test_a_decrypted_audio_segment_is_aac(talk: Transcoded) -> None:
    clear = await talk.clear_segment("audio/index.m3u8", index=1)
    assert clear[0] == 0x47
    codec, frames = decoded(clear, "audio")
    assert codec == "aac"
    assert frames > 0


async def test_subtitles_are_published_as_webvtt_on_the_video_timeline(talk: Transcoded) -> None:
    playlist = await talk.playlist("subs/0-en.m3u8")
    assert [s.uri for s in playlist.segments] == ["0-en.vtt"]
    vtt = await talk.text("subs/0-en.vtt")
    assert vtt.startswith(f"WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{MPEGTS_ORIGIN},LOCAL:00:00:00.000\n")
    assert "00:00:03.000 --> 00:00:04.000\nGoodbye" in vtt


async def test_every_cid_is_the_ipfs_address_of_the_published_bytes(talk: Transcoded) -> None:
    for path, cid in talk.result.manifest.items():
        assert cid_of_file(talk.store.path_for(cid)) == cid, path
        assert cid_of_bytes(await talk.service.read_published(cid)) == cid
        assert await talk.service.published_size(cid) == talk.store.path_for(cid).stat().st_size
    assert set(talk.result.manifest) == {
        "master.m3u8",
        "cover.jpg",
        "480p/index.m3u8",
        "480p/seg_00000.ts",
        "480p/seg_00001.ts",
        "audio/index.m3u8",
        "audio/seg_00000.ts",
        "audio/seg_00001.ts",
        "subs/0-en.m3u8",
        "subs/0-en.vtt",
        "storyboard/sprite_000.jpg",
        "storyboard/thumbnails.vtt",
    }


async def test_the_key_is_never_published_and_nothing_else_is_left_behind(talk: Transcoded) -> None:
    key = await talk.service.key_for(talk.request.run_id)
    assert key is not None
    stored = sorted(p for p in talk.store.root.rglob("*") if p.is_file())
    assert {p.name for p in stored} == set(talk.result.manifest.values())
    assert all(key.key not in p.read_bytes() for p in stored)
    assert not talk.request.work_dir.exists()


async def test_the_cover_is_a_jpeg_frame(talk: Transcoded) -> None:
    assert talk.result.cover_cid == talk.result.manifest["cover.jpg"]
    cover = await talk.service.read_published(talk.result.cover_cid)
    with av.open(io.BytesIO(cover)) as image:
        frame = next(image.decode(video=0))
        assert (frame.width, frame.height) == (320, 240)


async def test_transcoding_again_after_success_does_no_work(talk: Transcoded) -> None:
    calls = len(talk.ffmpeg.calls)
    assert await talk.service.transcode(talk.request) == talk.result
    assert len(talk.ffmpeg.calls) == calls


async def test_a_silent_portrait_phone_clip_gets_portrait_renditions_and_a_silent_track(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "phone.mp4", width=320, height=180, seconds=2, tone=False, rotation=90)
    silent = await transcode(tmp_path, source)
    master = await silent.playlist("master.m3u8")
    assert master.playlists[0].stream_info.resolution == (180, 320)
    assert [m.name for m in master.media if m.type == "AUDIO"] == ["Silent"]
    video = await silent.clear_segment("480p/index.m3u8")
    with av.open(io.BytesIO(video)) as container:
        frame = next(container.decode(video=0))
        assert (frame.width, frame.height) == (180, 320)
        assert container.streams.video[0].codec_context.sample_aspect_ratio in (None, 1)  # square pixels
    codec, frames = decoded(await silent.clear_segment("audio/index.m3u8"), "audio")
    assert codec == "aac"
    assert frames > 0


async def test_a_720p_clip_gets_480p_and_720p_but_is_not_upscaled_to_1080p(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "hd.mp4", width=1280, height=720, seconds=1)
    hd = await transcode(tmp_path, source)
    master = await hd.playlist("master.m3u8")
    assert [(p.uri, p.stream_info.resolution) for p in master.playlists] == [
        ("480p/index.m3u8", (854, 480)),
        ("720p/index.m3u8", (1280, 720)),
    ]
    assert master.playlists[1].stream_info.codecs == "avc1.640028,mp4a.40.2"
    assert not any(path.startswith("1080p/") for path in hd.result.manifest)
    assert decoded(await hd.clear_segment("720p/index.m3u8"), "video") == ("h264", 25)
