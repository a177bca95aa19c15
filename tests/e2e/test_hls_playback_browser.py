"""What the pipeline produces plays in a real Chromium through the vendored hls.js: H.264 + AAC in
MPEG-TS, demuxed audio group, AES-128 with per-segment IVs, and WebVTT subtitles shown on time."""

from __future__ import annotations

import functools
import shutil
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from playwright.async_api import Browser

from features.pipeline.cli import transcode_to_directory
from features.pipeline.model import SubtitleSource
from tests.support.media import make_clip

HLS_JS = Path(__file__).resolve().parents[2] / "static" / "vendor" / "hls.min.js"

PAGE = """<!doctype html>
<video id="video" muted playsinline></video>
<script src="hls.min.js"></script>
<script>
  window.report = { errors: [], fatal: null };
  const video = document.getElementById("video");
  const hls = new Hls({ subtitleDisplay: true });
  window.hls = hls;
  hls.on(Hls.Events.ERROR, (_event, data) => {
    window.report.errors.push(data.details);
    if (data.fatal) window.report.fatal = data.details;
  });
  hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, () => {
    hls.subtitleTrack = 0;
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => video.play());
  hls.loadSource("master.m3u8");
  hls.attachMedia(video);
</script>
"""


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    root = tmp_path / "site"
    root.mkdir()
    shutil.copyfile(HLS_JS, root / "hls.min.js")
    (root / "index.html").write_text(PAGE)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_the_transcoded_video_plays_in_hls_js_with_its_audio_and_subtitles(
    chromium: Browser, served: tuple[Path, str], tmp_path: Path
) -> None:
    root, url = served
    source = make_clip(tmp_path / "clip.mp4", width=320, height=240, seconds=5)
    srt = tmp_path / "clip.srt"
    srt.write_text("1\n00:00:00,500 --> 00:00:01,500\nHello\n\n2\n00:00:03,000 --> 00:00:04,000\nGoodbye\n")
    await transcode_to_directory(source, root, (SubtitleSource(srt, "en", "English"),), key_uri="../key.bin")

    context = await chromium.new_context()
    try:
        page = await context.new_page()
        await page.goto(f"{url}/index.html")
        await page.wait_for_function(
            """() => {
                const video = document.getElementById("video");
                const track = video.textTracks[0];
                const cues = track && track.cues ? track.cues.length : 0;
                return window.report.fatal || (video.currentTime > 2 && cues >= 2);
            }""",
            timeout=15_000,
        )
        state = await page.evaluate(
            """() => {
                const video = document.getElementById("video");
                const track = video.textTracks[0];
                return {
                    fatal: window.report.fatal,
                    errors: window.report.errors,
                    frames: video.getVideoPlaybackQuality().totalVideoFrames,
                    width: video.videoWidth,
                    audioTracks: window.hls.audioTracks.length,
                    subtitleTracks: window.hls.subtitleTracks.map((t) => t.lang),
                    cues: track && track.cues ? Array.from(track.cues).map((c) => [c.startTime, c.text]) : [],
                };
            }"""
        )
    finally:
        await context.close()

    assert state["fatal"] is None, state["errors"]
    assert state["frames"] > 0
    assert state["width"] == 320
    assert state["audioTracks"] == 1
    assert state["subtitleTracks"] == ["en"]
    assert [text for _start, text in state["cues"]] == ["Hello", "Goodbye"]
    starts = [start for start, _text in state["cues"]]
    assert starts == pytest.approx([0.5, 3.0], abs=0.1)  # the X-TIMESTAMP-MAP puts cues on time
