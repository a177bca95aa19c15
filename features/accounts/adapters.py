"""Accounts adapters: Piccolo/PostgreSQL and in-memory repositories, and the argon2 hasher."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from argon2 import PasswordHasher as Argon2
from argon2.exceptions import InvalidHashError, VerificationError

from core.db import Database
from features.accounts.model import EmailTaken, Session, User, normalize_email
from features.accounts.tables import SessionTable, UserTable


def _user(row: Any) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        display_name=row["display_name"],
        password_hash=row["password_hash"],
        is_creator=row["is_creator"],
        is_staff=row["is_staff"],
        created_at=row["created_at"],
        suspended_at=row["suspended_at"],
        suspension_reason=row["suspension_reason"],
    )


class PiccoloUserRepository:
    async def add(self, user: User) -> None:
        try:
            await UserTable.insert(
                UserTable(
                    id=user.id,
                    email=user.email,
                    email_normalized=user.email_normalized,
                    display_name=user.display_name,
                    password_hash=user.password_hash,
                    is_creator=user.is_creator,
                    is_staff=user.is_staff,
                    created_at=user.created_at,
                )
            )
        except asyncpg.UniqueViolationError as error:
            raise EmailTaken() from error

    async def get(self, user_id: UUID) -> User | None:
        row = await UserTable.select().where(UserTable.id == user_id).first()
        return _user(row) if row else None

    async def by_email(self, email: str) -> User | None:
        row = await UserTable.select().where(UserTable.email_normalized == normalize_email(email)).first()
        return _user(row) if row else None

    async def save(self, user: User) -> None:
        await UserTable.update(
            {
                UserTable.display_name: user.display_name,
                UserTable.password_hash: user.password_hash,
                UserTable.is_creator: user.is_creator,
                UserTable.is_staff: user.is_staff,
                UserTable.suspended_at: user.suspended_at,
                UserTable.suspension_reason: user.suspension_reason,
            }
        ).where(UserTable.id == user.id)

    async def get_many(self, user_ids: list[UUID]) -> dict[UUID, User]:
        if not user_ids:
            return {}
        rows = await UserTable.select().where(UserTable.id.is_in(list(set(user_ids))))
        return {row["id"]: _user(row) for row in rows}


class PostgresSessionRepository:
    """Sessions in PostgreSQL; the lookup on every request is one indexed join."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, session: Session) -> None:
        await SessionTable.insert(
            SessionTable(
                id_hash=session.token_hash,
                user_id=session.user_id,
                created_at=session.created_at,
                expires_at=session.expires_at,
            )
        )

    async def user_for(self, token_hash: str, now: object) -> User | None:
        row = await self.db.fetchrow(
            "SELECT u.* FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1 AND s.expires_at > $2",
            token_hash,
            now,
        )
        return _user(row) if row else None

    async def delete(self, token_hash: str) -> None:
        await SessionTable.delete().where(SessionTable.id_hash == token_hash)

    async def delete_for_user(self, user_id: UUID) -> None:
        await SessionTable.delete().where(SessionTable.user_id == user_id)


class MemoryUserRepository:
    def __init__(self) -> None:
        self.users: dict[UUID, User] = {}

    async def add(self, user: User) -> None:
        if any(u.email_normalized == user.email_normalized for u in self.users.values()):
            raise EmailTaken()
        self.users[user.id] = user

    async def get(self, user_id: UUID) -> User | None:
        return self.users.get(user_id)

    async def by_email(self, email: str) -> User | None:
        wanted = normalize_email(email)
        return next((u for u in self.users.values() if u.email_normalized == wanted), None)

    async def save(self, user: User) -> None:
        if user.id in self.users:
            self.users[user.id] = user

    async def get_many(self, user_ids: list[UUID]) -> dict[UUID, User]:
        return {uid: self.users[uid] for uid in user_ids if uid in self.users}


class MemorySessionRepository:
    def __init__(self, users: MemoryUserRepository) -> None:
        self.users = users
        self.sessions: dict[str, Session] = {}

    async def add(self, session: Session) -> None:
        self.sessions[session.token_hash] = session

    async def user_for(self, token_hash: str, now: object) -> User | None:
        session = self.sessions.get(token_hash)
        if session is None or not isinstance(now, datetime) or session.expires_at <= now:
            return None
        return await self.users.get(session.user_id)

    async def delete(self, token_hash: str) -> None:
        self.sessions.pop(token_hash, None)

    async def delete_for_user(self, user_id: UUID) -> None:
        for key in [k for k, s in self.sessions.items() if s.user_id == user_id]:
            del self.sessions[key]


class Argon2PasswordHasher:
    """argon2id; hashing runs in a thread so the event loop keeps serving."""

    def __init__(self, time_cost: int = 2, memory_cost: int = 19 * 1024, parallelism: int = 1) -> None:
        self._argon = Argon2(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._argon.hash, password)

    async def verify(self, password_hash: str, password: str) -> bool:
        def _verify() -> bool:
            try:
                return bool(self._argon.verify(password_hash, password))
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(_verify)
