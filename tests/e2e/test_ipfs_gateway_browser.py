"""The watch page loads segments from a configured IPFS gateway, and from Hypha when the gateway fails.

A tiny gateway in a thread serves `/ipfs/<root>/<path>` from the content store's bytes of the video's
IPFS directory (or answers 502 to everything); the app runs with IPFS_GATEWAY_URL pointing at it. The
playlists and the key still come from the app's own origin."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import msgspec
from injector import Injector
from playwright.async_api import Browser, expect

from core.di import get_port
from core.settings import Settings
from features.pipeline.ports import ContentStore
from features.pipeline.service import TranscodeService
from features.portability.service import PortabilityService
from tests.support.live import live_app
from tests.support.videos import person, price_and_publish, transcode_video

HLS_JS = Path(__file__).resolve().parents[2] / "static" / "vendor" / "hls.min.js"
GATEWAY_PAGE = """<!doctype html>
<video id="video" muted playsinline></video>
<script src="/hls.min.js"></script>
<script>
  window.report = { fatal: null };
  const video = document.getElementById("video");
  const hls = new Hls();
  hls.on(Hls.Events.ERROR, (_event, data) => { if (data.fatal) window.report.fatal = data.details; });
  hls.on(Hls.Events.MANIFEST_PARSED, () => video.play());
  hls.loadSource(location.hash.slice(1));
  hls.attachMedia(video);
</script>
"""


@contextmanager
def gateway(files: dict[str, bytes], *, failing: bool) -> Iterator[tuple[str, list[str]]]:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = None if failing else files.get(self.path.split("#")[0])
            self.send_response(502 if failing else 200 if body is not None else 404)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()
        server.server_close()


async def test_segments_come_from_the_gateway_and_fall_back_to_hypha(
    chromium: Browser, pg: Injector, settings: Settings
) -> None:
    creator = await person(pg, "Creator", creator=True)
    video = await transcode_video(pg, creator.id, seconds=4.0)
    await price_and_publish(pg, creator.id, video, free=True)
    directory = await pg.get(PortabilityService).directory(video)
    content = get_port(pg, ContentStore)
    files = {f"/ipfs/{directory.root}/{path}": await content.read(entry.cid) for path, entry in directory.files.items()}
    for failing in (False, True):
        with gateway(files, failing=failing) as (gateway_url, hits):
            configured = msgspec.structs.replace(settings, ipfs_gateway_url=gateway_url)
            async with live_app(configured, pg) as url:
                context = await chromium.new_context()
                try:
                    page = await context.new_page()
                    await page.goto(f"{url}/v/{video.public_id}")
                    await expect(page.get_by_test_id("ipfs-note")).to_contain_text(f"Also on IPFS: {directory.root}")
                    player = page.get_by_test_id("video")
                    await player.evaluate("v => { v.muted = true; return v.play(); }")
                    await page.wait_for_function(
                        "() => document.querySelector('video.hls-player').currentTime > 1", timeout=20_000
                    )
                    counts = await player.evaluate(
                        "v => [Number(v.dataset.ipfsSegments || 0), Number(v.dataset.ipfsFallbacks || 0)]"
                    )
                finally:
                    await context.close()
        segments = [hit for hit in hits if hit.endswith(".ts")]
        assert segments, "the player never asked the gateway"
        assert all(hit.startswith(f"/ipfs/{directory.root}/") for hit in hits)
        assert not any(hit.endswith((".m3u8", "/key")) for hit in hits)  # playlists and key: from Hypha only
        if failing:
            assert counts[0] == 0
            assert counts[1] >= 1  # every segment came from Hypha after the gateway's 502
        else:
            assert counts[0] >= 1
            assert counts[1] == 0


async def test_the_gateway_copy_plays_in_hls_js_with_the_key_from_hypha(
    chromium: Browser, pg: Injector, settings: Settings
) -> None:
    """`<gateway>/ipfs/<root>/master.m3u8` in a page of the gateway's origin: playlists and segments
    from the gateway, the key from Hypha by the absolute URL in the IPFS copy (CORS for that origin)."""
    creator = await person(pg, "Creator", creator=True)
    video = await transcode_video(pg, creator.id, seconds=4.0)
    await price_and_publish(pg, creator.id, video, free=True)
    content = get_port(pg, ContentStore)
    files: dict[str, bytes] = {"/player.html": GATEWAY_PAGE.encode(), "/hls.min.js": HLS_JS.read_bytes()}
    with gateway(files, failing=False) as (gateway_url, hits):
        configured = msgspec.structs.replace(settings, ipfs_gateway_url=gateway_url)
        async with live_app(configured, pg) as url:
            # The IPFS copy names the key at this server (what BASE_URL gives in production).
            directory = await pg.get(TranscodeService).ipfs_directory(video.manifest, f"{url}/v/{video.public_id}/key")
            for path, entry in directory.files.items():
                files[f"/ipfs/{directory.root}/{path}"] = await content.read(entry.cid)
            context = await chromium.new_context()
            try:
                page = await context.new_page()
                await page.goto(f"{gateway_url}/player.html#/ipfs/{directory.root}/master.m3u8")
                await page.wait_for_function(
                    "() => window.report.fatal || document.getElementById('video').currentTime > 1", timeout=20_000
                )
                fatal = await page.evaluate("() => window.report.fatal")
            finally:
                await context.close()
    assert fatal is None
    assert f"/ipfs/{directory.root}/master.m3u8" in hits
    assert any(hit.endswith(".ts") for hit in hits)
    assert not any("key" in hit for hit in hits)
