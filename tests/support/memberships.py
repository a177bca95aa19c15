"""Memberships for tests: the service on the real adapters with a clock the test moves."""

from __future__ import annotations

from datetime import timedelta

from injector import Injector

from core.clock import Clock
from core.di import get_port
from core.events import EventBus
from core.uow import UnitOfWork
from features.accounts.service import AccountService
from features.ledger.service import LedgerService
from features.memberships.ports import MembershipRepository, TierRepository
from features.memberships.service import MembershipPolicy, MembershipService
from features.studio.service import StudioService


def service_at(injector: Injector, clock: Clock, *, grace_days: int = 3) -> MembershipService:
    """The injector's adapters with `clock` (the app's own service runs on the system clock): a renewal
    run "a month later" is this service's `run_renewals()` with the clock moved."""
    return MembershipService(
        get_port(injector, TierRepository),
        get_port(injector, MembershipRepository),
        injector.get(StudioService),
        injector.get(AccountService),
        injector.get(LedgerService),
        get_port(injector, EventBus),
        get_port(injector, UnitOfWork),
        clock,
        MembershipPolicy(fee_percent=10, grace=timedelta(days=grace_days), reminder=timedelta(days=3)),
    )
