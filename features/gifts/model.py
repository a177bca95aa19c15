"""Gift points: a viewer sends points to another person by e-mail address.

The points leave the sender's wallet at once, into the platform's held account `gifts_pending` (so the
sender cannot spend them twice and `hypha ledger verify` balances at every moment). The recipient is
mailed a link; the points land in their wallet the first time they log in (or confirm their address)
with that address *confirmed* — an unconfirmed address proves nothing, or anyone could sign up with
someone else's e-mail and take their gifts. A gift nobody claims within the return period goes back
to the sender's wallet, and the sender is told. A gift settles once: claimed or returned, never both
(one ledger idempotency key per gift, `gift-settle:<id>`, decided under the gift's row lock).

Account deletion: a deleted recipient's pending gifts go back to their senders at once, and their address
is erased from every gift sent to it (claimed ones too). A deleted sender's messages are erased; their
pending gifts stay claimable until the return date (they were given and announced), and are then
forfeited to the platform, there being no wallet to return them to. Addresses never enter the ledger.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from core.errors import Conflict, InvalidInput, TooManyRequests
from core.numbers import InvalidNumber, parse_whole
from features.accounts.model import InvalidEmail, check_email, normalize_email

MAX_MESSAGE = 280
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

SEND_KIND = "gift_sent"
CLAIM_KIND = "gift_received"
RETURN_KIND = "gift_returned"
FORFEIT_KIND = "gift_forfeited"  # unclaimed, and its sender's account was closed: to the platform
ERASED_ADDRESS = "(address erased)"  # a deleted recipient's address, on the gifts sent to it


class GiftState(StrEnum):
    PENDING = "pending"  # the points wait in gifts_pending for the recipient
    CLAIMED = "claimed"  # in the recipient's wallet
    RETURNED = "returned"  # back in the sender's wallet, unclaimed

    @property
    def label(self) -> str:
        return {"pending": "Waiting for the recipient", "claimed": "Received", "returned": "Returned to you"}[self]


@dataclass(frozen=True)
class GiftPolicy:
    """GIFT_MIN_POINTS, GIFT_MAX_POINTS, GIFT_RETURN_DAYS and GIFTS_PER_SENDER_PER_DAY."""

    min_points: int = 10
    max_points: int = 10_000
    return_after: timedelta = timedelta(days=30)
    per_sender_per_day: int = 20


@dataclass(frozen=True)
class Gift:
    id: UUID
    sender_id: UUID
    idempotency_key: str
    recipient_email: str  # normalized
    amount: int
    message: str
    state: GiftState
    created_at: datetime
    expires_at: datetime
    send_transfer_id: UUID
    settled_at: datetime | None = None
    settle_transfer_id: UUID | None = None
    claimed_by: UUID | None = None
    mailed_at: datetime | None = None

    @property
    def pending(self) -> bool:
        return self.state is GiftState.PENDING


@dataclass(frozen=True)
class GiftOrder:
    """A checked send form: the amount, the recipient's normalized address and the cleaned message."""

    amount: int
    recipient_email: str
    message: str


# -- errors -----------------------------------------------------------------------------------------------


class InvalidGift(InvalidInput):
    """The send form did not validate; `errors` maps field names to messages (nothing happened)."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = dict(errors)


class GiftYourself(InvalidGift):
    def __init__(self) -> None:
        super().__init__({"email": "That is your own address: send a gift to someone else."})


class GiftsThrottled(TooManyRequests):
    message = "You have sent as many gifts as you may today. Please try again tomorrow."


class GiftKeyReused(Conflict):
    message = "This form was already used for another gift. Reload the page and try again."


# -- rules ------------------------------------------------------------------------------------------------


def check_key(key: str) -> str:
    if not KEY_PATTERN.fullmatch(key or ""):
        raise InvalidGift({"form": "This form has expired. Reload the page and try again."})
    return key


def check_order(amount: str, email: str, message: str, policy: GiftPolicy) -> GiftOrder:
    """The gift the form describes; raises InvalidGift with a message per field."""
    errors: dict[str, str] = {}
    value = 0
    try:
        value = parse_whole(amount.strip(), name="The amount", grouping=True, maximum=10**9)
    except InvalidNumber:
        errors["amount"] = f"Enter a whole number of points from {policy.min_points:,} to {policy.max_points:,}."
    else:
        if not policy.min_points <= value <= policy.max_points:
            errors["amount"] = f"Enter a whole number of points from {policy.min_points:,} to {policy.max_points:,}."
    try:
        address = normalize_email(check_email(email))
    except InvalidEmail as error:
        errors["email"] = error.message
        address = ""
    cleaned = _CONTROL.sub("", message).strip()
    if len(cleaned) > MAX_MESSAGE:
        errors["message"] = f"Keep the message to {MAX_MESSAGE} characters or fewer."
    if errors:
        raise InvalidGift(errors)
    return GiftOrder(value, address, cleaned)


def same_order(gift: Gift, order: GiftOrder) -> bool:
    """Whether a retried form (same idempotency key) asks for the very gift already sent."""
    return (gift.amount, gift.recipient_email, gift.message) == (order.amount, order.recipient_email, order.message)


def settle_key(gift_id: UUID) -> str:
    """The one ledger key of a gift's settlement, claim or return: it can happen only once."""
    return f"gift-settle:{gift_id}"
