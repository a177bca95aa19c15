"""Wiring for accounts: ports to adapters, and what the composition root needs."""

from __future__ import annotations

from injector import Binder, Injector, InstanceProvider, Module, provider, singleton

from core.clock import Clock
from core.db import Database, tables_in
from core.di import bind_port
from core.events import EventBus
from core.feature import Feature
from core.identity import SessionLookup
from core.ratelimit import RateLimiter
from core.settings import Settings
from core.uow import UnitOfWork
from features.accounts import tables as accounts_tables
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
from features.accounts.demo import create_demo_accounts
from features.accounts.ports import AccountMailer, PasswordHasher, SessionRepository, TokenRepository, UserRepository
from features.accounts.service import AccountPolicy, AccountService, PrincipalCache


class _AccountServiceModule(Module):
    @singleton
    @provider
    def session_lookup(self, accounts: AccountService) -> SessionLookup:
        return accounts

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
        bind_port(binder, UserRepository, PiccoloUserRepository())
        bind_port(binder, PasswordHasher, Argon2PasswordHasher())

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
        bind_port(binder, UserRepository, users)
        bind_port(binder, SessionRepository, MemorySessionRepository(users))
        tokens = MemoryTokenRepository(users)
        binder.bind(MemoryTokenRepository, to=InstanceProvider(tokens))
        bind_port(binder, TokenRepository, tokens)
        # Cheap parameters: the same algorithm, fast enough for unit tests.
        bind_port(binder, PasswordHasher, Argon2PasswordHasher(time_cost=1, memory_cost=64))


async def watch_principal_changes(injector: Injector) -> None:
    """Sessions revoked in another process stop working here within one event delivery."""
    await injector.get(AccountService).watch_principal_changes()


FEATURE = Feature(
    name="accounts",
    module=AccountsModule,
    memory_module=MemoryAccountsModule,
    route_handlers=[AccountsController],
    tables=tables_in(accounts_tables),
    demo_data=[create_demo_accounts],
    on_startup=[watch_principal_changes],
)
