"""Wallet use cases: buy a pack through the payment vendor, turn the vendor's webhooks into ledger
transfers exactly once, and reconcile the vendor's payments with the ledger.

One rule drives every path (webhook, reconciliation): re-read the payment from the vendor, then make
sure the transfers its state calls for exist (`model.ledger_plan`). The ledger's idempotency keys
make that safe to repeat; a per-payment lock keeps two deliveries from racing each other.

A dispute is the one state that goes back: the bank takes the money (a chargeback), then the merchant
may win and get it back. A won dispute gives the viewer back what its chargeback took — only if it was
taken, exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

from core.amounts import matches_shown
from core.clock import Clock
from core.errors import InvalidInput
from core.events import EventBus
from core.ids import uuid7
from core.uow import UnitOfWork
from features.ledger.model import WALLET_CHANGED_EVENT, AccountRef, Entry, Leg, StatementPage, Transfer, wallet_topic
from features.ledger.service import LedgerService
from features.wallet.model import (
    Finding,
    FindingKind,
    Pack,
    PackCatalog,
    PackChanged,
    PaymentNotFound,
    PaymentStatus,
    PlannedTransfer,
    Purchase,
    PurchaseNotFound,
    ReconciliationRun,
    ReversalKind,
    VendorPayment,
    VendorRefund,
    VendorUnavailable,
    WebhookOutcome,
    ledger_plan,
    purchase_key,
    purchase_metadata,
    shows_pack_price,
)
from features.wallet.ports import PaymentGateway, PurchaseRepository, ReconciliationRepository, WebhookInbox

log = logging.getLogger(__name__)

MAX_KEY = 100


@dataclass(frozen=True)
class PurchaseProgress:
    """What the payer sees after the vendor sends them back: has the pack landed yet?"""

    purchase: Purchase
    credited: bool
    balance: int


@dataclass
class Convergence:
    """What applying one payment's state did."""

    outcome: WebhookOutcome
    purchase: Purchase | None = None
    created: list[PlannedTransfer] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)
    status_set: bool = False  # the purchase's status was changed to the payment's


class WalletService:
    def __init__(
        self,
        catalog: PackCatalog,
        gateway: PaymentGateway,
        vendor: str,
        purchases: PurchaseRepository,
        inbox: WebhookInbox,
        runs: ReconciliationRepository,
        ledger: LedgerService,
        uow: UnitOfWork,
        clock: Clock,
        bus: EventBus,
    ) -> None:
        self.catalog = catalog
        self.gateway = gateway
        self.vendor = vendor
        self.purchases = purchases
        self.inbox = inbox
        self.runs = runs
        self.ledger = ledger
        self.uow = uow
        self.clock = clock
        self.bus = bus

    # --- reading the wallet ---------------------------------------------------------------------

    def packs(self) -> tuple[Pack, ...]:
        return self.catalog.packs

    async def balance(self, user_id: UUID) -> int:
        """The user's points (negative only after a refund or chargeback of points already spent)."""
        return await self.ledger.balance(AccountRef.wallet(user_id))

    async def is_locked(self, user_id: UUID) -> bool:
        """True while a refund or chargeback keeps the wallet below zero: it cannot unlock until topped up."""
        return await self.ledger.is_negative(AccountRef.wallet(user_id))

    async def statement(self, user_id: UUID, before: str | None = None, limit: int = 20) -> StatementPage:
        """A page of the wallet's entries, newest first; raises InvalidTransfer for a bad cursor."""
        return await self.ledger.statement(AccountRef.wallet(user_id), before=before, limit=limit)

    async def all_entries(self, user_id: UUID, page_size: int = 200) -> AsyncIterator[Entry]:
        """Every entry of the wallet, newest first, read page by page (for the CSV export)."""
        before: str | None = None
        while True:
            page = await self.ledger.statement(AccountRef.wallet(user_id), before=before, limit=page_size)
            for entry in page.entries:
                yield entry
            if page.next_before is None:
                return
            before = page.next_before

    async def purchases_of(self, user_id: UUID) -> list[Purchase]:
        """Every pack purchase the user started (paid or not), oldest first (their data export)."""
        return await self.purchases.of_user(user_id)

    # --- buying a pack ----------------------------------------------------------------------------

    async def start_purchase(
        self,
        user_id: UUID,
        pack_id: str,
        idempotency_key: str,
        shown_price: str | int,
        shown_currency: str,
        return_path: str = "",
    ) -> Purchase:
        """Open the vendor's checkout for a pack at the price its buy button showed (`shown_price` minor
        units of `shown_currency`): the checkout asks the payer for exactly that, or is not opened.

        The same key (a double click, a retried request) returns the same checkout, even if the packs
        changed since. `return_path` (a same-site path the caller has checked, e.g. the video the payer
        wants to unlock) is where the return page leads once the points landed. Raises UnknownPack,
        PackChanged (the pack's price is not what was shown: nothing opened), InvalidInput or
        VendorUnavailable."""
        if not idempotency_key or len(idempotency_key) > MAX_KEY:
            raise InvalidInput("This buy button has expired. Reload the page and try again.")
        earlier = await self.purchases.by_key(user_id, idempotency_key)
        if earlier is not None:
            same_click = earlier.pack_id == pack_id and matches_shown(shown_price, earlier.amount_minor)
            if not same_click or shown_currency != earlier.currency:
                raise InvalidInput("This buy button was already used for another pack. Reload the page.")
            return earlier
        pack = self.catalog.get(pack_id)
        if not shows_pack_price(pack, shown_price, shown_currency):
            raise PackChanged(pack)
        checkout = await self.gateway.create_checkout(f"checkout:{user_id}:{idempotency_key}", pack, user_id)
        now = self.clock.now()
        return await self.purchases.add(
            Purchase(
                payment_ref=checkout.payment_ref,
                user_id=user_id,
                pack_id=pack.id,
                points=pack.points,
                amount_minor=pack.price_minor,
                currency=pack.currency,
                idempotency_key=idempotency_key,
                checkout_url=checkout.url,
                status=PaymentStatus.PENDING,
                created_at=now,
                updated_at=now,
                return_path=return_path,
            )
        )

    async def progress(self, user_id: UUID, payment_ref: str) -> PurchaseProgress:
        """The payer's own purchase and whether its points have landed. Another user's payment (or an
        unknown one) raises PurchaseNotFound."""
        purchase = await self.purchases.get(payment_ref)
        if purchase is None or purchase.user_id != user_id:
            raise PurchaseNotFound()
        credited = await self.ledger.transfer_by_key(purchase_key(payment_ref)) is not None
        return PurchaseProgress(purchase, credited, await self.balance(user_id))

    async def refund(self, payment_ref: str, idempotency_key: str, amount_minor: int | None = None) -> VendorRefund:
        """Ask the vendor to refund (part of) a payment. The points come back out of the wallet when the
        vendor confirms (its webhook, or the next reconciliation)."""
        return await self.gateway.refund(idempotency_key, payment_ref, amount_minor)

    # --- webhooks -----------------------------------------------------------------------------------

    async def handle_webhook(self, raw_body: bytes, headers: Mapping[str, str]) -> WebhookOutcome:
        """Verify a vendor webhook and apply the payment's *current* state, exactly once per event.

        Recording the event in the inbox and every ledger transfer it causes commit together. A replay
        (same event id) or a late, out-of-order event changes nothing that is not already true. When it
        applied a chargeback or changed the purchase's status, the payment is read once more after the
        commit: a win that overtook this delivery gives the points back at once, and a delivery that read
        the vendor before a later change (a refund) and committed after it does not leave the purchase
        showing the older status. Raises InvalidSignature (nothing written) and
        VendorUnavailable (nothing written; the vendor retries)."""
        event = await self.gateway.parse_webhook(raw_body, headers)
        if await self.inbox.seen(self.vendor, event.id):
            return WebhookOutcome.DUPLICATE
        payment: VendorPayment | None = None
        if event.payment_ref:
            try:
                payment = await self.gateway.fetch_payment(event.payment_ref)
            except PaymentNotFound:
                payment = None
        result: Convergence | None = None
        async with self.uow.atomic():
            if payment is not None:
                await self.purchases.lock_payment(payment.ref)
            if not await self.inbox.record(self.vendor, event, self.clock.now()):
                return WebhookOutcome.DUPLICATE
            result = await self._converge(payment) if payment is not None else None
            outcome = result.outcome if result is not None else WebhookOutcome.IGNORED
            await self.inbox.set_outcome(self.vendor, event.id, outcome.value)
        log.info("webhook %s (%s) for %s: %s", event.id, event.type, event.payment_ref, outcome.value)
        if result is not None:
            await self._recheck(result)
        return outcome

    async def _recheck(self, result: Convergence) -> Convergence | None:
        """After a delivery applied a read made before the lock: if the payment changed meanwhile and that
        change's webhook already came and went, the ledger and the status must follow it now, not at the
        next reconciliation — a dispute won (the chargeback's points come back), a refund (the purchase
        shows refunded, not the "paid" of the older read). Re-reading after the commit closes that gap.
        Returns what the re-read changed (None when this delivery applied no chargeback and changed no
        status, or the vendor is away)."""
        chargeback = any(p.kind == ReversalKind.CHARGEBACK for p in result.created)
        if result.purchase is None or not (chargeback or result.status_set):
            return None
        try:
            return await self.sync_payment(result.purchase.payment_ref)
        except (VendorUnavailable, PaymentNotFound):
            ref = result.purchase.payment_ref
            log.warning("could not re-read %s after applying it; reconciliation will catch up", ref)
            return None

    async def sync_payment(self, payment_ref: str) -> Convergence:
        """Re-read one payment from the vendor and bring the ledger in line with it."""
        payment = await self.gateway.fetch_payment(payment_ref)
        async with self.uow.atomic():
            await self.purchases.lock_payment(payment.ref)
            return await self._converge(payment)

    async def _converge(self, payment: VendorPayment) -> Convergence:
        """Make the ledger say what the vendor says about this payment (call with the payment locked)."""
        purchase = await self.purchases.get(payment.ref)
        if purchase is None:
            adopted = self._adopt(payment)
            if adopted is None:
                detail = "The vendor's payment names no user and pack of ours."
                finding = Finding(FindingKind.UNKNOWN_PAYMENT, payment.ref, detail, amount_minor=payment.amount_minor)
                return Convergence(WebhookOutcome.UNKNOWN_PAYMENT, problems=[finding])
            purchase = await self.purchases.add(adopted)
        result = Convergence(WebhookOutcome.APPLIED, purchase)
        if payment.status.collected and not purchase.matches(payment):
            detail = (
                f"The vendor collected {payment.amount_minor} {payment.currency.upper()} but the pack costs "
                f"{purchase.amount_minor} {purchase.currency}; no points were credited."
            )
            result.outcome = WebhookOutcome.AMOUNT_MISMATCH
            result.problems.append(
                Finding(FindingKind.AMOUNT_MISMATCH, payment.ref, detail, amount_minor=payment.amount_minor)
            )
        else:
            wallet = AccountRef.wallet(purchase.user_id)
            for planned in ledger_plan(payment, purchase.points):
                if planned.restores:
                    # A won dispute: nothing to give back unless its chargeback was applied — and then
                    # exactly what it took.
                    undone = await self.ledger.transfer_by_key(planned.restores)
                    if undone is None:
                        continue
                    planned = replace(planned, points=abs(undone.net(wallet)))
                existing = await self.ledger.transfer_by_key(planned.key)
                if existing is None:
                    await self._post(purchase, planned)
                    result.created.append(planned)
                elif abs(existing.net(wallet)) != planned.points:
                    detail = f"The ledger moved {abs(existing.net(wallet))} points "
                    detail += f"for {planned.key}, the payment calls for {planned.points}."
                    result.problems.append(Finding(FindingKind.AMOUNT_MISMATCH, payment.ref, detail))
        if purchase.status is not payment.status:
            await self.purchases.set_status(payment.ref, payment.status, self.clock.now())
            result.status_set = True
        return result

    def _adopt(self, payment: VendorPayment) -> Purchase | None:
        """A payment the vendor knows but we have no checkout row for (it was lost, or made elsewhere):
        take the user and pack from the metadata our checkout gave the vendor."""
        pack = self.catalog.find(payment.pack_id or "")
        if payment.user_id is None or pack is None:
            return None
        return Purchase(
            payment_ref=payment.ref,
            user_id=payment.user_id,
            pack_id=pack.id,
            points=pack.points,
            amount_minor=pack.price_minor,
            currency=pack.currency,
            idempotency_key=f"vendor:{payment.ref}",
            checkout_url="",
            status=PaymentStatus.PENDING,
            created_at=payment.created_at,
            updated_at=self.clock.now(),
        )

    async def _post(self, purchase: Purchase, planned: PlannedTransfer) -> Transfer:
        """Post one planned transfer and tell the buyer's open pages (their balance pill), in the same
        transaction."""
        transfer = await self._transfer(purchase, planned)
        await self.bus.publish(wallet_topic(purchase.user_id), WALLET_CHANGED_EVENT, {"kind": planned.kind})
        return transfer

    async def _transfer(self, purchase: Purchase, planned: PlannedTransfer) -> Transfer:
        wallet = AccountRef.wallet(purchase.user_id)
        clearing = AccountRef.vendor_clearing()
        metadata = purchase_metadata(purchase)
        if planned.credit:
            if planned.reversal_id:  # a won dispute gives back what its chargeback took
                metadata = {**metadata, "reversal": planned.reversal_id, "restores": planned.restores}
            return await self.ledger.transfer(
                planned.key, planned.kind, [Leg(clearing, wallet, planned.points)], metadata
            )
        # A refund or chargeback takes the points back even if they were spent: the wallet may go
        # below zero here (and only here), which locks it until topped up.
        return await self.ledger.transfer(
            planned.key,
            planned.kind,
            [Leg(wallet, clearing, planned.points)],
            {**metadata, "reversal": planned.reversal_id},
            allow_negative=frozenset({wallet}),
        )

    # --- reconciliation -----------------------------------------------------------------------------

    async def reconcile(self, since: datetime, until: datetime) -> ReconciliationRun:
        """Compare the vendor's payments created in [since, until) with the ledger, and store the run.

        Heals what can be healed without judgement — a collected payment with no credit, a refund or
        chargeback with no correcting transfer, a won dispute whose chargeback was applied but never
        given back — idempotently, and reports it. Reports amount mismatches, payments it cannot
        attribute, and orphans (a ledger credit whose vendor payment is missing or was never
        collected). Raises VendorUnavailable (nothing stored)."""
        if until <= since:
            raise InvalidInput("The end of the period must be after its start.")
        started = self.clock.now()
        payments = await self.gateway.list_payments(since, until)
        listed = {p.ref: p for p in payments}
        findings: list[Finding] = []
        for payment in payments:
            if payment.status.collected:
                findings.extend(await self._reconcile_payment(payment))
        purchases = await self.purchases.created_between(since, until)
        for purchase in purchases:
            seen = listed.get(purchase.payment_ref)
            if seen is not None and seen.status.collected:
                continue
            findings.extend(await self._check_credit(purchase))
        run = ReconciliationRun(
            id=uuid7(),
            since=since,
            until=until,
            started_at=started,
            finished_at=self.clock.now(),
            payments_checked=len(payments),
            purchases_checked=len(purchases),
            findings=tuple(findings),
        )
        await self.runs.save(run)
        log.info(
            "reconciliation %s..%s: %d payments, %d purchases, %d findings (%d healed)",
            since,
            until,
            run.payments_checked,
            run.purchases_checked,
            len(run.findings),
            run.healed,
        )
        return run

    async def _check_credit(self, purchase: Purchase) -> list[Finding]:
        """A purchase the vendor's list shows as not collected (or not at all): a ledger credit for it
        is an orphan — unless the vendor, asked directly, says it was collected after all."""
        if await self.ledger.transfer_by_key(purchase_key(purchase.payment_ref)) is None:
            return []
        payment: VendorPayment | None
        try:
            payment = await self.gateway.fetch_payment(purchase.payment_ref)
        except PaymentNotFound:
            payment = None
        if payment is not None and payment.status.collected:
            return await self._reconcile_payment(payment)
        state = "has no such payment" if payment is None else f"says the payment is {payment.status.value}"
        return [
            Finding(
                FindingKind.ORPHAN_CREDIT,
                purchase.payment_ref,
                f"The ledger credited {purchase.points} points but the vendor {state}.",
                points=purchase.points,
                amount_minor=purchase.amount_minor,
            )
        ]

    async def _reconcile_payment(self, payment: VendorPayment) -> list[Finding]:
        async with self.uow.atomic():
            await self.purchases.lock_payment(payment.ref)
            result = await self._converge(payment)
        recheck = await self._recheck(result)  # the listing may be older than a win or a refund
        findings = list(result.problems)
        for planned in result.created + (recheck.created if recheck else []):
            if planned.restores:
                kind = FindingKind.MISSING_REINSTATEMENT
                detail = f"A dispute won at the vendor was never applied: gave back {planned.points} points now."
            elif planned.credit:
                kind = FindingKind.MISSING_CREDIT
                detail = f"Paid at the vendor but never credited: credited {planned.points} points now."
            else:
                kind = FindingKind.MISSING_REVERSAL
                detail = f"A {planned.kind} at the vendor was never applied: took back {planned.points} points now."
            findings.append(
                Finding(
                    kind,
                    payment.ref,
                    detail,
                    healed=True,
                    points=planned.points,
                    amount_minor=payment.amount_minor,
                )
            )
        return findings

    async def reconciliation_runs(self, limit: int = 20) -> list[ReconciliationRun]:
        return await self.runs.recent(limit)
