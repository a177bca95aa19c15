"""Running the real pipeline on a clip, and reading back what it published as a player would."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import av
import imageio_ffmpeg
import m3u8

from core.pipeline import MemoryCheckpointStore
from features.pipeline.adapters import MemoryKeyStore, RecordingFfmpeg, SubprocessFfmpeg
from features.pipeline.content_store import LocalContentStore
from features.pipeline.hls import decrypt_bytes
from features.pipeline.model import SubtitleSource, TranscodeRequest, TranscodeResult
from features.pipeline.service import TranscodeService


@dataclass
class Transcoded:
    service: TranscodeService
    store: LocalContentStore
    ffmpeg: RecordingFfmpeg
    request: TranscodeRequest
    result: TranscodeResult

    async def text(self, path: str) -> str:
        return (await self.service.read_published(self.result.manifest[path])).decode()

    async def playlist(self, path: str) -> m3u8.M3U8:
        return m3u8.loads(await self.text(path))

    async def clear_segment(self, playlist_path: str, index: int = 0) -> bytes:
        """A segment of a media playlist, decrypted with the stored key and the IV the playlist gives."""
        playlist = await self.playlist(playlist_path)
        segment = playlist.segments[index]
        folder = playlist_path.rsplit("/", 1)[0]
        sealed = await self.service.read_published(self.result.manifest[f"{folder}/{segment.uri}"])
        key = await self.service.key_for(self.request.run_id)
        assert key is not None
        assert segment.key.method == "AES-128"
        return decrypt_bytes(sealed, key.key, bytes.fromhex(segment.key.iv.removeprefix("0x")))

    async def clear_stream(self, playlist_path: str) -> bytes:
        """Every segment of a media playlist, decrypted and joined: the whole rendition as MPEG-TS."""
        playlist = await self.playlist(playlist_path)
        return b"".join([await self.clear_segment(playlist_path, i) for i in range(len(playlist.segments))])


async def transcode(tmp: Path, source: Path, subtitles: tuple[SubtitleSource, ...] = ()) -> Transcoded:
    store = LocalContentStore(tmp / "ipfs")
    ffmpeg = RecordingFfmpeg(SubprocessFfmpeg(imageio_ffmpeg.get_ffmpeg_exe()))
    service = TranscodeService(MemoryCheckpointStore(), MemoryKeyStore(), store, ffmpeg)
    request = TranscodeRequest(
        run_id=f"run-{source.stem}",
        source=source,
        work_dir=tmp / "work",
        subtitles=subtitles,
        key_uri="/v/abc123/key",
    )
    result = await service.transcode(request)
    return Transcoded(service, store, ffmpeg, request, result)


def decoded(clear: bytes, kind: str) -> tuple[str, int]:
    with av.open(io.BytesIO(clear)) as container:
        stream = container.streams.video[0] if kind == "video" else container.streams.audio[0]
        frames = sum(1 for _ in container.decode(stream))
        return stream.codec_context.name, frames
