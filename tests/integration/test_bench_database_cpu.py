"""bench.unlock reports PostgreSQL's CPU per unlock from /proc: the backends connected to the benchmark's
database, found by their process titles (`postgres: [cluster:] user database client state`)."""

from __future__ import annotations

from urllib.parse import urlsplit

from injector import Injector

from bench.unlock import database_cpu
from core.db import Database


async def test_the_backends_of_a_database_are_found_with_the_cpu_they_used(pg: Injector) -> None:
    db = pg.get(Database)
    name = urlsplit(db.url).path.lstrip("/")
    async with db.connection() as conn:
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        before = database_cpu(name)
        await conn.fetchval("SELECT count(*) FROM generate_series(1, 3000000)")  # ≈ 0.1-0.5 s of CPU
        after = database_cpu(name)
    assert pid in before
    assert pid in after
    assert after[pid] > before[pid]
    assert database_cpu(name + "_no_such_database") == {}
