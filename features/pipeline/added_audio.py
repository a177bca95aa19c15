"""An audio track added to a published video: encoded and sealed like the pipeline's own audio
renditions, published beside them, and named in a new master playlist — the video is not encoded again.

`publish_added_audio` works on what is published (the manifest, the content store) and the video's key;
nothing already published changes, so the caller swaps the returned manifest in (one row update) and
viewers see the old master or the new one, never half of one.
"""

from __future__ import annotations

import asyncio
import secrets
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.errors import InvalidInput
from features.pipeline.audio import clean_name, hls_language, language_name
from features.pipeline.ffmpeg_args import added_audio_args
from features.pipeline.hls import (
    add_audio_rendition,
    bandwidth,
    encrypt_file,
    iv_for,
    media_segments,
    rates,
    sealed_playlist,
    unwritten_segments,
)
from features.pipeline.model import AudioTrack, VideoKey
from features.pipeline.ports import ContentStore, FfmpegFailed, FfmpegRunner
from features.pipeline.probe import probe_audio
from features.pipeline.subtitles import valid_language

MAX_AUDIO_TRACKS = 8
MASTER = "master.m3u8"


class AudioTrackError(InvalidInput):
    """An added audio track that cannot be used: not audio, a bad language or name, one too many."""

    message = "This file is not audio we can use."


@dataclass(frozen=True)
class PublishedAudio:
    """An audio rendition added to a published video: the video's new manifest (every file's CID), its
    new master playlist's CID, and the track as the pipeline describes its own."""

    manifest: dict[str, str]
    master_playlist_cid: str
    track: dict[str, Any]


def check_audio_track(language: str, name: str) -> tuple[str, str]:
    """The (RFC 5646 language, clean NAME) of a track to add. Raises AudioTrackError."""
    tag = hls_language(language) if valid_language(language.strip()) else None
    if tag is None:
        raise AudioTrackError(f"{language.strip()!r} is not a language code such as 'en' or 'pt-BR'.")
    return tag, clean_name(name) or language_name(tag) or tag


def _master_audio(master: str) -> list[dict[str, str]]:
    """The audio renditions a master playlist names: each one's NAME, LANGUAGE and URI."""
    found = []
    for line in master.splitlines():
        if line.startswith("#EXT-X-MEDIA:") and "TYPE=AUDIO" in line:
            attributes = {
                part.split("=", 1)[0]: part.split("=", 1)[1].strip('"')
                for part in _split_attributes(line.split(":", 1)[1])
                if "=" in part
            }
            found.append(attributes)
    return found


def _split_attributes(text: str) -> Iterator[str]:
    """Split an attribute list on the commas outside quotes."""
    start, quoted = 0, False
    for index, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            yield text[start:index]
            start = index + 1
    yield text[start:]


def _free_folder(manifest: Mapping[str, str]) -> str:
    taken = {path.split("/", 1)[0] for path in manifest}
    number = 1
    while f"audio-{number}" in taken:
        number += 1
    return f"audio-{number}"


async def _published_peak(content: ContentStore, manifest: Mapping[str, str], playlist: str) -> tuple[int, int]:
    """(peak, average) bits per second of a published audio rendition, from its sealed segments' sizes."""
    text = (await content.read(manifest[playlist])).decode("utf-8")
    folder = Path(playlist).parent
    segments = media_segments(text)
    sizes = [await content.size(manifest[(folder / s.uri).as_posix()]) for s in segments]
    return rates(sizes, [s.duration for s in segments])


async def publish_added_audio(
    *,
    content: ContentStore,
    ffmpeg: FfmpegRunner,
    key: VideoKey | None,
    manifest: Mapping[str, str],
    duration: float,
    audio: Path,
    language: str,
    name: str,
) -> PublishedAudio:
    """Encode `audio` (its first audio stream, cut at the video's `duration`) as one more AAC audio
    rendition of the published video of `manifest`, sealed with the video's `key` (fresh IVs, written in
    its playlist like every segment's), publish it and a new master playlist naming it.

    Raises AudioTrackError (not audio, a bad language, a NAME the video already has, too many tracks),
    KeyError or ContentNotFound when the published files or the key are gone (the caller's conflict),
    and FfmpegFailed when ffmpeg cannot encode a file that probed well.
    """
    language, name = check_audio_track(language, name)
    try:
        await asyncio.to_thread(probe_audio, audio)
    except InvalidInput as error:
        raise AudioTrackError(error.message) from error
    if key is None:
        raise KeyError("the video has no key")
    master = (await content.read(manifest[MASTER])).decode("utf-8")
    existing = _master_audio(master)
    if not existing:
        raise KeyError("the published master playlist has no audio group")
    if len(existing) >= MAX_AUDIO_TRACKS:
        raise AudioTrackError(f"A video can have at most {MAX_AUDIO_TRACKS} audio tracks.")
    if any(rendition.get("NAME") == name for rendition in existing):
        raise AudioTrackError(f"This video already has an audio track named “{name}”: choose another name.")
    first = existing[0]["URI"]
    key_uri = _key_uri((await content.read(manifest[first])).decode("utf-8"))
    old_peak, old_average = 0, 0
    for rendition in existing:
        peak, average = await _published_peak(content, manifest, rendition["URI"])
        old_peak, old_average = max(old_peak, peak), max(old_average, average)

    folder = _free_folder(manifest)
    playlist = f"{folder}/index.m3u8"
    published = dict(manifest)
    with tempfile.TemporaryDirectory(prefix="hypha-audio-") as tmp:
        clear, sealed = Path(tmp) / "clear", Path(tmp) / "sealed"
        clear.mkdir()
        sealed.mkdir()
        await ffmpeg.run(added_audio_args(audio, duration, clear), duration=duration if duration > 0 else None)
        if missing := unwritten_segments(clear):
            raise FfmpegFailed(f"ffmpeg did not write {len(missing)} file(s) of its HLS output, {missing[0]} first")
        new_peak, new_average = bandwidth(clear / "index.m3u8")
        files = await asyncio.to_thread(_seal_track, clear, sealed, key.key, key_uri)
        for path in files:
            published[f"{folder}/{path.name}"] = await content.put_file(path)
        new_master = add_audio_rendition(
            master,
            name,
            language,
            playlist,
            bandwidth_increase=max(0, new_peak - old_peak),
            average_increase=max(0, new_average - old_average),
        )
        (Path(tmp) / MASTER).write_text(new_master, encoding="utf-8")
        published[MASTER] = await content.put_file(Path(tmp) / MASTER)
    track = AudioTrack(name=name, language=language, playlist=playlist, default=False, autoselect=True, channels=2)
    return PublishedAudio(published, published[MASTER], asdict(track))


def _key_uri(playlist: str) -> str:
    for line in playlist.splitlines():
        if line.startswith("#EXT-X-KEY:"):
            for part in _split_attributes(line.split(":", 1)[1]):
                if part.startswith("URI="):
                    return part[len("URI=") :].strip('"')
    raise KeyError("the published audio playlist names no key")


def _seal_track(clear: Path, sealed: Path, key: bytes, key_uri: str) -> list[Path]:
    """Seal the segments of `clear/index.m3u8` into `sealed` with IVs from a fresh random base; the
    sealed playlist and segments, playlist first."""
    base = secrets.token_bytes(16)

    def ivs() -> Iterator[bytes]:
        counter = 0
        while True:
            yield iv_for(base, counter)
            counter += 1

    text, segments = sealed_playlist((clear / "index.m3u8").read_text(), key_uri, ivs())
    (sealed / "index.m3u8").write_text(text)
    files = [sealed / "index.m3u8"]
    for uri, iv in segments:
        encrypt_file(clear / uri, sealed / uri, key, iv)
        files.append(sealed / uri)
    return files
