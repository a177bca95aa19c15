"""What payouts need from the outside: a payout vendor, and their own records.

Points themselves live in the ledger (features.ledger), reached only through LedgerService.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Protocol
from uuid import UUID

from features.payouts.model import EarningsEntry, Payee, Payout, PayoutNotice, PayoutState, VendorPayout
from features.payouts.sandbox_model import SandboxPayout


class PayoutGateway(Protocol):
    """A vendor that sends money to a creator's bank (sandbox, Stripe Connect, in memory).

    Every method may raise VendorUnavailable when the vendor cannot be reached (nothing was decided:
    ask again later with the same idempotency key)."""

    async def create_payout(
        self, idempotency_key: str, creator_id: UUID, amount_minor: int, currency: str
    ) -> VendorPayout:
        """Start sending `amount_minor` of `currency` to the creator. The same key starts one payout and
        returns it again (in whatever status it has reached). Raises PayoutRejected when the vendor
        refuses for good (e.g. no or an unknown destination account); nothing was sent then."""
        ...

    async def fetch_payout(self, ref: str) -> VendorPayout:
        """The payout as the vendor sees it now. Raises PayoutNotFound for an unknown ref."""
        ...

    async def parse_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> PayoutNotice:
        """Verify a webhook's signature and say which payout it is about; the status is read with
        `fetch_payout`, never from the body. Raises InvalidSignature (also for vendors that send none)."""
        ...

    async def return_funds(self, idempotency_key: str, ref: str) -> None:
        """After a FAILED payout, make sure its money is back with the platform before the points go
        back to the creator (Stripe: reverse the transfer to the connected account; vendors that keep
        the money on failure have nothing to do). Once per key."""
        ...


class PayoutRepository(Protocol):
    """Every payout with its state; unique per (creator, idempotency key)."""

    async def add(self, payout: Payout) -> Payout:
        """Store a new payout; if the creator already used the key, return the stored one instead."""
        ...

    async def get(self, payout_id: UUID, *, lock: bool = False) -> Payout | None:
        """One payout; `lock` holds it until the current transaction ends (one state change at a time)."""
        ...

    async def by_key(self, creator_id: UUID, idempotency_key: str) -> Payout | None: ...

    async def by_vendor_ref(self, ref: str) -> Payout | None: ...

    async def save(self, payout: Payout) -> None:
        """Write the payout's state, vendor ref, failure reason and timestamps."""
        ...

    async def for_creator(self, creator_id: UUID, limit: int = 1000) -> list[Payout]:
        """The creator's payouts, newest first."""
        ...

    async def stale(
        self, state: PayoutState, updated_before: datetime, limit: int = 100, *, paid_after: datetime | None = None
    ) -> list[Payout]:
        """Payouts left in `state` since before `updated_before`, oldest first (for the sweep); with
        `paid_after`, only those paid after it."""
        ...

    async def lock_creator(self, creator_id: UUID) -> None:
        """Serialize payout requests of one creator until the current transaction ends, so two requests
        at once never pay the same points twice."""
        ...


class PayeeRepository(Protocol):
    """Creators who receive payouts, and where the money goes."""

    async def get(self, creator_id: UUID) -> Payee | None: ...

    async def save(self, payee: Payee) -> None:
        """Create or update the creator's payee record."""
        ...

    async def page(self, after: UUID | None, limit: int) -> list[Payee]:
        """Payees ordered by creator id, those after `after` (for the monthly run)."""
        ...


class EarningsWindowStore(Protocol):
    """A copy of the recent entries of creators' earnings accounts — only what the hold needs — taken
    from the ledger's statement, so that availability reads a few rows instead of scanning a busy
    creator's week of sales on every page view."""

    async def newest(self, creator_id: UUID) -> int | None:
        """The id of the newest ledger entry copied for the creator, or None if none was."""
        ...

    async def add(self, creator_id: UUID, entries: list[EarningsEntry]) -> None:
        """Copy entries (known entry ids are skipped), all or nothing."""
        ...

    async def held(self, creator_id: UUID, after: datetime) -> list[EarningsEntry]:
        """The copied entries created after `after` that are not of payouts, summed per UTC day: each
        with the day's sum and the time of its latest entry, oldest day first."""
        ...

    async def prune(self, before: datetime) -> int:
        """Forget entries created before `before`; returns how many."""
        ...


class SandboxPayoutStore(Protocol):
    """The sandbox payout vendor's own records (its own tables: any process can answer for any payout)."""

    async def add(self, payout: SandboxPayout) -> tuple[SandboxPayout, bool]:
        """Store a new payout, or return the one stored under its idempotency key; True if new."""
        ...

    async def get(self, ref: str) -> SandboxPayout | None: ...

    async def mark_to_fail(self, ref: str, reason: str) -> None: ...

    async def settle(self, ref: str, status: str, now: datetime) -> None:
        """Record the payout as "paid" or "failed"."""
        ...

    async def due(self, now: datetime, limit: int = 100) -> list[SandboxPayout]:
        """Pending payouts whose settle time has come, oldest first."""
        ...

    async def recent(self, limit: int = 50) -> list[SandboxPayout]: ...

    async def arm_failures(self, count: int) -> int:
        """Make the next `count` new payouts fail (0 disarms); returns how many are armed now."""
        ...

    async def take_failure(self) -> bool:
        """Use up one armed failure, if any (in the current transaction)."""
        ...

    async def armed_failures(self) -> int: ...
