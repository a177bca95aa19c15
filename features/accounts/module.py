"""Wiring for accounts: ports to adapters, and what the composition root needs."""

from __future__ import annotations

from injector import Binder, Injector, InstanceProvider, Module, provider, singleton

from core.clock import Clock
from core.db import Database
from core.events import EventBus
from core.feature import Feature
from core.ratelimit import RateLimiter
from core.settings import Settings
from core.uow import UnitOfWork
from features.accounts.adapters import (
    Argon2PasswordHasher,
    MemorySessionRepository,
    MemoryTokenRepository,
    MemoryUserRepository,
    PiccoloUserRepository,
    PostgresSessionRepository,
    PostgresTokenRepository,
)
from features.accounts.controller import AccountsController
from features.accounts.ports import AccountMailer, PasswordHasher, SessionRepository, TokenRepository, UserRepository
from features.accounts.service import AccountPolicy, AccountService, PrincipalCache


class _AccountServiceModule(Module):
    @singleton
    @provider
    def account_service(
        self,
        users: UserRepository,
        sessions: SessionRepository,
        hasher: PasswordHasher,
        limiter: RateLimiter,
        uow: UnitOfWork,
        clock: Clock,
        settings: Settings,
        tokens: TokenRepository,
        mailer: AccountMailer,
        bus: EventBus,
    ) -> AccountService:
        policy = AccountPolicy(
            session_max_age=settings.session_max_age,
            attempts_per_ip=settings.login_attempts_per_ip,
            attempts_per_email=settings.login_attempts_per_email,
            window_seconds=settings.login_window_seconds,
            base_url=settings.public_url,
            verify_link_hours=settings.email_verification_hours,
            reset_link_minutes=settings.password_reset_minutes,
            signups_per_ip_per_hour=settings.signups_per_ip_per_hour,
        )
        principals = PrincipalCache(settings.session_cache_seconds)
        return AccountService(
            users, sessions, hasher, limiter, uow, clock, policy, tokens, mailer, bus=bus, principals=principals
        )


class AccountsModule(_AccountServiceModule):
    def configure(self, binder: Binder) -> None:
        binder.bind(UserRepository, to=InstanceProvider(PiccoloUserRepository()))  # type: ignore[type-abstract]
        binder.bind(PasswordHasher, to=InstanceProvider(Argon2PasswordHasher()))  # type: ignore[type-abstract]

    @singleton
    @provider
    def sessions(self, db: Database) -> SessionRepository:
        return PostgresSessionRepository(db)

    @singleton
    @provider
    def tokens(self, db: Database) -> TokenRepository:
        return PostgresTokenRepository(db)


class MemoryAccountsModule(_AccountServiceModule):
    def configure(self, binder: Binder) -> None:
        users = MemoryUserRepository()
        binder.bind(MemoryUserRepository, to=InstanceProvider(users))
        binder.bind(UserRepository, to=InstanceProvider(users))  # type: ignore[type-abstract]
        binder.bind(SessionRepository, to=InstanceProvider(MemorySessionRepository(users)))  # type: ignore[type-abstract]
        tokens = MemoryTokenRepository(users)
        binder.bind(MemoryTokenRepository, to=InstanceProvider(tokens))
        binder.bind(TokenRepository, to=InstanceProvider(tokens))  # type: ignore[type-abstract]
        # Cheap parameters: the same algorithm, fast enough for unit tests.
        binder.bind(PasswordHasher, to=InstanceProvider(Argon2PasswordHasher(time_cost=1, memory_cost=64)))  # type: ignore[type-abstract]


async def watch_principal_changes(injector: Injector) -> None:
    """Sessions revoked in another process stop working here within one event delivery."""
    await injector.get(AccountService).watch_principal_changes()


FEATURE = Feature(
    name="accounts",
    module=AccountsModule,
    memory_module=MemoryAccountsModule,
    route_handlers=[AccountsController],
    on_startup=[watch_principal_changes],
)
