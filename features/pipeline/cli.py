"""`hypha transcode SRC [--subtitles FILE:LANG ...] --out DIR`: the pipeline on a local file.

No web app, no database: checkpoints and keys in memory, published files in a LocalContentStore
under DIR/.ipfs. DIR ends up holding a playable HLS tree (master.m3u8, renditions, audio, subtitles,
cover.jpg, storyboard/ with the seek previews' sprites and thumbnails.vtt), the AES key (key.bin —
for operators, never publish it) and manifest.json with every file's CID and the IV.

Heavy imports happen inside `cmd_transcode`, so `hypha --help` stays quick.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from core.feature import Composition
    from features.pipeline.model import SubtitleSource


def transcode_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", type=Path, help="the video file to transcode")
    parser.add_argument(
        "--subtitles",
        action="append",
        default=[],
        metavar="FILE:LANG",
        help="an SRT or WebVTT file and its language tag, e.g. talk.en.srt:en (repeatable)",
    )
    parser.add_argument("--out", type=Path, required=True, help="directory to write the HLS tree into")
    parser.add_argument(
        "--key-uri", default="../key.bin", help="key URI written into the media playlists (default ../key.bin)"
    )


def cmd_transcode(args: argparse.Namespace, _composition: Composition) -> None:
    import asyncio

    from core.pipeline import UnitFailed
    from features.pipeline.model import SubtitleSource

    subtitles = []
    for spec in args.subtitles:
        path, sep, language = str(spec).rpartition(":")
        if not sep or not path or not language:
            _fail(f"--subtitles expects FILE:LANG, got {spec!r}")
        subtitles.append(SubtitleSource(Path(path), language, language))
    try:
        asyncio.run(transcode_to_directory(args.source, args.out, tuple(subtitles), args.key_uri))
    except UnitFailed as error:
        _fail(f"transcoding failed at {error.unit}: {error.reason}")


def _fail(message: str) -> NoReturn:
    # A SystemExit of its own rather than core.cli.CommandError: the command needs nothing of core.cli.
    print(f"hypha: {message}", file=sys.stderr)
    raise SystemExit(2)


async def transcode_to_directory(
    source: Path, out: Path, subtitles: tuple[SubtitleSource, ...] = (), key_uri: str = "../key.bin"
) -> dict[str, object]:
    """Run the pipeline on `source` and lay its published files out under `out`; returns the manifest."""
    import json
    import shutil
    import sys
    import time

    import imageio_ffmpeg

    from core.pipeline import MemoryCheckpointStore, Progress
    from core.settings import load_settings
    from features.pipeline.adapters import MemoryKeyStore, SubprocessFfmpeg
    from features.pipeline.content_store import LocalContentStore
    from features.pipeline.model import TranscodeRequest
    from features.pipeline.service import TranscodeService

    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    store = LocalContentStore(out / ".ipfs")
    keys = MemoryKeyStore()
    binary = load_settings().ffmpeg_binary or imageio_ffmpeg.get_ffmpeg_exe()
    service = TranscodeService(MemoryCheckpointStore(), keys, store, SubprocessFfmpeg(binary))
    started = time.monotonic()

    async def show(progress: Progress) -> None:
        eta = f"  ETA {progress.eta_seconds:.0f}s" if progress.eta_seconds is not None else ""
        print(
            f"[{progress.percent:5.1f}%] {progress.step}/{progress.steps} {progress.unit}{eta}",
            file=sys.stdout,
            flush=True,
        )

    request = TranscodeRequest(
        run_id=f"cli-{source.name}",
        source=source,
        work_dir=out / ".work",
        subtitles=subtitles,
        key_uri=key_uri,
    )
    result = await service.transcode(request, on_progress=show)
    for relative, cid in result.manifest.items():
        target = out / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(store.path_for(cid), target)
    key = await service.key_for(request.run_id)
    assert key is not None
    (out / "key.bin").write_bytes(key.key)
    manifest: dict[str, object] = {
        **result.to_dict(),
        "key": {
            "file": "key.bin",
            "uri": key_uri,
            "method": "AES-128",
            "iv": key.iv_hex,
            "iv_rule": "segment n of the media playlists (in master order) uses IV + n; each #EXT-X-KEY says it",
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(
        f"done in {time.monotonic() - started:.1f}s: {out / result.master_playlist} "
        f"({len(result.renditions)} renditions, {len(result.manifest)} files; key in key.bin)",
        flush=True,
    )
    return manifest
