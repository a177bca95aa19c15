"""`hypha portability export CREATOR_ID --out DIR [--video=PUBLIC_ID]`: a creator's library (or one video)
as a CARv1 file and its JSON manifest, written to DIR, as /studio/export serves them.

Reads the database from DATABASE_URL (or the embedded PostgreSQL `hypha up` keeps under DATA_DIR) and the
published files from the configured content store. Exit status 0 on success, 1 when there is nothing to
export (an unknown creator, a video that is not theirs or not published), 2 for a set-up problem.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from uuid import UUID

import asyncpg

from core.feature import Composition
from core.oneoff import database_settings, refuse
from core.settings import Settings


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser("export", help="write a creator's library (or one video) as CAR + JSON")
    export.add_argument("creator", type=UUID, help="the creator's account id (as in /c/<id>)")
    export.add_argument("--out", type=Path, required=True, help="directory to write the files to")
    export.add_argument(
        "--video",
        metavar="PUBLIC_ID",
        help="only this video (its public id, as in /v/<id>; write --video=<id> when the id starts with '-')",
    )


async def export(composition: Composition, settings: Settings, creator: UUID, out: Path, video: str | None) -> str:
    """Write the CAR and the manifest; the line to print. Raises NotFound when there is nothing to export."""
    from core.db import Database
    from core.di import build_injector
    from features.portability.model import NothingToExport
    from features.portability.service import PortabilityService
    from features.studio.service import StudioService

    injector = build_injector(settings, composition.features_for(settings))
    db = injector.get(Database)
    await db.start()
    try:
        video_id = None
        if video is not None:
            found = await injector.get(StudioService).video_by_public_id(video)
            if found is None or found.owner_id != creator:
                raise NothingToExport()
            video_id = found.id
        portability = injector.get(PortabilityService)
        manifest = await portability.manifest(creator, video_id)
        car = await portability.car(creator, video_id)
        out.mkdir(parents=True, exist_ok=True)
        size = 0
        with (out / car.filename).open("wb") as target:
            async for chunk in car.chunks:
                target.write(chunk)
                size += len(chunk)
        (out / car.filename.replace(".car", ".json")).write_text(json.dumps(manifest, indent=2))
    finally:
        await db.stop()
    roots = len(car.roots)
    return f"{out / car.filename}: {size} bytes, {roots} root{'s' if roots != 1 else ''} (manifest beside it)"


def run(args: argparse.Namespace, composition: Composition) -> None:
    from core.errors import NotFound

    try:
        with database_settings() as settings:
            line = asyncio.run(export(composition, settings, args.creator, args.out, args.video))
    except NotFound as error:
        raise refuse(f"{error.message} (creator {args.creator})", 1) from error
    except asyncpg.UndefinedTableError as error:
        raise refuse(f"the database is not migrated yet (run `hypha migrate`): {error}") from error
    print(line)
