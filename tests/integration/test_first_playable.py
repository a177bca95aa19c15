"""Time to first playable, with real ffmpeg: the pipeline publishes the video at 480p (every audio
track, the subtitles, the key) before it converts 720p and 1080p, and adds each higher rendition with
a new master playlist. At every publication the master parses, and every playlist it names and every
segment those name is in the manifest and already in the content store (decryptable with the key)."""

from __future__ import annotations

from pathlib import Path

import imageio_ffmpeg
import m3u8
import pytest

from core.pipeline import MemoryCheckpointStore, UnitFailed
from features.pipeline.adapters import MemoryKeyStore, RecordingFfmpeg, SubprocessFfmpeg
from features.pipeline.content_store import LocalContentStore
from features.pipeline.hls import decrypt_bytes
from features.pipeline.model import SubtitleSource, TranscodeRequest, TranscodeResult
from features.pipeline.service import TranscodeService
from tests.support.media import make_clip


async def playable(service: TranscodeService, run_id: str, result: TranscodeResult) -> list[str]:
    """Check that `result` plays as published now; the names of its video renditions, smallest first."""
    manifest = result.manifest
    assert result.master_playlist_cid == manifest["master.m3u8"]
    master = m3u8.loads((await service.read_published(manifest["master.m3u8"])).decode())
    assert master.is_variant
    named = [p.uri for p in master.playlists] + [m.uri for m in master.media if m.uri]
    key = await service.key_for(run_id)
    assert key is not None
    for uri in named:
        assert uri in manifest, f"the master names {uri}, which is not published"
        media = m3u8.loads((await service.read_published(manifest[uri])).decode())
        folder = uri.rsplit("/", 1)[0]
        assert media.segments, uri
        for segment in media.segments:
            path = f"{folder}/{segment.uri}"
            assert path in manifest, f"{uri} names {path}, which is not published"
            data = await service.read_published(manifest[path])
            if segment.key is not None and segment.key.method == "AES-128":
                assert segment.key.iv is not None
                clear = decrypt_bytes(data, key.key, bytes.fromhex(segment.key.iv[2:]))
                assert clear[:1] == b"\x47"  # an MPEG-TS packet
    # The video's IPFS directory at this publication holds this master and every file it names.
    directory = await service.ipfs_directory(manifest, f"https://hypha.example/v/{run_id}/key")
    assert set(directory.files) == set(manifest)
    assert directory.files["master.m3u8"].cid == manifest["master.m3u8"]
    assert [p.uri for p in master.playlists] == [r.playlist for r in result.renditions]
    assert any(m.type == "AUDIO" for m in master.media)
    assert any(m.type == "SUBTITLES" for m in master.media)
    return [r.name for r in result.renditions]


async def test_the_video_is_playable_at_480p_first_then_gains_each_rendition(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "clip.mp4", width=1920, height=1080, seconds=3)
    srt = tmp_path / "clip.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nHi\n")
    ffmpeg = RecordingFfmpeg(SubprocessFfmpeg(imageio_ffmpeg.get_ffmpeg_exe()))
    store = LocalContentStore(tmp_path / "ipfs")
    service = TranscodeService(MemoryCheckpointStore(), MemoryKeyStore(), store, ffmpeg)
    request = TranscodeRequest(
        "run-first", source, tmp_path / "work", (SubtitleSource(srt, "en", "English"),), "/v/first/key"
    )
    seen: list[list[str]] = []
    encodes_before: list[int] = []

    async def published(result: TranscodeResult) -> None:
        seen.append(await playable(service, "run-first", result))
        encodes_before.append(sum(1 for call in ffmpeg.calls if "libx264" in call))

    final = await service.transcode(request, on_published=published)

    assert seen == [["480p"], ["480p", "720p"], ["480p", "720p", "1080p"]]
    assert encodes_before == [1, 2, 3]  # 480p was published before 720p was even started
    assert await playable(service, "run-first", final) == ["480p", "720p", "1080p"]
    # Each publication only added to the one before: the 480p, audio and subtitle files kept their CIDs.
    assert not request.work_dir.exists()


async def test_a_run_killed_after_the_first_publication_resumes_with_the_same_files(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "clip.mp4", width=1280, height=720, seconds=2)
    checkpoints = MemoryCheckpointStore()
    keys = MemoryKeyStore()
    store = LocalContentStore(tmp_path / "ipfs")
    binary = imageio_ffmpeg.get_ffmpeg_exe()
    request = TranscodeRequest("run-kill", source, tmp_path / "work", (), "/v/kill/key")
    first: list[TranscodeResult] = []

    class Killed(Exception):
        pass

    async def die_after_first(result: TranscodeResult) -> None:
        first.append(result)
        if len(first) == 2:
            raise Killed("killed after publishing 720p")

    service = TranscodeService(checkpoints, keys, store, SubprocessFfmpeg(binary))
    with pytest.raises(UnitFailed, match="killed after publishing 720p"):
        await service.transcode(request, on_published=die_after_first)
    assert set(await checkpoints.completed("run-kill")) >= {"Publish480p", "ConvertVideoTo720p"}

    again = RecordingFfmpeg(SubprocessFfmpeg(binary))
    seen: list[TranscodeResult] = []

    async def record(result: TranscodeResult) -> None:
        seen.append(result)

    final = await TranscodeService(checkpoints, keys, store, again).transcode(request, on_published=record)
    assert again.calls == []  # nothing converted twice
    assert [r.name for r in seen[0].renditions] == ["480p", "720p"]
    assert seen[0].manifest == first[1].manifest  # the redone publication gave byte-identical files
    assert final.manifest == first[1].manifest
    for path, cid in first[0].manifest.items():
        if path != "master.m3u8":
            assert final.manifest[path] == cid
