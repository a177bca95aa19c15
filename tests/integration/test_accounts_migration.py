"""Accounts created before e-mail verification existed (migration 1700) are taken as verified, and
their sessions get what the sessions page needs; `hypha up --demo`'s accounts are verified too."""

from __future__ import annotations

import secrets
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from uuid import uuid4

import pytest
from injector import Injector

from core.db import MIGRATIONS_DIR, connect, create_database, drop_database, migrate, with_database
from features.accounts.demo import DEMO_CREATOR, DEMO_VIEWER, create_demo_accounts
from features.accounts.service import AccountService

ACCOUNTS_TRUST = "1700_accounts_trust.sql"


@pytest.fixture
async def empty_database(server_url: str) -> AsyncIterator[str]:
    name = f"hypha_accounts_migration_{secrets.token_hex(4)}"
    await create_database(server_url, name)
    try:
        yield with_database(server_url, name)
    finally:
        await drop_database(server_url, name)


async def test_accounts_made_before_verification_existed_count_as_verified(empty_database: str, tmp_path: Path) -> None:
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < ACCOUNTS_TRUST:
            shutil.copy(path, tmp_path / path.name)
    await migrate(empty_database, tmp_path)
    conn = await connect(empty_database)
    try:
        user = uuid4()
        await conn.execute(
            "INSERT INTO users (id, email, email_normalized, display_name, password_hash, created_at)"
            " VALUES ($1, 'old@example.com', 'old@example.com', 'Old', 'x', '2026-01-02T03:04:05Z')",
            user,
        )
        await conn.execute(
            "INSERT INTO sessions (id_hash, user_id, created_at, expires_at)"
            " VALUES ('h', $1, '2026-01-02T03:04:05Z', '2099-01-01T00:00:00Z')",
            user,
        )
        shutil.copy(MIGRATIONS_DIR / ACCOUNTS_TRUST, tmp_path / ACCOUNTS_TRUST)
        assert ACCOUNTS_TRUST in await migrate(empty_database, tmp_path)
        row = await conn.fetchrow("SELECT created_at, email_verified_at FROM users")
        assert row is not None
        assert row["email_verified_at"] == row["created_at"]
        session = await conn.fetchrow("SELECT id, last_seen_at, created_at, browser, ip_prefix FROM sessions")
        assert session is not None
        assert session["id"] is not None
        assert session["last_seen_at"] == session["created_at"]
        assert (session["browser"], session["ip_prefix"]) == ("", "")
    finally:
        await conn.close()


async def test_the_demo_accounts_are_verified(pg: Injector) -> None:
    await create_demo_accounts(pg)
    accounts = pg.get(AccountService)
    for email, _password, _name in (DEMO_CREATOR, DEMO_VIEWER):
        user = await accounts.users.by_email(email)
        assert user is not None
        assert user.email_verified
