"""Fair transcoding: creator A enqueues 20 videos, then creator B one. How long does B wait?

    uv run python -m bench.fairness [--videos 20] [--workers 2] [--no-write]

Real PostgreSQL (DATABASE_URL's server, else an embedded one), the real studio service, real uploads
(probed with PyAV) and the real pipeline (ffmpeg) on a tiny 1 s 320×240 clip. `--workers` loops each
do what a saq transcode job does — `StudioService.process_next` — so the pick order is the one the
worker uses. A's videos are uploaded first, then B's; the workers are already running. Reported: B's
wait (from its upload finishing to its conversion starting) against one job's duration (median of
A's), how many of A's conversions started in between, B's queue position as its tile showed it, and
the position a first-in-first-out queue would have given it. Results replace the `bench:fairness`
section of docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import os
import platform
import secrets
import statistics
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import imageio_ffmpeg

from bench.common import bench_database, load_parser, write_section

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


@dataclass
class Conversion:
    owner: UUID
    video_id: UUID
    started: float
    ended: float


def make_clip(path: Path) -> bytes:
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25",
         "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100", "-t", "1",
         "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )  # fmt: skip
    return path.read_bytes()


async def one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def run(videos: int, workers: int, data_dir: str) -> dict[str, float | int | str]:
    from core.db import Database
    from core.di import build_injector
    from core.ids import uuid7
    from core.settings import load_settings
    from features.accounts.service import AccountService
    from features.bootstrap import features_for
    from features.studio.service import StudioService, job_key_for

    async with bench_database("hypha_bench_fair") as database:
        settings = load_settings({}, database_url=database.url, data_dir=data_dir, secret_key=secrets.token_hex(32))
        injector = build_injector(settings, features_for(settings))
        db = injector.get(Database)
        await db.start()
        try:
            studio = injector.get(StudioService)
            accounts = injector.get(AccountService)
            clip = make_clip(Path(data_dir) / "clip.mp4")
            ada = (await accounts.become_creator((await accounts.sign_up("a@bench.example", "long password 1")).id)).id
            bob = (await accounts.become_creator((await accounts.sign_up("b@bench.example", "long password 2")).id)).id

            conversions: list[Conversion] = []
            stop = asyncio.Event()

            async def worker() -> None:
                while not stop.is_set():
                    started = time.monotonic()
                    done = await studio.process_next(job_key_for(uuid7()))
                    if done is None:
                        await asyncio.sleep(0.02)
                        continue
                    conversions.append(Conversion(done.owner_id, done.id, started, time.monotonic()))

            async def upload(owner: UUID, title: str) -> UUID:
                video = await studio.create_video(owner, title)
                upload = await studio.create_upload(owner, video.public_id, len(clip), "clip.mp4")
                await studio.receive(owner, upload.id, 0, one_chunk(clip), len(clip))
                return video.id

            pool = [asyncio.create_task(worker()) for _ in range(workers)]
            for n in range(videos):
                await upload(ada, f"A {n}")
            b_id = await upload(bob, "B's first")
            b_queued = time.monotonic()
            b_video = await studio.get_video(b_id)
            assert b_video is not None
            tile_position = (await studio.tile(b_video)).queue_position
            fifo_position = int(
                await db.fetchval(
                    "SELECT count(*) FROM videos WHERE state = 'uploaded' AND queued_at < $1", b_video.queued_at
                )
            )
            deadline = time.monotonic() + 600
            while len(conversions) < videos + 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            stop.set()
            await asyncio.gather(*pool)
        finally:
            await db.stop()

    b = next(c for c in conversions if c.video_id == b_id)
    a_jobs = [c.ended - c.started for c in conversions if c.owner == ada]
    job = statistics.median(a_jobs)
    a_between = sum(1 for c in conversions if c.owner == ada and b_queued <= c.started < b.started)
    return {
        "videos": videos,
        "workers": workers,
        "b_wait": max(0.0, b.started - b_queued),
        "job": job,
        "job_max": max(a_jobs),
        "a_between": a_between,
        "tile_position": -1 if tile_position is None else tile_position,
        "fifo_position": fifo_position,
        "total": max(c.ended for c in conversions) - min(c.started for c in conversions),
        "where": database.where,
        "pg": database.version,
    }


def main() -> None:
    parser = load_parser(__doc__)
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hypha-bench-fair-") as data_dir:
        r = asyncio.run(run(args.videos, args.workers, data_dir))
    ratio = float(r["b_wait"]) / float(r["job"])
    print(
        f"B waited {r['b_wait']:.2f} s = {ratio:.2f} × one job ({r['job']:.2f} s median, {r['job_max']:.2f} s max); "
        f"{r['a_between']} of A's conversions started in between; B's tile said {r['tile_position']} ahead "
        f"(FIFO: {r['fifo_position']}); all {int(r['videos']) + 1} done in {r['total']:.1f} s"
    )
    fifo_jobs = int(r["fifo_position"]) / int(r["workers"])
    section = f"""## Fair transcoding: one creator's {r["videos"]} uploads vs another's first (`bench/fairness.py`)

Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} cores, PostgreSQL {r["pg"]} \
({r["where"]}); real uploads, real pipeline on a 1 s 320×240 clip, {r["workers"]} workers running
`StudioService.process_next` (what each saq transcode job runs). Creator A enqueues {r["videos"]} videos, then B one.

| figure | value |
|---|---|
| B's wait, upload finished → conversion started | {r["b_wait"]:.2f} s |
| one job (median of A's; max) | {r["job"]:.2f} s; {r["job_max"]:.2f} s |
| **B's wait in jobs** | **{ratio:.2f}** (the promise: ≤ 1) |
| A's conversions started while B waited | {r["a_between"]} |
| B's queue position on its tile | {r["tile_position"]} ahead |
| B's position in a first-in-first-out queue | {r["fifo_position"]} ahead (≈ {fifo_jobs:.0f} jobs' wait) |
| all {int(r["videos"]) + 1} conversions | {r["total"]:.1f} s |

B's wait is the remainder of the conversions already running when it arrived: with every worker busy
on A's videos, B starts when the first of them finishes.
"""
    if args.write:
        write_section("fairness", section)


if __name__ == "__main__":
    main()
