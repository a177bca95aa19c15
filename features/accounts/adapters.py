"""Accounts adapters: Piccolo/PostgreSQL and in-memory repositories, and the argon2 hasher."""

from __future__ import annotations

import asyncio
import unicodedata
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from argon2 import PasswordHasher as Argon2
from argon2.exceptions import InvalidHashError, VerificationError
from piccolo.custom_types import Combinable

from core.db import Database
from features.accounts.model import (
    UNUSABLE_PASSWORD,
    AccountToken,
    EmailTaken,
    Session,
    TokenPurpose,
    User,
    normalize_email,
)
from features.accounts.tables import AccountTokenTable, SessionTable, UserTable

SEEN_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often per session


def _user(row: Any) -> User:
    return User(
        id=row["id"],
        email=row["email"],
        display_name=row["display_name"],
        password_hash=row["password_hash"],
        is_creator=row["is_creator"],
        is_staff=row["is_staff"],
        created_at=row["created_at"],
        email_verified_at=row["email_verified_at"],
        suspended_at=row["suspended_at"],
        suspension_reason=row["suspension_reason"],
        email_since=row["email_since"],
    )


def _session(row: Any) -> Session:
    return Session(
        token_hash=row["id_hash"],
        user_id=row["user_id"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        id=row["id"],
        last_seen_at=row["last_seen_at"],
        browser=row["browser"],
        ip_prefix=row["ip_prefix"],
    )


def _token(row: Any) -> AccountToken:
    return AccountToken(
        token_hash=row["token_hash"],
        user_id=row["user_id"],
        purpose=TokenPurpose(row["purpose"]),
        email=row["email"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        used_at=row["used_at"],
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
                    email_verified_at=user.email_verified_at,
                    email_since=user.email_since,
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
        try:
            await UserTable.update(
                {
                    UserTable.email: user.email,
                    UserTable.email_normalized: user.email_normalized,
                    UserTable.email_verified_at: user.email_verified_at,
                    UserTable.email_since: user.email_since,
                    UserTable.display_name: user.display_name,
                    UserTable.password_hash: user.password_hash,
                    UserTable.is_creator: user.is_creator,
                    UserTable.is_staff: user.is_staff,
                    UserTable.suspended_at: user.suspended_at,
                    UserTable.suspension_reason: user.suspension_reason,
                }
            ).where(UserTable.id == user.id)
        except asyncpg.UniqueViolationError as error:
            raise EmailTaken() from error

    async def get_many(self, user_ids: list[UUID]) -> dict[UUID, User]:
        if not user_ids:
            return {}
        rows = await UserTable.select().where(UserTable.id.is_in(list(set(user_ids))))
        return {row["id"]: _user(row) for row in rows}

    async def pseudonymise(self, user_id: UUID, placeholder_email: str, placeholder_name: str) -> None:
        await UserTable.update(
            {
                UserTable.email: placeholder_email,
                UserTable.email_normalized: normalize_email(placeholder_email),
                UserTable.display_name: placeholder_name,
                UserTable.password_hash: UNUSABLE_PASSWORD,
                UserTable.is_creator: False,
                UserTable.is_staff: False,
            }
        ).where(UserTable.id == user_id)


class PostgresSessionRepository:
    """Sessions in PostgreSQL; the lookup on every request is one indexed join (plus, at most once a
    minute per session, one update of last_seen_at)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, session: Session) -> None:
        await SessionTable.insert(
            SessionTable(
                id_hash=session.token_hash,
                id=session.id or uuid4(),
                user_id=session.user_id,
                created_at=session.created_at,
                expires_at=session.expires_at,
                last_seen_at=session.last_seen_at or session.created_at,
                browser=session.browser[:80],
                ip_prefix=session.ip_prefix[:64],
            )
        )

    async def user_for(self, token_hash: str, now: datetime) -> User | None:
        # SQL: every request's hot path, one indexed join (a Piccolo join would also rename every column).
        row = await self.db.fetchrow(
            "SELECT u.*, s.last_seen_at AS session_seen FROM sessions s JOIN users u ON u.id = s.user_id "
            "WHERE s.id_hash = $1 AND s.expires_at > $2",
            token_hash,
            now,
        )
        if row is None:
            return None
        if now - row["session_seen"] >= SEEN_EVERY:
            await SessionTable.update({SessionTable.last_seen_at: now}).where(
                (SessionTable.id_hash == token_hash) & (SessionTable.last_seen_at < now)
            )
        return _user(row)

    async def delete(self, token_hash: str) -> None:
        await SessionTable.delete().where(SessionTable.id_hash == token_hash)

    async def delete_for_user(self, user_id: UUID, keep_token_hash: str | None = None) -> int:
        doomed: Combinable = SessionTable.user_id == user_id
        if keep_token_hash is not None:
            doomed &= SessionTable.id_hash != keep_token_hash
        return len(await SessionTable.delete().where(doomed).returning(SessionTable.id_hash))

    async def delete_one(self, user_id: UUID, session_id: UUID) -> bool:
        mine = (SessionTable.user_id == user_id) & (SessionTable.id == session_id)
        return bool(await SessionTable.delete().where(mine).returning(SessionTable.id_hash))

    async def list_for_user(self, user_id: UUID, now: datetime) -> list[Session]:
        rows = (
            await SessionTable.select()
            .where((SessionTable.user_id == user_id) & (SessionTable.expires_at > now))
            .order_by(SessionTable.last_seen_at, SessionTable.created_at, ascending=False)
        )
        return [_session(row) for row in rows]


class PostgresTokenRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, token: AccountToken) -> None:
        await AccountTokenTable.insert(
            AccountTokenTable(
                token_hash=token.token_hash,
                user_id=token.user_id,
                purpose=token.purpose.value,
                email=token.email,
                created_at=token.created_at,
                expires_at=token.expires_at,
            )
        )

    async def add_for_email(self, email: str, token: AccountToken) -> User | None:
        # SQL: one statement stores the token only if the address has an account, and returns that account.
        row = await self.db.fetchrow(
            "WITH target AS (SELECT * FROM users WHERE email_normalized = $1), "
            "stored AS (INSERT INTO account_tokens (token_hash, user_id, purpose, email, created_at, expires_at) "
            "SELECT $2, target.id, $3, target.email, $4, $5 FROM target) "
            "SELECT * FROM target",
            normalize_email(email),
            token.token_hash,
            token.purpose.value,
            token.created_at,
            token.expires_at,
        )
        return _user(row) if row else None

    async def find(self, token_hash: str, purpose: TokenPurpose) -> AccountToken | None:
        row = (
            await AccountTokenTable.select()
            .where((AccountTokenTable.token_hash == token_hash) & (AccountTokenTable.purpose == purpose.value))
            .first()
        )
        return _token(row) if row else None

    async def use(self, token_hash: str, purpose: TokenPurpose, now: datetime) -> AccountToken | None:
        usable = (
            (AccountTokenTable.token_hash == token_hash)
            & (AccountTokenTable.purpose == purpose.value)
            & AccountTokenTable.used_at.is_null()
            & (AccountTokenTable.expires_at > now)
        )
        rows = (
            await AccountTokenTable.update({AccountTokenTable.used_at: now})
            .where(usable)
            .returning(*AccountTokenTable.all_columns())
        )
        return _token(rows[0]) if rows else None

    async def revoke(self, user_id: UUID, purpose: TokenPurpose, now: datetime) -> None:
        await AccountTokenTable.update({AccountTokenTable.used_at: now}).where(
            (AccountTokenTable.user_id == user_id)
            & (AccountTokenTable.purpose == purpose.value)
            & AccountTokenTable.used_at.is_null()
        )

    async def forget_user(self, user_id: UUID) -> None:
        await AccountTokenTable.delete().where(AccountTokenTable.user_id == user_id)


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
        if any(u.email_normalized == user.email_normalized and u.id != user.id for u in self.users.values()):
            raise EmailTaken()
        if user.id in self.users:
            self.users[user.id] = user

    async def get_many(self, user_ids: list[UUID]) -> dict[UUID, User]:
        return {uid: self.users[uid] for uid in user_ids if uid in self.users}

    async def pseudonymise(self, user_id: UUID, placeholder_email: str, placeholder_name: str) -> None:
        user = self.users.get(user_id)
        if user is not None:
            self.users[user_id] = replace(
                user,
                email=placeholder_email,
                display_name=placeholder_name,
                password_hash=UNUSABLE_PASSWORD,
                is_creator=False,
                is_staff=False,
            )


class MemorySessionRepository:
    def __init__(self, users: MemoryUserRepository) -> None:
        self.users = users
        self.sessions: dict[str, Session] = {}

    async def add(self, session: Session) -> None:
        self.sessions[session.token_hash] = replace(
            session, id=session.id or uuid4(), last_seen_at=session.last_seen_at or session.created_at
        )

    async def user_for(self, token_hash: str, now: datetime) -> User | None:
        session = self.sessions.get(token_hash)
        if session is None or session.expires_at <= now:
            return None
        if session.last_seen_at is None or now - session.last_seen_at >= SEEN_EVERY:
            self.sessions[token_hash] = replace(session, last_seen_at=now)
        return await self.users.get(session.user_id)

    async def delete(self, token_hash: str) -> None:
        self.sessions.pop(token_hash, None)

    async def delete_for_user(self, user_id: UUID, keep_token_hash: str | None = None) -> int:
        doomed = [k for k, s in self.sessions.items() if s.user_id == user_id and k != keep_token_hash]
        for key in doomed:
            del self.sessions[key]
        return len(doomed)

    async def delete_one(self, user_id: UUID, session_id: UUID) -> bool:
        key = next((k for k, s in self.sessions.items() if s.user_id == user_id and s.id == session_id), None)
        if key is None:
            return False
        del self.sessions[key]
        return True

    async def list_for_user(self, user_id: UUID, now: datetime) -> list[Session]:
        mine = [s for s in self.sessions.values() if s.user_id == user_id and s.expires_at > now]
        return sorted(mine, key=lambda s: (s.last_seen_at or s.created_at, s.created_at), reverse=True)


class MemoryTokenRepository:
    def __init__(self, users: MemoryUserRepository) -> None:
        self.users = users
        self.tokens: dict[str, AccountToken] = {}

    async def add(self, token: AccountToken) -> None:
        self.tokens[token.token_hash] = token

    async def add_for_email(self, email: str, token: AccountToken) -> User | None:
        user = await self.users.by_email(email)
        if user is not None:
            self.tokens[token.token_hash] = replace(token, user_id=user.id, email=user.email)
        return user

    async def find(self, token_hash: str, purpose: TokenPurpose) -> AccountToken | None:
        token = self.tokens.get(token_hash)
        return token if token is not None and token.purpose is purpose else None

    async def use(self, token_hash: str, purpose: TokenPurpose, now: datetime) -> AccountToken | None:
        token = await self.find(token_hash, purpose)
        if token is None or not token.usable(now):
            return None
        used = replace(token, used_at=now)
        self.tokens[token_hash] = used
        return used

    async def revoke(self, user_id: UUID, purpose: TokenPurpose, now: datetime) -> None:
        for key, token in list(self.tokens.items()):
            if token.user_id == user_id and token.purpose is purpose and token.used_at is None:
                self.tokens[key] = replace(token, used_at=now)

    async def forget_user(self, user_id: UUID) -> None:
        self.tokens = {key: token for key, token in self.tokens.items() if token.user_id != user_id}


def composed(password: str) -> str:
    """A password in Unicode's composed form (NFC): the same characters typed as e + U+0301 on one device
    and U+00E9 on another are one password."""
    return unicodedata.normalize("NFC", password)


class Argon2PasswordHasher:
    """argon2id; hashing runs in a thread so the event loop keeps serving."""

    def __init__(self, time_cost: int = 2, memory_cost: int = 19 * 1024, parallelism: int = 1) -> None:
        self._argon = Argon2(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._argon.hash, composed(password))

    async def verify(self, password_hash: str, password: str) -> bool:
        """The password is hashed composed (NFC), so "é" matches however a keyboard or password manager
        sent it; a hash made before that from another form is also tried as typed."""

        def _verify(candidate: str) -> bool:
            try:
                return bool(self._argon.verify(password_hash, candidate))
            except (VerificationError, InvalidHashError):
                return False

        if await asyncio.to_thread(_verify, composed(password)):
            return True
        return password != composed(password) and await asyncio.to_thread(_verify, password)

    def needs_rehash(self, password_hash: str) -> bool:
        try:
            return bool(self._argon.check_needs_rehash(password_hash))
        except InvalidHashError:
            return True
