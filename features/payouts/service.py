"""Payout use cases: what a creator can be paid, requesting a payout (by hand or monthly), following it
at the vendor until it is paid or failed, and the statement.

Every state change is one transaction holding the payout row's lock: the ledger transfer of that step
(with an idempotency key derived from the payout id), the new state, and the "payout" event on the
creator's topic — {"state", "points", "amount_minor", "currency", "payout_id"} — which reaches
listeners only if the transaction commits. Vendor calls happen outside those transactions, with an
idempotency key per payout, so a retry never sends money twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

from core.amounts import matches_shown, parse_shown
from core.clock import Clock
from core.errors import DomainError
from core.events import EventBus
from core.ids import uuid7
from core.uow import UnitOfWork
from features.accounts.service import AccountService
from features.ledger.model import AccountRef, Leg, Transfer
from features.ledger.service import LedgerService
from features.payouts.model import (
    LEDGER_KIND,
    Availability,
    AvailableChanged,
    BelowMinimum,
    EarningsEntry,
    InvalidPayoutKey,
    KeyReused,
    Payee,
    PayeeNotReady,
    Payout,
    PayoutNotFound,
    PayoutPending,
    PayoutPolicy,
    PayoutRejected,
    PayoutsHeld,
    PayoutState,
    Trigger,
    VendorPayout,
    VendorStatus,
    VendorUnavailable,
    availability,
    check_connected_account,
    check_key,
)
from features.payouts.ports import EarningsWindowStore, PayeeRepository, PayoutGateway, PayoutRepository

log = logging.getLogger(__name__)

EVENT = "payout"
STATEMENT_PAGE = 200
FIRST_PAGE = 10
# Ledger entries are ordered by id, stamped by the clock of the process that posted them; copy a
# little more than the hold so clocks a little apart cannot hide an entry.
SCAN_SLACK = timedelta(hours=1)
WINDOW_KEEP = timedelta(days=1)  # the sweep forgets copied entries this much older than the hold
RESUBMIT_AFTER = timedelta(minutes=1)  # a REQUESTED payout the vendor never heard of
RECHECK_AFTER = timedelta(minutes=10)  # a PROCESSING payout whose webhook may have been lost
# A bank may return a payout days after the vendor reported it paid (Stripe: up to a few business days),
# and the vendor's news of it may be lost too: the sweep asks again about payouts paid within this window,
# once per PAID_RECHECK_AFTER each.
PAID_RETURN_WINDOW = timedelta(days=10)
PAID_RECHECK_AFTER = timedelta(days=1)
STEPS = ("request", "paid", "failed", "returned")


MONTHLY_KEY_PREFIX = "monthly:"  # the monthly run's keys name the month; no request may use one


def topic_for(creator_id: UUID) -> str:
    return f"user:{creator_id}"


@dataclass(frozen=True)
class RequestOutcome:
    payout: Payout
    replayed: bool  # the same request again: nothing new was moved


@dataclass(frozen=True)
class PayoutsOverview:
    availability: Availability
    payee: Payee
    payouts: list[Payout]
    policy: PayoutPolicy
    gateway: str


@dataclass(frozen=True)
class PayoutTrail:
    """A payout with the ledger transfers of its steps, in order."""

    payout: Payout
    transfers: list[tuple[str, Transfer]]


@dataclass(frozen=True)
class SweepReport:
    submitted: int
    rechecked: int
    changed: int


@dataclass(frozen=True)
class MonthlyReport:
    requested: int
    skipped: int
    failed: int


class PayoutService:
    def __init__(
        self,
        payouts: PayoutRepository,
        payees: PayeeRepository,
        window: EarningsWindowStore,
        gateway: PayoutGateway,
        ledger: LedgerService,
        bus: EventBus,
        uow: UnitOfWork,
        clock: Clock,
        policy: PayoutPolicy,
        gateway_name: str = "sandbox",
        accounts: AccountService | None = None,
    ) -> None:
        self.payouts = payouts
        self.payees = payees
        self.window = window
        self.gateway = gateway
        self.ledger = ledger
        self.bus = bus
        self.uow = uow
        self.clock = clock
        self.policy = policy
        self.gateway_name = gateway_name
        self.accounts = accounts

    # -- what can be paid ------------------------------------------------------------------------------

    async def availability(self, creator_id: UUID, payee: Payee | None = None) -> Availability:
        """The earnings balance split into available and on hold (with release dates), and whether a
        payout can be requested now (with the reason when not)."""
        payee = payee or await self.payees.get(creator_id)
        ready = not self.policy.needs_connected_account or bool(payee and payee.stripe_account_id)
        now = self.clock.now()
        balance = await self._sync_window(creator_id, now - self.policy.hold - SCAN_SLACK)
        held = await self.window.held(creator_id, now - self.policy.hold)
        return availability(balance, held, now, self.policy, ready=ready)

    async def _sync_window(self, creator_id: UUID, since: datetime) -> int:
        """Copy the earnings entries newer than those already copied (and than `since`) from the
        ledger's statement, newest first; return the balance as of the newest entry, so the balance
        and the copy come from the same reads."""
        account = AccountRef.earnings(creator_id)
        newest = await self.window.newest(creator_id) or 0
        before: str | None = None
        balance: int | None = None
        fresh: list[EarningsEntry] = []
        limit = FIRST_PAGE  # usually only a few entries are new since the last look
        while True:
            page = await self.ledger.statement(account, before=before, limit=limit)
            limit = STATEMENT_PAGE
            if balance is None:
                balance = page.entries[0].balance_after if page.entries else 0
            older = [e for e in page.entries if e.id <= newest or e.created_at <= since]
            fresh.extend(
                EarningsEntry(e.amount, e.created_at, e.kind, e.id)
                for e in page.entries
                if e.id > newest and e.created_at > since
            )
            if older or page.next_before is None:
                break
            before = page.next_before
        if fresh:
            async with self.uow.atomic():  # all or nothing: a copy never has a gap
                await self.window.add(creator_id, fresh)
        return balance

    async def overview(self, creator_id: UUID) -> PayoutsOverview:
        """Everything the payouts page shows. Enrolls the creator for the monthly run."""
        payee = await self._enroll(creator_id)
        return PayoutsOverview(
            availability=await self.availability(creator_id, payee),
            payee=payee,
            payouts=await self.payouts.for_creator(creator_id),
            policy=self.policy,
            gateway=self.gateway_name,
        )

    async def statement(self, creator_id: UUID) -> list[Payout]:
        """All the creator's payouts, newest first."""
        return await self.payouts.for_creator(creator_id)

    async def pending(self, creator_id: UUID) -> list[Payout]:
        """The creator's payouts still on their way (REQUESTED or PROCESSING), newest first."""
        return [p for p in await self.payouts.for_creator(creator_id) if not p.state.final]

    async def close_for_erasure(self, creator_id: UUID) -> None:
        """Prepare a creator's payouts for the deletion of their account, inside the caller's unit of
        work: take the creator's payout lock (held until that work commits, so no payout request can
        start meanwhile), raise PayoutPending while a payout is on its way (nothing changes), and
        forget the connected payout account."""
        async with self.uow.atomic():
            await self.payouts.lock_creator(creator_id)
            if await self.pending(creator_id):
                raise PayoutPending()
            payee = await self.payees.get(creator_id)
            if payee is not None and payee.stripe_account_id:
                await self.payees.save(replace(payee, stripe_account_id=""))

    async def payout_for(self, creator_id: UUID, payout_id: UUID) -> PayoutTrail:
        """One of the creator's payouts with its ledger transfers. Raises PayoutNotFound, also for
        another creator's payout."""
        payout = await self.payouts.get(payout_id)
        if payout is None or payout.creator_id != creator_id:
            raise PayoutNotFound()
        transfers = []
        for step in STEPS:
            transfer = await self.ledger.transfer_by_key(payout.ledger_key(step))
            if transfer is not None:
                transfers.append((step, transfer))
        return PayoutTrail(payout, transfers)

    async def set_stripe_account(self, creator_id: UUID, account_id: str) -> Payee:
        """Where Stripe Connect payouts go. Raises InvalidConnectedAccount for a malformed id."""
        account_id = check_connected_account(account_id)
        payee = await self._enroll(creator_id)
        payee = replace(payee, stripe_account_id=account_id)
        await self.payees.save(payee)
        return payee

    async def _enroll(self, creator_id: UUID) -> Payee:
        payee = await self.payees.get(creator_id)
        if payee is None:
            payee = Payee(creator_id, "", self.clock.now())
            await self.payees.save(payee)
        return payee

    # -- requesting ------------------------------------------------------------------------------------

    async def request_payout(
        self,
        creator_id: UUID,
        key: str,
        points: int | None = None,
        trigger: Trigger = Trigger.REQUEST,
        *,
        shown_all: tuple[str, str] | None = None,
    ) -> RequestOutcome:
        """Pay out `points` (None: everything available, in whole conversion steps) once per `key`.

        `shown_all` is "everything available" as the creator's page showed it — (points, the money
        they convert to, in minor units), as rendered: the payout is then exactly those points for
        exactly that money, or AvailableChanged (less is available now, the conversion changed, or
        the figures were not ours) and nothing moves. More available than shown still pays what was
        shown.

        Moves the points from earnings to payouts in transit (REQUESTED), then asks the vendor
        (PROCESSING; or FAILED with the points returned when the vendor refuses). If the vendor cannot
        be reached the payout stays REQUESTED and the sweep asks again. Requests of one creator run one
        at a time, so two at once never pay the same points twice. A retry with the same key returns
        the first payout (`replayed`); the same key with another amount raises KeyReused. Raises
        InvalidPayoutKey, InvalidPoints, BelowMinimum and PayeeNotReady; nothing is moved then.
        """
        key = check_key(key)
        if trigger is not Trigger.MONTHLY and key.lower().startswith(MONTHLY_KEY_PREFIX):
            raise InvalidPayoutKey()  # the monthly run's own keys: a request may not use up a month's
        prior = await self.payouts.by_key(creator_id, key)
        if prior is not None:
            return self._replay(prior, points, shown_all)
        await self._check_not_held(creator_id)
        async with self.uow.atomic():
            await self.payouts.lock_creator(creator_id)
            prior = await self.payouts.by_key(creator_id, key)
            if prior is not None:
                return self._replay(prior, points, shown_all)
            payee = await self._enroll(creator_id)
            available = await self.availability(creator_id, payee)
            if shown_all is not None:
                points = self._as_shown(shown_all, available.available)
            conversion = self.policy.check_amount(
                available.available if points is None else points, available.available
            )
            if self.policy.needs_connected_account and not payee.stripe_account_id:
                raise PayeeNotReady()
            now = self.clock.now()
            payout = Payout(
                id=uuid7(),
                creator_id=creator_id,
                idempotency_key=key,
                points=conversion.points,
                amount_minor=conversion.amount_minor,
                currency=self.policy.currency.upper(),
                state=PayoutState.REQUESTED,
                trigger=trigger,
                gateway=self.gateway_name,
                requested_at=now,
                updated_at=now,
            )
            stored = await self.payouts.add(payout)
            if stored.id != payout.id:
                return RequestOutcome(stored, True)
            await self._move(payout, "request", AccountRef.earnings(creator_id), AccountRef.payouts_in_transit())
            await self.bus.publish(topic_for(creator_id), EVENT, payout.event())
        return RequestOutcome(await self.submit(payout.id), False)

    def _replay(self, prior: Payout, points: int | None, shown_all: tuple[str, str] | None) -> RequestOutcome:
        """The first payout of a key sent again, if this is the same request: the same points (once
        converted to whole steps), or "everything available" (as it was when the key was first used).
        Another amount under a used key raises KeyReused: it is not the payout that was asked for."""
        if shown_all is not None:
            asked = parse_shown(shown_all[0])
        elif points is not None:
            asked = self.policy.convert(points).points
        else:
            asked = prior.points
        if asked != prior.points:
            raise KeyReused()
        return RequestOutcome(prior, True)

    def _as_shown(self, shown_all: tuple[str, str], available: int) -> int:
        """The points of a payout of "everything available" as shown; raises AvailableChanged unless
        they are still available and still convert to the money shown."""
        shown_points, shown_amount = shown_all
        points = parse_shown(shown_points)
        if points is None or points > available:
            raise AvailableChanged(self.policy.convert(available).points)
        conversion = self.policy.convert(points)
        if conversion.points != points or not matches_shown(shown_amount, conversion.amount_minor):
            raise AvailableChanged(self.policy.convert(available).points)
        return points

    async def submit(self, payout_id: UUID) -> Payout:
        """Hand a REQUESTED payout to the vendor (again: the vendor key is the payout's, so this is
        safe to repeat). Other states are returned unchanged."""
        payout = await self._get(payout_id)
        if payout.state is not PayoutState.REQUESTED:
            return payout
        try:
            vendor = await self.gateway.create_payout(
                f"payout:{payout.id}", payout.creator_id, payout.amount_minor, payout.currency
            )
        except VendorUnavailable:
            log.warning("payout vendor unavailable; payout %s stays REQUESTED", payout.id)
            return payout
        except PayoutRejected as error:
            return await self._fail(payout.id, error.message)
        try:
            return await self.apply(payout.id, vendor)
        except VendorUnavailable:  # failed at once, and its money cannot be reclaimed yet: the sweep retries
            log.warning("payout %s failed at the vendor; reclaiming its money is left to the sweep", payout.id)
            return await self._get(payout.id)

    # -- following the vendor --------------------------------------------------------------------------

    async def apply(self, payout_id: UUID, vendor: VendorPayout) -> Payout:
        """Bring the payout to what the vendor reports: PROCESSING once it has a ref, then PAID (the
        points leave for vendor clearing) or FAILED (the money comes back to the platform, then the
        points to the creator) — also a PAID payout the bank returned later (its points come back from
        vendor clearing). Repeating it changes nothing. Raises VendorUnavailable when a failed payout's
        money cannot be reclaimed yet (the payout stays as it was)."""
        async with self.uow.atomic():
            payout = await self._get(payout_id, lock=True)
            if payout.state is PayoutState.REQUESTED:
                payout = payout.moved_to(PayoutState.PROCESSING, self.clock.now(), vendor_ref=vendor.ref)
                await self.payouts.save(payout)
                await self.bus.publish(topic_for(payout.creator_id), EVENT, payout.event())
            if payout.vendor_ref != vendor.ref:
                return payout
            if payout.state is PayoutState.PAID and vendor.status is VendorStatus.FAILED:
                pass  # the bank returned it after it was paid: its money is reclaimed below, then the points
            elif payout.state is not PayoutState.PROCESSING:
                return payout
            elif vendor.status is VendorStatus.PAID:
                await self._move(payout, "paid", AccountRef.payouts_in_transit(), AccountRef.vendor_clearing())
                payout = payout.moved_to(PayoutState.PAID, self.clock.now())
                await self.payouts.save(payout)
                await self.bus.publish(topic_for(payout.creator_id), EVENT, payout.event())
                return payout
        if vendor.status is VendorStatus.FAILED:
            await self.gateway.return_funds(f"payout:{payout.id}:return", vendor.ref)
            return await self._fail(payout.id, vendor.failure_reason or "The payout service could not pay it.")
        return payout

    async def _fail(self, payout_id: UUID, reason: str) -> Payout:
        async with self.uow.atomic():
            payout = await self._get(payout_id, lock=True)
            if payout.state is PayoutState.FAILED:
                return payout
            earnings = AccountRef.earnings(payout.creator_id)
            if payout.state is PayoutState.PAID:  # returned by the bank: the points come back from the vendor
                await self._move(payout, "returned", AccountRef.vendor_clearing(), earnings)
            else:
                await self._move(payout, "failed", AccountRef.payouts_in_transit(), earnings)
            payout = payout.moved_to(PayoutState.FAILED, self.clock.now(), failure_reason=reason[:500])
            await self.payouts.save(payout)
            await self.bus.publish(topic_for(payout.creator_id), EVENT, payout.event())
            return payout

    async def refresh(self, payout_id: UUID) -> Payout:
        """Ask the vendor about a payout now (REQUESTED ones are submitted) and apply the answer — a PAID
        one too, which the bank may still return."""
        payout = await self._get(payout_id)
        if payout.state is PayoutState.REQUESTED:
            return await self.submit(payout_id)
        if payout.state not in (PayoutState.PROCESSING, PayoutState.PAID) or payout.vendor_ref is None:
            return payout
        vendor = await self.gateway.fetch_payout(payout.vendor_ref)
        changed = await self.apply(payout_id, vendor)
        if changed.state is payout.state:  # no news: the sweep asks again after its wait (updated_at)
            async with self.uow.atomic():
                current = await self._get(payout_id, lock=True)
                if current.state is payout.state:
                    changed = replace(current, updated_at=self.clock.now())
                    await self.payouts.save(changed)
        return changed

    async def refresh_by_ref(self, ref: str) -> Payout | None:
        """The vendor says something happened to `ref`: apply it (None if no payout has that ref)."""
        payout = await self.payouts.by_vendor_ref(ref)
        return None if payout is None else await self.refresh(payout.id)

    async def handle_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> str:
        """A vendor webhook: verify it, then read the payout from the vendor and apply it. Returns what
        happened ("ignored", "unknown" or the payout's state). Raises InvalidSignature and
        VendorUnavailable (the vendor retries the webhook)."""
        notice = await self.gateway.parse_webhook(raw_body, headers)
        if notice.ref is None:
            return "ignored"
        payout = await self.refresh_by_ref(notice.ref)
        return "unknown" if payout is None else payout.state.value

    async def sweep(self) -> SweepReport:
        """Catch up with the vendor: submit payouts stuck in REQUESTED, re-check PROCESSING ones whose
        news may have been lost, and PAID ones the bank may have returned since (within
        PAID_RETURN_WINDOW of their payment, once per PAID_RECHECK_AFTER). Each payout's trouble is
        logged and left for the next sweep."""
        now = self.clock.now()
        submitted = rechecked = changed = 0
        for payout in await self.payouts.stale(PayoutState.REQUESTED, now - RESUBMIT_AFTER):
            submitted += 1
            changed += (await self.submit(payout.id)).state is not PayoutState.REQUESTED
        for payout in await self.payouts.stale(PayoutState.PROCESSING, now - RECHECK_AFTER):
            rechecked += 1
            try:
                changed += (await self.refresh(payout.id)).state is not PayoutState.PROCESSING
            except DomainError as error:
                log.warning("could not re-check payout %s: %s", payout.id, error.message)
        paid_since = now - PAID_RETURN_WINDOW
        for payout in await self.payouts.stale(PayoutState.PAID, now - PAID_RECHECK_AFTER, paid_after=paid_since):
            rechecked += 1
            try:
                changed += (await self.refresh(payout.id)).state is not PayoutState.PAID
            except DomainError as error:
                log.warning("could not re-check paid payout %s: %s", payout.id, error.message)
        await self.window.prune(now - self.policy.hold - WINDOW_KEEP)
        return SweepReport(submitted, rechecked, changed)

    async def run_monthly(self, batch: int = 200) -> MonthlyReport:
        """Pay every enrolled creator whose available points reach the minimum, once per month (the key
        names the month, so a re-run in the same month pays no one twice)."""
        key = f"{MONTHLY_KEY_PREFIX}{self.clock.now():%Y-%m}"
        requested = skipped = failed = 0
        after: UUID | None = None
        while True:
            payees = await self.payees.page(after, batch)
            for payee in payees:
                try:
                    outcome = await self.request_payout(payee.creator_id, key, trigger=Trigger.MONTHLY)
                except (BelowMinimum, PayeeNotReady, PayoutsHeld):
                    skipped += 1
                except DomainError as error:
                    failed += 1
                    log.warning("monthly payout of %s failed: %s", payee.creator_id, error.message)
                else:
                    requested += not outcome.replayed
                    skipped += outcome.replayed
            if len(payees) < batch:
                return MonthlyReport(requested, skipped, failed)
            after = payees[-1].creator_id

    # -- helpers ---------------------------------------------------------------------------------------

    async def _check_not_held(self, creator_id: UUID) -> None:
        """Raises PayoutsHeld while the creator's account is suspended (moderation)."""
        if self.accounts is None:
            return
        user = await self.accounts.get_user(creator_id)
        if user is not None and user.suspended:
            raise PayoutsHeld()

    async def _get(self, payout_id: UUID, *, lock: bool = False) -> Payout:
        payout = await self.payouts.get(payout_id, lock=lock)
        if payout is None:
            raise PayoutNotFound()
        return payout

    async def _move(self, payout: Payout, step: str, source: AccountRef, destination: AccountRef) -> None:
        memo = {
            "request": "Payout requested",
            "paid": "Payout paid",
            "failed": "Payout failed, points returned",
            "returned": "Payout returned by the bank, points returned",
        }
        await self.ledger.transfer(
            payout.ledger_key(step),
            LEDGER_KIND,
            [Leg(source, destination, payout.points)],
            {"payout_id": str(payout.id), "creator_id": str(payout.creator_id), "step": step, "memo": memo[step]},
        )
