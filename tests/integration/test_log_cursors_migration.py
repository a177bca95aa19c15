"""Migration 1920: the three cursor tables of analytics, notifications and the dashboard become core's
one `log_cursors`, each read position carried over, so no consumer reads anything twice or skips."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from core.db import MIGRATIONS_DIR, connect, create_database, drop_database, migrate, with_database

ONE_CURSOR_TABLE = "1920_log_cursors.sql"
SEEN = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
async def empty_database(server_url: str) -> AsyncIterator[str]:
    name = f"hypha_cursors_migration_{secrets.token_hex(4)}"
    await create_database(server_url, name)
    try:
        yield with_database(server_url, name)
    finally:
        await drop_database(server_url, name)


async def test_every_cursor_is_carried_over_to_the_one_table(empty_database: str, tmp_path: Path) -> None:
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < ONE_CURSOR_TABLE:
            shutil.copy(path, tmp_path / path.name)
    await migrate(empty_database, tmp_path)
    conn = await connect(empty_database)
    try:
        await conn.execute(
            "INSERT INTO analytics_cursors (name, position, gap_seen_at)"
            " VALUES ('heartbeats', 41, $1), ('revenue', 7, NULL)",
            SEEN,
        )
        await conn.execute("INSERT INTO notification_cursors (name, position) VALUES ('notifications', 12)")
        await conn.execute("INSERT INTO dashboard_cursors (name, position) VALUES ('heartbeats', 40)")
        shutil.copy(MIGRATIONS_DIR / ONE_CURSOR_TABLE, tmp_path / ONE_CURSOR_TABLE)
        assert ONE_CURSOR_TABLE in await migrate(empty_database, tmp_path)
        rows = await conn.fetch("SELECT log, consumer, position, gap_seen_at FROM log_cursors ORDER BY log, consumer")
        assert [tuple(r) for r in rows] == [
            ("event_log", "analytics", 7, None),
            ("event_log", "notifications", 12, None),
            ("heartbeats", "analytics", 41, SEEN),
            ("heartbeats", "dashboard", 40, None),
        ]
        old = await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE tablename IN"
            " ('analytics_cursors', 'notification_cursors', 'dashboard_cursors')"
        )
        assert old == []
    finally:
        await conn.close()
