"""The ledger's language: accounts, transfers of points between them, the entries they leave, and
the rules every transfer obeys.

Double entry: a transfer is a list of legs; each leg moves a whole, positive number of points from a
source account to a destination account and leaves two entries (minus on the source, plus on the
destination), each recording the account's balance after it. So every transfer nets to zero, the
sum of all balances is zero, and every balance is the sum of its entries.

Wallets and earnings may not be debited below zero, except by a transfer that names them in
`allow_negative` (a refund or chargeback of points already spent). The database enforces the same
rule with a CHECK constraint on entries (see migrations/0300_ledger.sql).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from core.errors import Conflict, InvalidInput, PaymentRequired

# Stored for accounts that belong to no one (platform revenue, vendor clearing, payouts in transit).
NO_OWNER = UUID(int=0)


class AccountKind(StrEnum):
    WALLET = "wallet"  # a viewer's points, bought in packs and spent on unlocks and tips
    EARNINGS = "earnings"  # a creator's points earned, waiting to be paid out
    PLATFORM_REVENUE = "platform_revenue"  # the platform's fees
    VENDOR_CLEARING = "vendor_clearing"  # the other side of every purchase and refund with the payment vendor
    PAYOUTS_IN_TRANSIT = "payouts_in_transit"  # points paid out to creators, on their way to a bank
    GIFTS_PENDING = "gifts_pending"  # points a viewer gifted, held until the recipient claims them or they return

    @property
    def owned(self) -> bool:
        """Wallets and earnings belong to a user; the other accounts are the platform's."""
        return self in OWNED_KINDS

    @property
    def may_go_negative(self) -> bool:
        """Only the platform's accounts may go below zero on their own (vendor clearing always does)."""
        return self not in OWNED_KINDS


OWNED_KINDS = frozenset({AccountKind.WALLET, AccountKind.EARNINGS})

# Published on the owner's topic `user:<id>` in the transaction of every transfer that changes their
# wallet through the app (a pack credited or taken back, an unlock, a tip, a refund): the wallet's
# balance pill follows it live (features/wallet/live.py). The data says only the kind of transfer.
WALLET_CHANGED_EVENT = "wallet_changed"


def wallet_topic(user_id: UUID) -> str:
    return f"user:{user_id}"


# Platform revenue is kept in this many sub-accounts (shards), so fee legs of concurrent sales do not
# all queue for one row lock: a sale's fee goes to the shard its creator hashes to
# (`AccountRef.platform_revenue_for`), and the platform's revenue is their sum
# (`AccountRef.platform_revenue()` reads as the whole). Shard 0 is the original account (no owner);
# shard k is stored with owner UUID(int=k) (migrations/1940_platform_revenue_shards.sql).
PLATFORM_REVENUE_SHARDS = 64

_LABELS = {
    AccountKind.WALLET: "Wallet",
    AccountKind.EARNINGS: "Earnings",
    AccountKind.PLATFORM_REVENUE: "Platform revenue",
    AccountKind.VENDOR_CLEARING: "Payment vendor",
    AccountKind.PAYOUTS_IN_TRANSIT: "Payouts in transit",
    AccountKind.GIFTS_PENDING: "Gifts pending",
}


class InvalidTransfer(InvalidInput):
    message = "That transfer is not valid."


class InsufficientPoints(PaymentRequired):
    """A wallet or earnings account would go below zero; nothing was written."""

    def __init__(self, account: AccountRef, shortfall: int, message: str | None = None) -> None:
        noun = "point" if shortfall == 1 else "points"
        super().__init__(message or f"Not enough points: {shortfall} more {noun} needed.")
        self.account = account
        self.shortfall = shortfall


class IdempotencyConflict(Conflict):
    """The idempotency key was already used for a transfer of another kind or with other legs.

    Its message is the one a person may see (a click's key reused at once for another charge): it names
    neither the key nor its owner. A feature that posts under a click's key turns it into its own
    KeyReused; the key stays on the exception (`idempotency_key`) for logs."""

    message = "This request was already used for a different payment. Reload the page and try again."

    def __init__(self, idempotency_key: str) -> None:
        super().__init__(self.message)
        self.idempotency_key = idempotency_key


@dataclass(frozen=True)
class AccountRef:
    """Names an account by what it is: its kind and, for wallets and earnings, its owner."""

    kind: AccountKind
    owner_id: UUID | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.kind, AccountKind):
            try:
                object.__setattr__(self, "kind", AccountKind(self.kind))
            except ValueError as error:
                raise InvalidTransfer(f"Unknown account kind {self.kind!r}.") from error
        if self.kind.owned and self.owner_id is None:
            raise InvalidTransfer(f"A {self.kind} account needs an owner.")
        if not self.kind.owned and self.owner_id is not None and self.shard is None:
            raise InvalidTransfer(f"The {self.kind} account has no owner.")

    @classmethod
    def wallet(cls, user_id: UUID) -> AccountRef:
        return cls(AccountKind.WALLET, user_id)

    @classmethod
    def earnings(cls, user_id: UUID) -> AccountRef:
        return cls(AccountKind.EARNINGS, user_id)

    @classmethod
    def platform_revenue(cls, shard: int = 0) -> AccountRef:
        """The platform's revenue: shard 0 (the original account) when posted to, and the sum of every
        shard when its balance is read (LedgerRepository.balances)."""
        if not 0 <= shard < PLATFORM_REVENUE_SHARDS:
            raise InvalidTransfer(f"Platform revenue has no shard {shard}.")
        return cls(AccountKind.PLATFORM_REVENUE, UUID(int=shard) if shard else None)

    @classmethod
    def platform_revenue_for(cls, creator_id: UUID) -> AccountRef:
        """The platform revenue shard that takes the fees of this creator's sales: the sale already locks
        the creator's earnings, so fees of different creators no longer wait for one another."""
        return cls.platform_revenue(creator_id.int % PLATFORM_REVENUE_SHARDS)

    @property
    def shard(self) -> int | None:
        """For platform revenue, which of its shards (0 is the original account); None for other kinds."""
        if self.kind is not AccountKind.PLATFORM_REVENUE:
            return None
        if self.owner_id is None:
            return 0
        return self.owner_id.int if 0 < self.owner_id.int < PLATFORM_REVENUE_SHARDS else None

    @property
    def is_platform_revenue_total(self) -> bool:
        """`AccountRef.platform_revenue()`: read as the sum of every shard."""
        return self.kind is AccountKind.PLATFORM_REVENUE and self.owner_id is None

    @classmethod
    def vendor_clearing(cls) -> AccountRef:
        return cls(AccountKind.VENDOR_CLEARING)

    @classmethod
    def payouts_in_transit(cls) -> AccountRef:
        return cls(AccountKind.PAYOUTS_IN_TRANSIT)

    @classmethod
    def gifts_pending(cls) -> AccountRef:
        """Gifted points on their way: out of the sender's wallet, not yet in the recipient's (features/gifts)."""
        return cls(AccountKind.GIFTS_PENDING)

    @property
    def stored_owner(self) -> UUID:
        """The owner as stored: platform accounts use the nil UUID (it keeps the unique key simple)."""
        return self.owner_id or NO_OWNER

    @property
    def sort_key(self) -> tuple[str, str]:
        """(kind, owner): the one order in which every transfer locks its accounts, so two transfers never
        wait on each other in a circle (ledger_post_transfer() in the database locks in this order)."""
        return (self.kind.value, str(self.stored_owner))

    @property
    def label(self) -> str:
        """A short description for statements, e.g. "Wallet" or "Platform revenue"."""
        return _LABELS[self.kind]

    def __str__(self) -> str:
        return f"{self.kind}:{self.owner_id}" if self.owner_id else str(self.kind)

    @classmethod
    def stored(cls, kind: str, owner_id: UUID) -> AccountRef:
        """The account as read back from storage (the nil UUID means no owner)."""
        return cls(AccountKind(kind), None if owner_id == NO_OWNER else owner_id)


@dataclass(frozen=True)
class Leg:
    """Moves `amount` points (a positive integer) from `source` to `destination`."""

    source: AccountRef
    destination: AccountRef
    amount: int

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise InvalidTransfer("Points are whole numbers.")
        if self.amount <= 0:
            raise InvalidTransfer("A leg moves a positive number of points.")
        if self.amount > MAX_AMOUNT:
            raise InvalidTransfer("That amount is too large.")
        if self.source == self.destination:
            raise InvalidTransfer("A leg needs two different accounts.")


MAX_AMOUNT = 10**15  # far below bigint's limit, so sums of many legs cannot overflow
MAX_LEGS = 16
MAX_KEY_LENGTH = 200
TRANSFER_KINDS = frozenset(
    {"purchase", "unlock", "tip", "refund", "chargeback", "dispute_won", "payout", "reconcile", "moderation_refund"}
)


@dataclass(frozen=True)
class Transfer:
    """An immutable record of points moved: one or more legs committed together under one key."""

    id: UUID
    idempotency_key: str
    kind: str
    legs: tuple[Leg, ...]
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)
    created_at: datetime | None = field(default=None, compare=False)

    @property
    def accounts(self) -> list[AccountRef]:
        """Every account the transfer touches, once each, in locking order."""
        return sorted({a for leg in self.legs for a in (leg.source, leg.destination)}, key=lambda a: a.sort_key)

    def same_request_as(self, other: Transfer) -> bool:
        """A retry asks for the same kind of transfer with the same legs (metadata may differ)."""
        return self.kind == other.kind and self.legs == other.legs

    def net(self, account: AccountRef) -> int:
        """What the transfer does to one account's balance."""
        return sum(leg.amount for leg in self.legs if leg.destination == account) - sum(
            leg.amount for leg in self.legs if leg.source == account
        )


def check_transfer(idempotency_key: str, kind: str, legs: Sequence[Leg], metadata: Mapping[str, str]) -> None:
    """Raise InvalidTransfer unless the request is well formed."""
    if not idempotency_key or len(idempotency_key) > MAX_KEY_LENGTH:
        raise InvalidTransfer(f"An idempotency key is 1 to {MAX_KEY_LENGTH} characters.")
    if not kind or len(kind) > 40 or not kind.replace("_", "").isalnum():
        raise InvalidTransfer("A transfer kind is a short word, like 'purchase' or 'unlock'.")
    if not legs:
        raise InvalidTransfer("A transfer has at least one leg.")
    if len(legs) > MAX_LEGS:
        raise InvalidTransfer(f"A transfer has at most {MAX_LEGS} legs.")
    if not all(isinstance(leg, Leg) for leg in legs):
        raise InvalidTransfer("Legs must be Leg values.")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise InvalidTransfer("Metadata maps text to text.")


@dataclass(frozen=True)
class EntryDraft:
    """One side of one leg, as it will be written: the signed amount and the balance it leaves."""

    leg: int
    account: AccountRef
    counterparty: AccountRef
    amount: int
    balance_after: int
    overdraft_allowed: bool


def overdraws(account: AccountRef, amount: int, balance_after: int, overdraft_allowed: bool) -> bool:
    """The rule the database's CHECK constraint enforces on every entry: a wallet or earnings account
    may not be debited below zero unless the transfer allows it. (A credit to an account that is below
    zero is always fine: it is someone topping up.)"""
    return balance_after < 0 and amount < 0 and not overdraft_allowed and not account.kind.may_go_negative


def apply_legs(
    balances: Mapping[AccountRef, int], legs: Iterable[Leg], allow_negative: frozenset[AccountRef] = frozenset()
) -> list[EntryDraft]:
    """The entries the legs leave, applied in order to the given balances (missing accounts are at 0).

    Raises InsufficientPoints, naming the first account that would be overdrawn and by how much.
    """
    running = dict(balances)
    drafts: list[EntryDraft] = []
    for index, leg in enumerate(legs):
        after_source = running.get(leg.source, 0) - leg.amount
        allowed = leg.source in allow_negative
        if overdraws(leg.source, -leg.amount, after_source, allowed):
            raise InsufficientPoints(leg.source, -after_source)
        running[leg.source] = after_source
        running[leg.destination] = running.get(leg.destination, 0) + leg.amount
        drafts.append(EntryDraft(index, leg.source, leg.destination, -leg.amount, after_source, allowed))
        drafts.append(
            EntryDraft(
                index,
                leg.destination,
                leg.source,
                leg.amount,
                running[leg.destination],
                False,
            )
        )
    return drafts


@dataclass(frozen=True)
class Entry:
    """One line of an account's statement."""

    id: int
    transfer_id: UUID
    account: AccountRef
    counterparty: AccountRef
    amount: int  # signed: positive credits the account, negative debits it
    balance_after: int
    kind: str
    metadata: Mapping[str, str] = field(hash=False)
    created_at: datetime

    @property
    def memo(self) -> str:
        """What the transfer's metadata says about itself, if anything (e.g. a video title)."""
        return self.metadata.get("memo", "")

    @property
    def counterparty_label(self) -> str:
        return self.counterparty.label


@dataclass(frozen=True)
class StatementPage:
    """A page of entries, newest first; pass `next_before` as `before` for the next (older) page."""

    account: AccountRef
    balance: int
    entries: list[Entry]
    next_before: str | None


@dataclass(frozen=True)
class LedgerTotals:
    accounts: int
    transfers: int
