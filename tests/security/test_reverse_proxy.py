"""The example reverse-proxy configuration (deploy/nginx.conf) is valid nginx, and in front of a live Hypha it
cuts slow-header (slowloris) connections that uvicorn alone keeps open.

Needs the nginx binary (`apt-get install nginx`); skipped without it. Only the ports, the upstream address and
the file paths of the configuration are changed for the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from injector import Injector

from core.settings import Settings
from tests.support.live import free_port, live_app

CONFIG = Path(__file__).resolve().parents[2] / "deploy" / "nginx.conf"
HEADER_TIMEOUT = 10  # client_header_timeout in deploy/nginx.conf
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
pytestmark = pytest.mark.skipif(NGINX is None, reason="nginx is not installed (apt-get install nginx)")


def config_for(directory: Path, listen: int, upstream: int) -> Path:
    text = CONFIG.read_text()
    assert f"client_header_timeout {HEADER_TIMEOUT}s;" in text
    text = re.sub(r"listen 80;", f"listen 127.0.0.1:{listen};", text)
    text = re.sub(r"server 127\.0\.0\.1:8000;", f"server 127.0.0.1:{upstream};", text)
    text = text.replace("/run/nginx-hypha.pid", str(directory / "nginx.pid"))
    text = text.replace("/var/log/nginx/", f"{directory}/").replace("/var/lib/nginx/hypha/", f"{directory}/")
    path = directory / "nginx.conf"
    path.write_text(text)
    return path


@dataclass
class Proxied:
    proxy_port: int
    app_port: int


@pytest.fixture
async def proxied(pg: Injector, settings: Settings, tmp_path: Path) -> AsyncIterator[Proxied]:
    assert NGINX is not None
    async with live_app(settings, pg) as url:
        app_port = int(url.rsplit(":", 1)[1])
        proxy_port = free_port()
        config = config_for(tmp_path, proxy_port, app_port)
        process = await asyncio.create_subprocess_exec(
            NGINX, "-c", str(config), "-p", str(tmp_path), "-g", "daemon off;", stderr=subprocess.PIPE
        )
        try:
            for _ in range(100):
                with contextlib.suppress(OSError):
                    _, writer = await asyncio.open_connection("127.0.0.1", proxy_port)
                    writer.close()
                    break
                await asyncio.sleep(0.05)
            yield Proxied(proxy_port, app_port)
        finally:
            process.terminate()
            await process.wait()


def test_the_example_config_is_valid_nginx(tmp_path: Path) -> None:
    assert NGINX is not None
    config = config_for(tmp_path, free_port(), 8000)
    result = subprocess.run([NGINX, "-t", "-c", str(config), "-p", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


async def test_requests_pass_through_the_proxy(proxied: Proxied) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{proxied.proxy_port}") as client:
        assert (await client.get("/healthz")).text == "ok"
        login = await client.get("/login")
        assert login.status_code == 200
        assert client.cookies.get("csrftoken")  # cookies set by Hypha reach the browser
        assert (await client.get("/metrics")).status_code == 404  # off without METRICS_TOKEN, even via loopback


async def slow_headers(port: int, seconds: float) -> float | None:
    """Send a request's headers one byte every second; when the server hangs up, how long it took (None: it
    did not within `seconds`)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    try:
        while time.monotonic() - started < seconds:
            writer.write(b"X")  # an endless header name, one byte at a time
            await writer.drain()
            with contextlib.suppress(TimeoutError):
                if await asyncio.wait_for(reader.read(1024), 1.0) == b"":
                    return time.monotonic() - started
        return None
    except (ConnectionError, OSError):
        return time.monotonic() - started
    finally:
        writer.close()


async def test_slow_header_connections_are_cut_by_the_proxy_but_not_by_uvicorn_alone(proxied: Proxied) -> None:
    wait = HEADER_TIMEOUT + 4
    through_proxy = [slow_headers(proxied.proxy_port, wait) for _ in range(5)]
    straight = [slow_headers(proxied.app_port, wait) for _ in range(2)]
    results = await asyncio.gather(*through_proxy, *straight)
    cut, direct = results[:5], results[5:]
    assert all(took is not None and took <= HEADER_TIMEOUT + 2 for took in cut), cut
    # uvicorn has no header timeout: why `hypha web` must never face the internet without the proxy.
    assert direct == [None, None]
