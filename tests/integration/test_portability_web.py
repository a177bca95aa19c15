"""Portability through HTTP on real PostgreSQL: a real published video as one IPFS directory (root equal
to the js reference's for the same tree), its CAR read back by @ipld/car, the library CAR and manifest,
authorization, the viewer's root, and flat memory for a large export."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
from injector import Injector

from core.di import get_port
from core.settings import Settings
from core.web import SESSION_COOKIE
from features.pipeline.ports import ContentStore
from features.pipeline.service import TranscodeService
from features.portability.ports import RootRepository
from features.portability.service import PortabilityService
from tests.conftest import app_client
from tests.support.first_run import ensure_npm_reference
from tests.support.videos import add_synthetic_video, person, price_and_publish, session_token, transcode_video

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "reference" / "ipfs-only-hash"


def node_json(script: str, path: Path) -> str:
    node = ensure_npm_reference(REFERENCE_DIR)
    result = subprocess.run(
        [node, str(REFERENCE_DIR / script), str(path)], capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


async def test_a_published_video_is_one_directory_and_its_car_reads_back(
    pg: Injector, settings: Settings, tmp_path: Path
) -> None:
    creator = await person(pg, "Creator", creator=True)
    video = await transcode_video(pg, creator.id, subtitles={"en": "1\n00:00:00,000 --> 00:00:01,000\nHi\n"})
    content = get_port(pg, ContentStore)
    # The worker's consumer stores the root as soon as the studio announces the video ready.
    assert await pg.get(PortabilityService).record_new_roots() >= 1
    stored = await get_port(pg, RootRepository).get_many([video.id])
    assert video.id in stored
    async with app_client(pg, settings) as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, creator))
        page = await client.get("/studio/export")
        assert page.status_code == 200
        manifest = (await client.get(f"/studio/export/videos/{video.id}/json")).json()
        car = await client.get(f"/studio/export/videos/{video.id}/car")
        app_playlist = (await client.get(f"/v/{video.public_id}/hls/{video.video_tracks[0]['playlist']}")).text
        ipfs = (await client.get(f"/v/{video.public_id}/ipfs")).json()
    assert car.status_code == 200
    assert car.headers["content-type"].startswith("application/vnd.ipld.car")
    [entry] = manifest["videos"]
    root = entry["root_cid"]
    assert root in page.text
    assert ipfs["root"] == root
    assert manifest["car_roots"] == [root]
    assert entry["title"] == video.title
    assert "created_at" in entry

    # The tree the root covers: every published file (never the key), media playlists with the absolute key URL.
    tree = tmp_path / "video"
    key_url = f"{settings.public_url}/v/{video.public_id}/key"
    assert set(entry["files"]) == set(video.manifest)
    for path, cid in entry["files"].items():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_bytes(await content.read(cid))
    media = [t["playlist"] for t in video.video_tracks + video.audio_tracks]
    assert media
    assert any(p.startswith("subs/") for p in entry["files"])
    for path in media:
        assert f'URI="{key_url}"' in (tree / path).read_text()
    assert f'URI="/v/{video.public_id}/key"' in app_playlist  # the app's own player keeps its same-origin key
    assert "key" not in {Path(p).name for p in entry["files"]}
    assert node_json("dir.mjs", tree) == root

    (tmp_path / "video.car").write_bytes(car.content)
    read = json.loads(node_json("car.mjs", tmp_path / "video.car"))
    assert read["roots"] == [root]
    assert read["reachable"] == read["blocks"]


async def test_library_car_names_every_video_and_others_get_404(
    pg: Injector, settings: Settings, tmp_path: Path
) -> None:
    creator = await person(pg, "Creator", creator=True)
    other = await person(pg, "Other", creator=True)
    viewer = await person(pg, "Viewer")
    first = await add_synthetic_video(pg, creator.id, title="First")
    second = await add_synthetic_video(pg, creator.id, title="Second")
    await price_and_publish(pg, creator.id, first.video)
    async with app_client(pg, settings) as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, creator))
        manifest = (await client.get("/studio/export/library.json")).json()
        car = await client.get("/studio/export/library.car")
    assert [v["title"] for v in manifest["videos"]] == ["First", "Second"]
    assert manifest["videos"][0]["prices_points"] == {"rent_day": 50, "rent_month": 200, "lifetime": 500}
    (tmp_path / "library.car").write_bytes(car.content)
    read = json.loads(node_json("car.mjs", tmp_path / "library.car"))
    assert read["roots"] == manifest["car_roots"]
    assert len(set(read["roots"])) == 2

    async with app_client(pg, settings) as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, other))
        for url in (f"/studio/export/videos/{first.video.id}/car", f"/studio/export/videos/{second.video.id}/json"):
            assert (await client.get(url)).status_code == 404
        assert "First" not in (await client.get("/studio/export")).text
        assert (await client.get(f"/v/{second.video.public_id}/ipfs")).status_code == 404  # unpublished, not theirs
    async with app_client(pg, settings) as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, viewer))
        assert (await client.get("/studio/export/library.car", follow_redirects=False)).status_code in (302, 303, 403)
        assert (await client.get(f"/v/{first.video.public_id}/ipfs")).status_code == 403  # paid, not unlocked
    async with app_client(pg, settings) as client:
        assert (await client.get(f"/v/{first.video.public_id}/ipfs")).status_code == 403


async def test_a_large_export_streams_in_flat_memory(pg: Injector, settings: Settings, tmp_path: Path) -> None:
    """64 MiB of segments go out as a CAR while Python holds under 4 MiB at its peak."""
    big = tmp_path / "seg_00000.ts"
    with big.open("wb") as out:
        for index in range(64):
            out.write(bytes([index]) * (1024 * 1024))
    content = get_port(pg, ContentStore)
    manifest = {"480p/seg_00000.ts": await content.put_file(big), "master.m3u8": await content.put_file(big)}
    big.unlink()
    media = pg.get(TranscodeService)
    portability = pg.get(PortabilityService)
    directory = await media.ipfs_directory(manifest, "https://hypha.example/v/x/key")
    written = 0
    tracemalloc.start()
    try:
        async for chunk in portability._car_chunks([directory.root], [directory]):
            written += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert written > 64 * 1024 * 1024
    assert peak < 4 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB for a {written / 2**20:.0f} MiB export"
    print(f"\nCAR export: {written / 2**20:.1f} MiB written, Python peak {peak / 2**20:.2f} MiB")


@pytest.fixture(autouse=True)
def _reference_installed() -> None:
    ensure_npm_reference(REFERENCE_DIR)


async def test_hypha_portability_export_writes_the_same_car_and_manifest(
    pg: Injector, settings: Settings, tmp_path: Path
) -> None:
    creator = await person(pg, "Creator", creator=True)
    made = await add_synthetic_video(pg, creator.id, title="On the command line")
    expected = await pg.get(PortabilityService).root_of(made.video)
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "DATA_DIR": settings.data_dir,
        "SECRET_KEY": settings.secret_key,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "features.bootstrap", "portability", "export", str(creator.id),
        "--out", str(tmp_path / "out"), f"--video={made.video.public_id}",  # an id may start with "-"
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    car = tmp_path / "out" / f"hypha-{made.video.public_id}.car"
    assert str(car) in out.decode()
    assert json.loads(node_json("car.mjs", car))["roots"] == [expected]
    manifest = json.loads(car.with_suffix(".json").read_text())
    assert manifest["car_roots"] == [expected]

    other = await person(pg, "Other", creator=True)
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "features.bootstrap", "portability", "export", str(other.id),
        "--out", str(tmp_path / "other"), f"--video={made.video.public_id}",  # an id may start with "-"
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 1, err.decode()
    assert not (tmp_path / "other").exists()
