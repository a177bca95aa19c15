"""The pool releases connections without asyncpg's reset round trip (core.db._keep_session): what a
request leaves on a connection must not reach the next request that gets it."""

from __future__ import annotations

import re
from pathlib import Path

from injector import Injector

from core.db import Database

ROOT = Path(__file__).resolve().parents[2]


async def test_a_transaction_left_open_is_rolled_back_before_the_next_request_gets_the_connection(
    pg: Injector,
) -> None:
    db = pg.get(Database)
    assert db.engine.pool is not None
    async with db.engine.pool.acquire() as conn:
        await conn.execute("BEGIN")
        await conn.execute("SELECT pg_advisory_xact_lock(4242)")
        await conn.execute("INSERT INTO rate_limits (key, window_start, hits) VALUES ('left-open', now(), 1)")
    # Every connection of the pool, one after another: none is still in that transaction.
    for _ in range(db.max_size):
        async with db.connection() as conn:
            assert not conn.is_in_transaction()
    assert await db.fetchval("SELECT count(*) FROM rate_limits WHERE key = 'left-open'") == 0
    assert await db.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242") == 0


def test_no_code_leaves_session_state_on_a_pooled_connection() -> None:
    """Session-scoped advisory locks, SET without LOCAL, LISTEN and WITH HOLD cursors would outlive the
    request on a pooled connection now that it is not reset; the migration lock is on its own connection."""
    session_state = re.compile(
        r"pg_(try_)?advisory_lock\(|set_config\([^)]*,\s*false\)|WITH\s+HOLD|[\"']\s*(SET|LISTEN)\s"
    )
    allowed = {"core/db.py": 1}  # migrate(): pg_advisory_lock on the connection it opens itself
    found: dict[str, int] = {}
    for path in [*ROOT.glob("core/**/*.py"), *ROOT.glob("features/**/*.py"), *ROOT.glob("migrations/*.sql")]:
        hits = len(session_state.findall(path.read_text()))
        if hits:
            found[str(path.relative_to(ROOT))] = hits
    assert found == allowed
