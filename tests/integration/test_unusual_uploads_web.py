"""Uploads over tus with the real probe and pipeline: what is not a video is refused the moment its last
byte arrives, with a reason the creator can act on on its tile and none of its bytes kept; what is a
video, whatever its file is called, is converted and plays."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from uuid import UUID

import httpx
import pytest
from injector import Injector

from core.di import get_port
from core.storage import BlobStorage
from features.studio.model import VideoState
from features.studio.service import StudioService
from tests.support.media import make_clip, make_source, make_still, make_tone
from tests.support.studio import create_video, metadata, sign_up_creator, tus_headers


async def upload(client: httpx.AsyncClient, title: str, data: bytes, filename: str) -> tuple[UUID, str]:
    """A new video with `data` uploaded as its source in one PATCH: (its id, the upload's blob key)."""
    video = await create_video(client, title)
    created = await client.post(
        "/uploads/",
        headers=tus_headers(
            client,
            **{"Upload-Length": str(len(data)), "Upload-Metadata": metadata(video=video.public_id, filename=filename)},
        ),
    )
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    sent = await client.patch(
        location,
        content=data,
        headers=tus_headers(client, **{"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}),
    )
    assert sent.status_code == 204, sent.text
    return video.id, f"uploads/{location.rsplit('/', 1)[1]}"


def truncated_clip(path: Path) -> Path:
    """A phone clip cut off after its first few kilobytes (a failed copy)."""
    clip = make_clip(path.with_name("whole.mp4"), seconds=1)
    path.write_bytes(clip.read_bytes()[:3000])
    return path


def picture_only_subtitles(path: Path) -> Path:
    """A Matroska file holding nothing but a subtitle stream (a subtitle track exported on its own)."""
    srt = path.with_suffix(".srt")
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nHi\n")
    return make_source(path, "-i", str(srt), "-c:s", "srt")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: make_still(p.with_suffix(".png")), "This file is a still image, not a video."),
        (lambda p: make_tone(p.with_suffix(".m4a")), "This file has sound but no picture"),
        (lambda p: truncated_clip(p.with_suffix(".mp4")), "not a video"),
        (lambda p: picture_only_subtitles(p.with_suffix(".mkv")), "This file contains no video stream."),
    ],
    ids=["still-image", "audio-only", "truncated", "subtitles-only"],
)
async def test_a_file_that_is_not_a_video_is_refused_on_arrival_with_its_reason_and_no_bytes_kept(
    client: httpx.AsyncClient, pg: Injector, tmp_path: Path, make: Callable[[Path], Path], reason: str
) -> None:
    await sign_up_creator(client, "refusals@example.com")
    data = make(tmp_path / "upload").read_bytes()
    video_id, blob = await upload(client, "Not quite a video", data, "holiday.mp4")
    stored = await pg.get(StudioService).get_video(video_id)
    assert stored is not None
    assert stored.state is VideoState.REJECTED
    assert reason.lower() in (stored.failure_reason or "").lower()
    assert not await get_port(pg, BlobStorage).exists(blob)
    tile = await client.get(f"/studio/videos/{video_id}/tile")
    assert tile.status_code == 200
    assert "Rejected" in tile.text
    assert reason.split(":", maxsplit=1)[0] in tile.text


async def test_a_video_whatever_its_file_is_called_is_converted_and_plays(
    client: httpx.AsyncClient, pg: Injector, tmp_path: Path
) -> None:
    await sign_up_creator(client, "names@example.com")
    name = "Vidéo d’été 🎥 100% «final» (copie) " * 12 + ".MOV"  # far longer than a file name may be
    data = make_clip(tmp_path / "clip.mp4", seconds=1).read_bytes()
    video_id, _ = await upload(client, "Summer", data, name)
    studio = pg.get(StudioService)
    done = await studio.process(video_id)
    assert done is not None
    assert done.state is VideoState.READY, done.failure_reason
    assert [track["name"] for track in done.video_tracks] == ["480p"]
