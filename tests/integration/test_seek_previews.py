"""Seek previews end to end: the real pipeline makes storyboard sprites and a WebVTT thumbnails track
from a real clip; over HTTP a viewer with access gets every thumbnail, a visitor watching the free
preview only the thumbnails inside it, and the sprites past it are refused."""

from __future__ import annotations

import io
import re

import av
import imageio_ffmpeg
import pytest
from injector import Injector

from core.pipeline import MemoryCheckpointStore
from core.settings import Settings
from core.web import SESSION_COOKIE
from features.pipeline.adapters import MemoryKeyStore, RecordingFfmpeg, SubprocessFfmpeg
from features.pipeline.content_store import LocalContentStore
from features.pipeline.model import TranscodeRequest, TranscodeResult
from features.pipeline.service import TranscodeService
from tests.conftest import app_client
from tests.support.media import make_clip
from tests.support.videos import person, price_and_publish, session_token, transcode_video
from tests.support.web import csrf_token

CUE = re.compile(r"^(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})\n(\S+)#xywh=(\d+),(\d+),(\d+),(\d+)$", re.M)


def seconds(stamp: str) -> float:
    hours, minutes, secs = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(secs)


def cues(text: str) -> list[tuple[float, float, str, tuple[int, int, int, int]]]:
    assert text.startswith("WEBVTT")
    return [
        (seconds(m[1]), seconds(m[2]), m[3], (int(m[4]), int(m[5]), int(m[6]), int(m[7]))) for m in CUE.finditer(text)
    ]


def picture(data: bytes) -> tuple[int, int, bytes]:
    """A JPEG's width, height and luma plane (rows packed)."""
    with av.open(io.BytesIO(data)) as container:
        frame = next(container.decode(video=0)).reformat(format="gray")
    plane = frame.planes[0]
    raw = bytes(plane)
    rows = [raw[y * plane.line_size : y * plane.line_size + frame.width] for y in range(frame.height)]
    return frame.width, frame.height, b"".join(rows)


@pytest.fixture(scope="module")
async def board(tmp_path_factory: pytest.TempPathFactory) -> tuple[TranscodeService, TranscodeResult, RecordingFfmpeg]:
    """A 25 s 320x240 clip through the whole pipeline: a thumbnail every 2 s, 13 of them, in 2 sprites."""
    tmp = tmp_path_factory.mktemp("storyboard")
    source = make_clip(tmp / "clip.mp4", width=320, height=240, seconds=25)
    ffmpeg = RecordingFfmpeg(SubprocessFfmpeg(imageio_ffmpeg.get_ffmpeg_exe()))
    service = TranscodeService(MemoryCheckpointStore(), MemoryKeyStore(), LocalContentStore(tmp / "ipfs"), ffmpeg)
    request = TranscodeRequest("run-board", source, tmp / "work", (), "/v/abc/key")
    return service, await service.transcode(request), ffmpeg


async def test_the_pipeline_publishes_sprites_and_a_thumbnails_track(
    board: tuple[TranscodeService, TranscodeResult, RecordingFfmpeg],
) -> None:
    service, result, ffmpeg = board
    assert sorted(p for p in result.manifest if p.startswith("storyboard/")) == [
        "storyboard/sprite_000.jpg",
        "storyboard/sprite_001.jpg",
        "storyboard/thumbnails.vtt",
    ]
    track = cues((await service.read_published(result.manifest["storyboard/thumbnails.vtt"])).decode())
    assert len(track) == 13
    assert [start for start, *_ in track] == [2.0 * i for i in range(13)]
    assert track[-1][1] == pytest.approx(result.duration, abs=0.1)  # the last cue ends with the video
    assert all(end > start for start, end, *_ in track)
    assert [name for _, _, name, _ in track] == ["sprite_000.jpg"] * 10 + ["sprite_001.jpg"] * 3
    assert track[0][3] == (0, 0, 160, 120)
    assert track[6][3] == (160, 120, 160, 120)
    # One cheap run, from the 480p rendition's keyframes (not the source).
    storyboard_runs = [call for call in ffmpeg.calls if any(arg.endswith("sprite_%03d.jpg") for arg in call)]
    assert len(storyboard_runs) == 1
    assert "nokey" in storyboard_runs[0]
    assert any(arg.endswith("480p/index.m3u8") for arg in storyboard_runs[0])


async def test_each_sprite_is_a_grid_of_real_frames(
    board: tuple[TranscodeService, TranscodeResult, RecordingFfmpeg],
) -> None:
    service, result, _ = board
    width, height, luma = picture(await service.read_published(result.manifest["storyboard/sprite_000.jpg"]))
    assert (width, height) == (5 * 160, 2 * 120)
    for tile in range(10):  # every tile holds a frame of the test pattern, none is black padding
        x, y = (tile % 5) * 160, (tile // 5) * 120
        values = [luma[row * width + col] for row in range(y + 10, y + 110, 7) for col in range(x + 10, x + 150, 7)]
        assert max(values) - min(values) > 60, tile
    width, height, luma = picture(await service.read_published(result.manifest["storyboard/sprite_001.jpg"]))
    assert (width, height) == (800, 240)
    padding = [luma[row * width + col] for row in range(130, 230, 9) for col in range(330, 790, 9)]
    assert max(padding) < 40  # tiles 4..10 of the last sprite are padding: the clip has 13 thumbnails


async def test_a_viewer_gets_every_thumbnail_and_a_preview_visitor_only_the_preview_ones(
    pg: Injector, settings: Settings
) -> None:
    creator = await person(pg, "Storyboard creator", creator=True)
    video = await transcode_video(pg, creator.id, seconds=25.0)
    await price_and_publish(pg, creator.id, video, preview=20)
    pid = video.public_id
    async with app_client(pg, settings) as owner:
        owner.cookies.set(SESSION_COOKIE, await session_token(pg, creator))
        page = await owner.get(f"/v/{pid}")
        assert f'data-thumbnails="/v/{pid}/thumbnails.vtt"' in page.text
        full = await owner.get(f"/v/{pid}/thumbnails.vtt")
        assert full.status_code == 200
        assert full.headers["content-type"].startswith("text/vtt")
        listed = cues(full.text)
        assert len(listed) == 13
        assert {name for _, _, name, _ in listed} == {
            f"/v/{pid}/storyboard/sprite_000.jpg",
            f"/v/{pid}/storyboard/sprite_001.jpg",
        }
        for sprite in ("sprite_000.jpg", "sprite_001.jpg"):
            got = await owner.get(f"/v/{pid}/storyboard/{sprite}")
            assert got.status_code == 200
            assert got.headers["content-type"] == "image/jpeg"
            assert picture(got.content)[:2] == (800, 240)
    async with app_client(pg, settings) as visitor:
        await csrf_token(visitor, "/login")
        page = await visitor.get(f"/v/{pid}")
        assert 'data-preview-seconds="20"' in page.text
        preview = await visitor.get(f"/v/{pid}/thumbnails.vtt")
        assert preview.status_code == 200
        listed = cues(preview.text)
        assert [start for start, *_ in listed] == [2.0 * i for i in range(10)]  # 0–20 s: the first sprite
        assert all(end <= 20 for _, end, _, _ in listed)
        assert {name for _, _, name, _ in listed} == {f"/v/{pid}/storyboard/sprite_000.jpg"}
        assert (await visitor.get(f"/v/{pid}/storyboard/sprite_000.jpg")).status_code == 200
        assert (await visitor.get(f"/v/{pid}/storyboard/sprite_001.jpg")).status_code == 403
        # Nor through the other addresses of published files.
        assert (await visitor.get(f"/v/{pid}/preview/storyboard/sprite_001.jpg")).status_code == 403
        assert (await visitor.get(f"/v/{pid}/hls/storyboard/sprite_001.jpg")).status_code == 403
        assert (await visitor.get(f"/v/{pid}/storyboard/..%2Fmaster.m3u8")).status_code == 404
        assert (await visitor.get(f"/v/{pid}/storyboard/sprite_999.jpg")).status_code == 404


async def test_a_shorter_preview_shows_no_sprite_that_reaches_past_it_and_no_preview_shows_none(
    pg: Injector, settings: Settings
) -> None:
    creator = await person(pg, "Short preview creator", creator=True)
    video = await transcode_video(pg, creator.id, seconds=25.0)
    await price_and_publish(pg, creator.id, video, preview=12)
    pid = video.public_id
    async with app_client(pg, settings) as visitor:
        await csrf_token(visitor, "/login")
        listed = cues((await visitor.get(f"/v/{pid}/thumbnails.vtt")).text)
        assert listed == []  # the first sprite spans 0–20 s: past the 12 s preview
        assert (await visitor.get(f"/v/{pid}/storyboard/sprite_000.jpg")).status_code == 403
    other = await transcode_video(pg, creator.id, seconds=4.0)
    await price_and_publish(pg, creator.id, other, preview=0)
    async with app_client(pg, settings) as visitor:
        await csrf_token(visitor, "/login")
        assert (await visitor.get(f"/v/{other.public_id}/thumbnails.vtt")).status_code in (401, 403)
        assert (await visitor.get(f"/v/{other.public_id}/storyboard/sprite_000.jpg")).status_code in (401, 403)
    stranger = await person(pg, "Stranger")
    async with app_client(pg, settings) as signed:
        signed.cookies.set(SESSION_COOKIE, await session_token(pg, stranger))
        assert (await signed.get(f"/v/{other.public_id}/thumbnails.vtt")).status_code == 403
