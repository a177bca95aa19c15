"""Helpers for the privacy tests: a person with a history in every feature, and reading a ZIP."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
from injector import Injector

from core.clock import FrozenClock
from core.db import Database
from core.identity import Principal
from core.ids import public_id
from features.ledger.adapters import PostgresLedgerRepository
from features.ledger.model import AccountRef, Leg
from features.ledger.service import LedgerService
from features.playback.service import PlaybackService
from features.preferences.service import VideoPreferenceService
from features.unlocks.service import TipService, UnlockService
from features.wallet.service import WalletService
from tests.support.videos import SyntheticVideo, add_synthetic_video, fund, person, price_and_publish
from tests.support.web import post_form


@dataclass
class History:
    viewer: UUID
    creator: Principal
    made: SyntheticVideo


async def user_id(pg: Injector, email: str) -> UUID:
    found: UUID = await pg.get(Database).fetchval("SELECT id FROM users WHERE email = $1", email)
    return found


async def web_viewer(client: httpx.AsyncClient, pg: Injector, email: str, name: str) -> UUID:
    response = await post_form(
        client, "/signup", {"email": email, "password": "correct horse battery", "display_name": name}
    )
    assert response.status_code == 303, response.text
    return await user_id(pg, email)


async def give_history(pg: Injector, viewer: UUID, *, tip_message: str = "Lovely light") -> History:
    """The viewer buys points and a pack checkout, rents a video, tips its creator, favourites it and
    watches a little; the creator is a fresh one with one published video."""
    creator = await person(pg, "Harbour Films", creator=True)
    made = await add_synthetic_video(pg, creator.id, title="Tides at dawn")
    await price_and_publish(pg, creator.id, made.video)
    await fund(pg, viewer, 1000)
    await pg.get(WalletService).start_purchase(viewer, "p100", uuid4().hex, "100", "USD")
    pid = made.video.public_id
    await pg.get(UnlockService).unlock(viewer, pid, "rent_day", "privacy-unlock-0001", "50")
    viewer_principal = Principal(viewer, "", "Viewer", False, False)
    user = await pg.get(UnlockService).accounts.get_user(viewer)
    if user is not None:
        viewer_principal = user.principal()
    await pg.get(TipService).tip(viewer_principal, pid, 10, tip_message, "privacy-tip-00001")
    await pg.get(VideoPreferenceService).set_favourite(viewer, pid, True)
    await pg.get(PlaybackService).heartbeat(viewer, pid, "s" * 16, 3, client="127.0.0.1")
    return History(viewer, creator, made)


def open_zip(data: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(data))


def read_json(archive: zipfile.ZipFile, name: str) -> Any:
    return json.loads(archive.read(name))


async def tables_holding(db: Database, needle: str) -> dict[str, int]:
    """Every table of the migrated schema with rows whose text (all columns, JSON and arrays included,
    compared case-insensitively) contains `needle`, and how many rows: future tables are walked too."""
    tables = await db.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
    )
    found: dict[str, int] = {}
    for row in tables:
        name = row["table_name"].replace('"', '""')
        count = await db.fetchval(
            f'SELECT count(*) FROM "{name}" AS r WHERE strpos(lower(r::text), lower($1)) > 0',
            needle,
        )
        if count:
            found[row["table_name"]] = count
    return found


async def earn(pg: Injector, creator: UUID, points: int, days_ago: float) -> None:
    """Points a viewer spent on the creator `days_ago` (the ledger stamps transfers with its clock)."""
    clock = FrozenClock(datetime.now(UTC) - timedelta(days=days_ago))
    ledger = LedgerService(PostgresLedgerRepository(pg.get(Database)), clock)
    viewer, key = uuid4(), public_id()
    await ledger.transfer(
        f"buy-{key}", "purchase", [Leg(AccountRef.vendor_clearing(), AccountRef.wallet(viewer), points)]
    )
    await ledger.transfer(
        f"unlock-{key}", "unlock", [Leg(AccountRef.wallet(viewer), AccountRef.earnings(creator), points)]
    )
