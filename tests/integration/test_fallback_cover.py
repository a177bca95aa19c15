"""The fallback cover: chosen among frames spread over the video, never a black or blurred one when a
sharp one is there; a creator's own cover still wins everywhere it is shown."""

from __future__ import annotations

import io
import itertools
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

import av
import httpx
import imageio_ffmpeg
import pytest
from injector import Injector

from core.pipeline import MemoryCheckpointStore, UnitFailed
from core.settings import Settings
from core.web import SESSION_COOKIE
from features.pipeline.adapters import MemoryKeyStore, RecordingFfmpeg, SubprocessFfmpeg
from features.pipeline.content_store import LocalContentStore
from features.pipeline.model import TranscodeRequest
from features.pipeline.ports import ProgressCallback
from features.pipeline.service import TranscodeService
from features.studio.service import StudioService
from tests.conftest import app_client
from tests.support.images import tiny_png
from tests.support.videos import person, price_and_publish, session_token, transcode_video
from tests.support.web import csrf_token

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
PNG = tiny_png()


def make_black_blurred_sharp(path: Path) -> Path:
    """10 s at 320x240: 3 s of black, 3 s of a heavily blurred test pattern, 4 s of the sharp pattern."""
    pattern = "testsrc2=size=320x240:rate=25"
    subprocess.run(
        [
            *(FFMPEG, "-v", "error", "-y"),
            *("-f", "lavfi", "-i", "color=black:size=320x240:rate=25:duration=3"),
            *("-f", "lavfi", "-i", f"{pattern}:duration=3"),
            *("-f", "lavfi", "-i", f"{pattern}:duration=4"),
            "-filter_complex",
            "[1:v]boxblur=12:3[blurred];[0:v][blurred][2:v]concat=n=3:v=1:a=0[v]",
            *("-map", "[v]", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25", "-pix_fmt", "yuv420p"),
            str(path),
        ],
        check=True,
    )
    return path


def luma_of_jpeg(data: bytes) -> tuple[bytes, int, int]:
    with av.open(io.BytesIO(data)) as container:
        frame = next(container.decode(video=0)).reformat(format="gray")
    plane = frame.planes[0]
    raw = bytes(plane)
    rows = [raw[y * plane.line_size : y * plane.line_size + frame.width] for y in range(frame.height)]
    return b"".join(rows), frame.width, frame.height


def luma_of_source(source: Path, at: float, width: int, height: int) -> bytes:
    return subprocess.run(
        [
            *(FFMPEG, "-v", "error", "-ss", str(at), "-i", str(source), "-frames:v", "1"),
            *("-vf", f"scale={width}:{height}:flags=bicubic,setsar=1", "-pix_fmt", "gray", "-f", "rawvideo", "-"),
        ],
        check=True,
        capture_output=True,
    ).stdout


def mean(values: bytes) -> float:
    return sum(values) / len(values)


def edge_energy(luma: bytes, width: int, height: int) -> float:
    """Mean squared difference between horizontal neighbours: an independent measure of sharpness."""
    total = 0
    for y in range(height):
        row = luma[y * width : (y + 1) * width]
        total += sum((a - b) ** 2 for a, b in itertools.pairwise(row))
    return total / (height * (width - 1))


async def test_the_fallback_cover_is_neither_black_nor_blurred(tmp_path: Path) -> None:
    source = make_black_blurred_sharp(tmp_path / "fade-in.mp4")
    ffmpeg = RecordingFfmpeg(SubprocessFfmpeg(FFMPEG))
    store = LocalContentStore(tmp_path / "ipfs")
    service = TranscodeService(MemoryCheckpointStore(), MemoryKeyStore(), store, ffmpeg)
    result = await service.transcode(TranscodeRequest("run-fade-in", source, tmp_path / "work"))

    assert result.cover == "cover.jpg"
    assert result.cover_cid is not None
    assert result.cover_cid == result.manifest["cover.jpg"]
    cover, width, height = luma_of_jpeg(await service.read_published(result.cover_cid))
    assert (width, height) == (320, 240)
    black = luma_of_source(source, 1.5, width, height)
    blurred = luma_of_source(source, 4.5, width, height)
    sharp = luma_of_source(source, 8.0, width, height)
    assert mean(black) < 20  # the clip is what the test says
    assert edge_energy(sharp, width, height) > 3 * edge_energy(blurred, width, height)

    assert mean(cover) > 40  # not black
    assert edge_energy(cover, width, height) > 0.6 * edge_energy(sharp, width, height)  # not blurred
    assert edge_energy(cover, width, height) > 2 * edge_energy(blurred, width, height)
    # One ffmpeg run chose it (besides the audio, the rendition and the storyboard), no candidate was left behind.
    assert len(ffmpeg.calls) == 4
    assert not (tmp_path / "work").exists()
    assert {p.name for p in (tmp_path / "ipfs").rglob("*") if p.is_file()} == set(result.manifest.values())


async def test_a_creators_cover_wins_over_the_fallback_everywhere(pg: Injector, settings: Settings) -> None:
    creator = await person(pg, "Creator", creator=True)
    studio = pg.get(StudioService)
    plain = await price_and_publish(pg, creator.id, await transcode_video(pg, creator.id, title="Plain"))
    covered = await transcode_video(pg, creator.id, title="Covered")
    assert covered.fallback_cover_image is not None
    await studio.set_cover(creator.id, covered.id, PNG)
    covered = await price_and_publish(pg, creator.id, covered)

    async with app_client(pg, settings) as owner:
        owner.cookies.set(SESSION_COOKIE, await session_token(pg, creator))
        await csrf_token(owner, "/login")
        for video, kind in ((plain, "image/jpeg"), (covered, "image/png")):
            for url in (f"/v/{video.public_id}/cover", f"/studio/videos/{video.id}/cover"):
                response = await owner.get(url)
                assert response.status_code == 200, url
                assert response.headers["content-type"] == kind
            page = await owner.get(f"/v/{video.public_id}")
            assert re.search(rf'<meta property="og:image" content="[^"]*/v/{video.public_id}/cover">', page.text)
        assert (await owner.get(f"/v/{covered.public_id}/cover")).content == PNG
        fallback = await owner.get(f"/v/{plain.public_id}/cover")
        assert fallback.content[:3] == b"\xff\xd8\xff"  # the frame the pipeline chose
        studio_page = await owner.get("/studio")
        assert f"/studio/videos/{covered.id}/cover" in studio_page.text
        assert f"/studio/videos/{plain.id}/cover" in studio_page.text
    home = await httpx_get_home(pg, settings)
    assert f"/v/{covered.public_id}/cover" in home
    assert f"/v/{plain.public_id}/cover" in home


async def httpx_get_home(pg: Injector, settings: Settings) -> str:
    async with app_client(pg, settings) as visitor:
        response: httpx.Response = await visitor.get("/")
        assert response.status_code == 200
        return response.text


class KilledAfterCandidates:
    """An ffmpeg runner whose worker dies right after the candidate frames are written."""

    def __init__(self, inner: SubprocessFfmpeg) -> None:
        self.inner = inner

    async def run(
        self, args: Sequence[str], *, duration: float | None = None, on_progress: ProgressCallback | None = None
    ) -> None:
        await self.inner.run(args, duration=duration, on_progress=on_progress)
        if any("cover-candidates" in arg for arg in args):
            raise WorkerKilled("killed while choosing a cover")


class WorkerKilled(Exception):
    """Stands for SIGKILL: the unit stops where it is."""


async def test_a_run_killed_while_choosing_the_cover_resumes_to_the_same_cover(tmp_path: Path) -> None:
    source = make_black_blurred_sharp(tmp_path / "fade-in.mp4")
    clean = await TranscodeService(
        MemoryCheckpointStore(), MemoryKeyStore(), LocalContentStore(tmp_path / "clean"), SubprocessFfmpeg(FFMPEG)
    ).transcode(TranscodeRequest("run-clean", source, tmp_path / "clean-work"))

    checkpoints, keys, store = MemoryCheckpointStore(), MemoryKeyStore(), LocalContentStore(tmp_path / "ipfs")
    request = TranscodeRequest("run-killed", source, tmp_path / "work")
    killed = TranscodeService(checkpoints, keys, store, KilledAfterCandidates(SubprocessFfmpeg(FFMPEG)))
    with pytest.raises(UnitFailed) as failure:
        await killed.transcode(request)
    assert failure.value.unit == "ExtractCover"
    assert "ExtractCover" not in await checkpoints.completed("run-killed")
    out = request.work_dir / "out"
    left = {p.name for p in out.iterdir()}
    assert "cover.jpg" not in left  # only complete outputs carry their name
    assert not [name for name in left if "cover" in name]  # no candidate frames left behind

    again = RecordingFfmpeg(SubprocessFfmpeg(FFMPEG))
    result = await TranscodeService(checkpoints, keys, store, again).transcode(request)
    assert len(again.calls) == 2  # only the cover's run again, and then the storyboard's (the next unit)
    assert any(arg.endswith("sprite_%03d.jpg") for arg in again.calls[1])
    assert result.cover_cid == clean.cover_cid  # the same frame, the same bytes
    assert not request.work_dir.exists()
    assert {p.name for p in (tmp_path / "ipfs").rglob("*") if p.is_file()} == set(result.manifest.values())


async def test_a_video_shorter_than_its_sound_still_gets_a_cover(tmp_path: Path) -> None:
    source = tmp_path / "short-picture.mp4"
    subprocess.run(
        [
            *(FFMPEG, "-v", "error", "-y"),
            *("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2"),
            *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=8"),
            *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(source)),
        ],
        check=True,
    )
    service = TranscodeService(
        MemoryCheckpointStore(), MemoryKeyStore(), LocalContentStore(tmp_path / "ipfs"), SubprocessFfmpeg(FFMPEG)
    )
    result = await service.transcode(TranscodeRequest("run-short", source, tmp_path / "work"))
    assert result.cover_cid is not None
    cover, width, height = luma_of_jpeg(await service.read_published(result.cover_cid))
    assert (width, height) == (320, 240)
    assert mean(cover) > 40
