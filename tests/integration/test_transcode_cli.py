"""`hypha transcode` on a local clip, as an operator runs it: no web app, no database."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import m3u8

from features.pipeline.ipfs import cid_of_file
from tests.support.media import make_clip


def test_hypha_transcode_leaves_a_playable_tree_the_key_and_a_manifest(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "talk.mp4", width=320, height=240, seconds=2)
    srt = tmp_path / "talk.srt"
    srt.write_text("1\n00:00:00,100 --> 00:00:01,000\nHello\n")
    out = tmp_path / "out"

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "features.bootstrap",
            "transcode",
            str(source),
            "--subtitles",
            f"{srt}:en",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    for step in ("Preparing", "Converting video to 480p", "Publishing 480p", "Finishing"):
        assert step in result.stdout
    assert "100.0%" in result.stdout
    master = m3u8.load(str(out / "master.m3u8"))
    assert [p.uri for p in master.playlists] == ["480p/index.m3u8"]
    assert (out / "480p" / "index.m3u8").is_file()
    assert (out / "audio" / "index.m3u8").is_file()
    assert (out / "subs" / "0-en.vtt").read_text().startswith("WEBVTT")
    assert (out / "cover.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert len((out / "key.bin").read_bytes()) == 16
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["key"]["iv"].startswith("0x")
    assert "key.bin" not in manifest["manifest"]
    for relative, cid in manifest["manifest"].items():
        assert cid_of_file(out / relative) == cid
    assert not (out / ".work").exists()


def test_hypha_transcode_explains_a_file_that_is_not_a_video(tmp_path: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 50)
    result = subprocess.run(
        [sys.executable, "-m", "features.bootstrap", "transcode", str(text), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "not a video" in result.stderr
