"""Server memory while a large file arrives over tus: the web process's RSS must stay flat.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres uv run python -m bench.upload_memory [MiB]

Starts `hypha`'s web app in a child process on a fresh database, signs up a creator, creates a
video and streams MiB megabytes (default 1024) in one tus PATCH, sampling the server's RSS every
20 ms. Prints the resident memory before, the peak during the upload, and the throughput.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import sys
import tempfile
import time
from pathlib import Path

import httpx

from core.db import create_database, drop_database, migrate, with_database

SERVER = """
import uvicorn
from features.bootstrap import create_app
from core.settings import load_settings
uvicorn.run(create_app(load_settings()), host="127.0.0.1", port={port}, log_level="warning")
"""


def rss_kib(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(match.group(1)) if match else 0


async def main(mebibytes: int) -> None:
    base = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"hypha_bench_{secrets.token_hex(4)}"
    await create_database(base, name)
    url = with_database(base, name)
    await migrate(url)
    port = 18000 + secrets.randbelow(1000)
    with tempfile.TemporaryDirectory(prefix="hypha-bench-") as data:
        env = {**os.environ, "DATABASE_URL": url, "DATA_DIR": data, "SECRET_KEY": secrets.token_hex(32)}
        server = await asyncio.create_subprocess_exec(sys.executable, "-c", SERVER.format(port=port), env=env)
        try:
            await run(server.pid, f"http://127.0.0.1:{port}", mebibytes)
        finally:
            server.terminate()
            await server.wait()
            await drop_database(base, name)


async def run(pid: int, base_url: str, mebibytes: int) -> None:
    from tests.support.studio import create_upload, create_video, sign_up_creator, tus_headers

    async with httpx.AsyncClient(base_url=base_url, timeout=600) as http:
        for _ in range(100):
            try:
                await http.get("/healthz")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.1)
        await sign_up_creator(http, "bench@example.com")
        video = await create_video(http, "Big upload")
        total = mebibytes * 1024 * 1024
        location = (await create_upload(http, video, total)).headers["location"]
        before = rss_kib(pid)
        peak = before
        done = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss_kib(pid))
                await asyncio.sleep(0.02)

        chunk = secrets.token_bytes(256 * 1024)

        async def body() -> object:
            for _ in range(total // len(chunk)):
                yield chunk

        sampler = asyncio.create_task(sample())
        started = time.perf_counter()
        response = await http.patch(
            location,
            content=body(),
            headers=tus_headers(
                http,
                **{
                    "Upload-Offset": "0",
                    "Content-Type": "application/offset+octet-stream",
                    "Content-Length": str(total),
                },
            ),
        )
        elapsed = time.perf_counter() - started
        done.set()
        await sampler
        print(f"upload: {mebibytes} MiB in one PATCH -> {response.status_code} in {elapsed:.1f} s")
        print(f"throughput: {mebibytes / elapsed:.0f} MiB/s")
        print(f"server RSS before: {before / 1024:.1f} MiB, peak during: {peak / 1024:.1f} MiB")
        print(f"growth: {(peak - before) / 1024:.1f} MiB for {mebibytes} MiB received")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1024))
