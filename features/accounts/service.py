"""Accounts use cases: sign up, log in (rotating the session), log out, become a creator."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, replace
from datetime import timedelta
from uuid import UUID

from core.clock import Clock
from core.identity import Principal
from core.ids import uuid7
from core.ratelimit import RateLimiter
from core.uow import UnitOfWork
from features.accounts.model import (
    AccountSuspended,
    InvalidCredentials,
    LoginThrottled,
    Session,
    SignupThrottled,
    UnknownAccount,
    User,
    check_email,
    check_password,
    normalize_email,
)
from features.accounts.ports import PasswordHasher, SessionRepository, UserRepository


@dataclass(frozen=True)
class AccountPolicy:
    session_max_age: int = 14 * 24 * 3600
    attempts_per_ip: int = 20
    attempts_per_email: int = 5
    window_seconds: int = 900
    signups_per_ip_per_hour: int = 20


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _throttled(retry_after: int) -> LoginThrottled:
    minutes = max(1, (retry_after + 59) // 60)
    return LoginThrottled(
        f"Too many log-in attempts. Please wait {minutes} minute{'s' if minutes > 1 else ''} and try again.",
        retry_after=retry_after,
    )


class AccountService:
    def __init__(
        self,
        users: UserRepository,
        sessions: SessionRepository,
        hasher: PasswordHasher,
        limiter: RateLimiter,
        uow: UnitOfWork,
        clock: Clock,
        policy: AccountPolicy,
    ) -> None:
        self.users = users
        self.sessions = sessions
        self.hasher = hasher
        self.limiter = limiter
        self.uow = uow
        self.clock = clock
        self.policy = policy
        self._dummy_hash: str | None = None

    async def sign_up(self, email: str, password: str, display_name: str = "", ip: str | None = None) -> User:
        """Create a viewer account. Raises InvalidEmail, WeakPassword or EmailTaken (nothing stored).

        With `ip` (a sign-up from the web), at most `signups_per_ip_per_hour` well-formed sign-ups per
        address are accepted per fixed hour window, counted in the shared limiter before anything is
        stored (so parallel requests cannot all slip past one check); past it SignupThrottled (429).
        """
        email = check_email(email)
        check_password(password)
        if ip is not None:
            allowance = await self.limiter.hit(f"signup:ip:{ip}", self.policy.signups_per_ip_per_hour, 3600)
            if not allowance.allowed:
                minutes = max(1, (allowance.retry_after + 59) // 60)
                raise SignupThrottled(
                    "Too many accounts were created from your network in the last hour. "
                    f"Please try again in {minutes} minute{'s' if minutes > 1 else ''}.",
                    retry_after=allowance.retry_after,
                )
        name = display_name.strip() or email.split("@", 1)[0]
        user = User(
            id=uuid7(),
            email=email,
            display_name=name[:80],
            password_hash=await self.hasher.hash(password),
            is_creator=False,
            is_staff=False,
            created_at=self.clock.now(),
        )
        async with self.uow.atomic():
            await self.users.add(user)
        return user

    async def log_in(self, email: str, password: str, ip: str, old_token: str | None = None) -> tuple[User, str]:
        """Check the password and open a new session, destroying the one the browser came with.

        Returns the user and the new session token. Raises LoginThrottled when this IP or this
        e-mail has made too many attempts, InvalidCredentials for a wrong e-mail or password.

        Each attempt is counted (atomically, in the shared limiter) *before* the slow password hash,
        so parallel guesses cannot all pass a check made before any of them was counted: at most
        `attempts_per_email` guesses per e-mail and `attempts_per_ip` per address are ever evaluated
        per window. A success forgets the e-mail's count. The window is fixed from its first attempt
        (refused attempts do not extend it), so an owner locked out by a stranger's guesses gets back
        in when it ends; password reset is not behind this limit.
        """
        policy = self.policy
        email_key = f"login:email:{normalize_email(email)}"
        by_ip = await self.limiter.hit(f"login:ip:{ip}", policy.attempts_per_ip, policy.window_seconds)
        if not by_ip.allowed:
            raise _throttled(by_ip.retry_after)
        by_email = await self.limiter.hit(email_key, policy.attempts_per_email, policy.window_seconds)
        if not by_email.allowed:
            raise _throttled(by_email.retry_after)
        user = await self.users.by_email(email)
        if user is None:
            await self.hasher.verify(await self._dummy(), password)  # same work either way
            raise InvalidCredentials()
        if not await self.hasher.verify(user.password_hash, password):
            raise InvalidCredentials()
        if user.suspended:
            raise AccountSuspended()
        await self.limiter.reset(email_key)
        token = await self._open_session(user, old_token)
        return user, token

    async def open_session(self, user: User, old_token: str | None = None) -> str:
        """A new session for a user who just proved who they are (e.g. right after sign-up)."""
        return await self._open_session(user, old_token)

    async def _open_session(self, user: User, old_token: str | None) -> str:
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        async with self.uow.atomic():
            if old_token:
                await self.sessions.delete(hash_token(old_token))
            await self.sessions.add(
                Session(hash_token(token), user.id, now, now + timedelta(seconds=self.policy.session_max_age))
            )
        return token

    async def log_out(self, token: str | None) -> None:
        """Destroy the session; the token is worthless afterwards."""
        if token:
            await self.sessions.delete(hash_token(token))

    async def principal_for_session(self, token: str) -> Principal | None:
        if not token or len(token) > 128:
            return None
        user = await self.sessions.user_for(hash_token(token), self.clock.now())
        return user.principal() if user and not user.suspended else None

    async def become_creator(self, user_id: UUID) -> User:
        """Turn a viewer into a creator (idempotent)."""
        async with self.uow.atomic():
            user = await self.users.get(user_id)
            if user is None:
                raise InvalidCredentials()
            if not user.is_creator:
                user = user.become_creator()
                await self.users.save(user)
        return user

    async def suspend(self, user_id: UUID, reason: str) -> User:
        """Suspend the account: every session ends now and log-in is refused (AccountSuspended) until
        `unsuspend`. Idempotent (a second call keeps the first time and reason). Raises UnknownAccount."""
        async with self.uow.atomic():
            user = await self.users.get(user_id)
            if user is None:
                raise UnknownAccount()
            if not user.suspended:
                user = replace(user, suspended_at=self.clock.now(), suspension_reason=reason[:2000])
                await self.users.save(user)
            await self.sessions.delete_for_user(user_id)
        return user

    async def unsuspend(self, user_id: UUID) -> User:
        """Lift a suspension: the person may log in again. Idempotent. Raises UnknownAccount."""
        async with self.uow.atomic():
            user = await self.users.get(user_id)
            if user is None:
                raise UnknownAccount()
            if user.suspended:
                user = replace(user, suspended_at=None, suspension_reason="")
                await self.users.save(user)
        return user

    async def set_staff(self, email: str, is_staff: bool) -> User:
        """Grant or take away the staff role of the account with this e-mail (idempotent); taking it
        away ends the person's sessions so no open page keeps staff powers. Raises UnknownAccount."""
        async with self.uow.atomic():
            user = await self.users.by_email(email)
            if user is None:
                raise UnknownAccount()
            if user.is_staff != is_staff:
                user = replace(user, is_staff=is_staff)
                await self.users.save(user)
                if not is_staff:
                    await self.sessions.delete_for_user(user.id)
        return user

    async def get_user(self, user_id: UUID) -> User | None:
        return await self.users.get(user_id)

    async def users_by_id(self, user_ids: list[UUID]) -> dict[UUID, User]:
        return await self.users.get_many(user_ids)

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self.hasher.hash(secrets.token_hex(16))
        return self._dummy_hash
