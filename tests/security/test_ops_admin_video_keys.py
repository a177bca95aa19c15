"""The staff data admin lists the pipeline's video keys without their key material: the columns that
hold it are Piccolo `secret` columns, never selected and never filtered on."""

from __future__ import annotations

import httpx
from injector import Injector

from core.db import Database
from core.di import get_port
from core.web import SESSION_COOKIE
from features.pipeline.model import VideoKey
from features.pipeline.ports import KeyStore
from tests.support.videos import person, session_token

ADMIN = "/ops/admin"


async def test_staff_see_that_a_video_key_exists_but_never_its_bytes(client: httpx.AsyncClient, pg: Injector) -> None:
    db = pg.get(Database)
    key = VideoKey(bytes(range(16)), bytes(range(16, 32)))
    await get_port(pg, KeyStore).ensure("run-sealed", key)
    plain = VideoKey(b"P" * 16, b"Q" * 16)  # a key written before sealing existed: plain until next read
    await db.execute("INSERT INTO video_keys (run_id, key, iv) VALUES ('run-plain', $1, $2)", plain.key, plain.iv)
    staff = await person(pg, "Stella Staff")
    await db.execute("UPDATE users SET is_staff = true WHERE id = $1", staff.id)
    client.cookies.set(SESSION_COOKIE, await session_token(pg, staff))

    listing = await client.get(f"{ADMIN}/api/tables/video_keys/", params={"__order": "run_id"})
    assert listing.status_code == 200
    rows = listing.json()["rows"]
    assert [row["run_id"] for row in rows] == ["run-plain", "run-sealed"]
    assert all(row.get(name) is None for row in rows for name in ("key", "iv", "sealed"))
    single = await client.get(f"{ADMIN}/api/tables/video_keys/run-plain/")
    sealed = await db.fetchval("SELECT sealed FROM video_keys WHERE run_id = 'run-sealed'")
    for response in (listing, single):
        for secret in (key.key, plain.key, plain.iv, bytes(sealed)):
            assert secret.hex() not in response.text
            assert secret.decode("latin-1") not in response.text
    by_key = await client.get(f"{ADMIN}/api/tables/video_keys/", params={"key": plain.key.hex()})
    assert by_key.status_code == 400  # key material cannot even be filtered on
