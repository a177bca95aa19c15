"""Gift use cases: send points to an e-mail address, claim them with that address confirmed, return the
unclaimed ones (see model.py for the rules).

Sending, in one transaction: the ledger transfer sender's wallet → gifts pending (refused, nothing
written, when the wallet is short), the gift under the sender's idempotency key (a retried form sends
nothing twice), and the sender's "wallet_changed". The recipient's mail goes out after the commit (a
gift that did not commit is never announced); one that failed is retried by the cron job.

Claiming (`GiftClaimer.signed_in`, told by accounts of every log-in and confirmed address) and
returning (the cron job) each lock the gift's row and post under the gift's one settle key.
"""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from uuid import UUID

from core.clock import Clock
from core.events import EventBus
from core.identity import Principal
from core.ids import uuid7
from core.ratelimit import RateLimiter
from core.uow import UnitOfWork
from features.accounts.model import User, normalize_email
from features.accounts.service import AccountService
from features.gifts.model import (
    CLAIM_KIND,
    ERASED_ADDRESS,
    FORFEIT_KIND,
    RETURN_KIND,
    SEND_KIND,
    Gift,
    GiftKeyReused,
    GiftOrder,
    GiftPolicy,
    GiftState,
    GiftsThrottled,
    GiftYourself,
    check_key,
    check_order,
    same_order,
    settle_key,
)
from features.gifts.ports import GiftRepository
from features.ledger.model import WALLET_CHANGED_EVENT, AccountRef, IdempotencyConflict, Leg, wallet_topic
from features.ledger.service import LedgerService
from features.notifications.model import EmailDeliveryError, EmailMessage
from features.notifications.ports import EmailService

log = logging.getLogger(__name__)

MAIL_RETRY_AFTER = timedelta(minutes=2)  # a gift still unannounced this long after it was sent is mailed again
BATCH = 100


@dataclass(frozen=True)
class SendResult:
    gift: Gift
    replayed: bool  # the same form again: nothing was sent this time


class GiftService:
    def __init__(
        self,
        gifts: GiftRepository,
        accounts: AccountService,
        ledger: LedgerService,
        email: EmailService,
        bus: EventBus,
        uow: UnitOfWork,
        clock: Clock,
        policy: GiftPolicy,
        public_url: str,
        *,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.gifts = gifts
        self.accounts = accounts
        self.ledger = ledger
        self.email = email
        self.bus = bus
        self.uow = uow
        self.clock = clock
        self.policy = policy
        self.public_url = public_url.rstrip("/")
        self.limiter = limiter

    # -- sending ------------------------------------------------------------------------------------------

    async def send(self, sender: Principal, amount: str, email: str, message: str, key: str) -> SendResult:
        """Gift `amount` points from the sender's wallet to whoever confirms `email`, once per `key`.

        Raises InvalidGift (a message per field), GiftYourself, GiftKeyReused (the key sent another gift),
        GiftsThrottled (429: `per_sender_per_day` reached) and InsufficientPoints (nothing debited)."""
        key = check_key(key)
        order = check_order(amount, email, message, self.policy)
        if order.recipient_email == normalize_email(sender.email):
            raise GiftYourself()
        prior = await self.gifts.by_key(sender.id, key)
        if prior is not None:
            return self._replay(prior, order)
        await self._count_send(sender.id)
        now = self.clock.now()
        async with self.uow.atomic():
            gift_id = uuid7()
            legs = [Leg(AccountRef.wallet(sender.id), AccountRef.gifts_pending(), order.amount)]
            # The address stays out of the ledger (its rows are immutable, and an address must be erasable).
            metadata = {"gift_id": str(gift_id), "memo": "gift sent by e-mail"}
            try:
                transfer = await self.ledger.transfer(f"gift:{sender.id}:{key}", SEND_KIND, legs, metadata)
            except IdempotencyConflict as error:  # the key, sent at once for another gift, committed first
                raise GiftKeyReused() from error
            gift = Gift(
                gift_id,
                sender.id,
                key,
                order.recipient_email,
                order.amount,
                order.message,
                GiftState.PENDING,
                now,
                now + self.policy.return_after,
                transfer.id,
            )
            if not await self.gifts.add(gift):  # the same form, sent twice at once, committed first
                prior = await self.gifts.by_key(sender.id, key)
                assert prior is not None
                return self._replay(prior, order)
            await self.bus.publish(wallet_topic(sender.id), WALLET_CHANGED_EVENT, {"kind": SEND_KIND})
        await self._announce(gift, sender.display_name)
        return SendResult(gift, False)

    @staticmethod
    def _replay(prior: Gift, order: GiftOrder) -> SendResult:
        if not same_order(prior, order):
            raise GiftKeyReused()
        return SendResult(prior, True)

    async def _count_send(self, sender_id: UUID) -> None:
        if self.limiter is None:
            return
        allowance = await self.limiter.hit(f"gifts:sender:{sender_id}", self.policy.per_sender_per_day, 24 * 3600)
        if not allowance.allowed:
            raise GiftsThrottled(retry_after=allowance.retry_after)

    async def sent_by(self, sender_id: UUID, limit: int = 50) -> list[Gift]:
        """The sender's latest gifts with their state, newest first."""
        return await self.gifts.sent_by(sender_id, limit)

    # -- claiming -----------------------------------------------------------------------------------------

    async def claim_for(self, user: User) -> list[Gift]:
        """Move every pending, unexpired gift to the user's address into their wallet — only if that
        address is confirmed (and the account not suspended). Each gift once, even from two log-ins at
        once: the second waits for the first's row locks and finds nothing pending."""
        if not user.email_verified or user.suspended or user.erased:
            return []
        now = self.clock.now()
        claimed: list[Gift] = []
        async with self.uow.atomic():
            for gift in await self.gifts.lock_claimable(user.email_normalized, now):
                sender = await self.accounts.get_user(gift.sender_id)
                legs = [Leg(AccountRef.gifts_pending(), AccountRef.wallet(user.id), gift.amount)]
                memo = f"from {sender.display_name if sender and not sender.erased else 'a former member'}"
                transfer = await self.ledger.transfer(
                    settle_key(gift.id), CLAIM_KIND, legs, {"gift_id": str(gift.id), "memo": memo}
                )
                settled = replace(
                    gift, state=GiftState.CLAIMED, settled_at=now, settle_transfer_id=transfer.id, claimed_by=user.id
                )
                await self.gifts.settle(settled)
                claimed.append(settled)
            if claimed:
                await self.bus.publish(wallet_topic(user.id), WALLET_CHANGED_EVENT, {"kind": CLAIM_KIND})
        return claimed

    # -- returning (the cron job) -------------------------------------------------------------------------

    async def return_expired(self) -> list[Gift]:
        """Give every pending gift past its return date back to its sender's wallet, and tell them by mail.
        Idempotent: a run twice, or two workers, return each gift once. A deleted sender's gift is
        forfeited to the platform instead (there is nobody to return it to)."""
        now = self.clock.now()
        async with self.uow.atomic():
            returned = [
                await self._return(gift, now, "unclaimed gift returned")
                for gift in await self.gifts.lock_expired(now, BATCH)
            ]
        for gift in returned:
            await self._tell_sender(
                gift, f"Nobody claimed the {gift.amount:,} points you sent to {gift.recipient_email}"
            )
        return returned

    async def _return(self, gift: Gift, now: datetime, memo: str) -> Gift:
        """Settle the locked pending gift back to its sender's wallet (to the platform for a deleted sender)."""
        sender = await self.accounts.get_user(gift.sender_id)
        if sender is None or sender.erased:
            kind, to = FORFEIT_KIND, AccountRef.platform_revenue()
            memo = "unclaimed gift of a closed account forfeited"
        else:
            kind, to = RETURN_KIND, AccountRef.wallet(gift.sender_id)
        legs = [Leg(AccountRef.gifts_pending(), to, gift.amount)]
        transfer = await self.ledger.transfer(settle_key(gift.id), kind, legs, {"gift_id": str(gift.id), "memo": memo})
        settled = replace(gift, state=GiftState.RETURNED, settled_at=now, settle_transfer_id=transfer.id)
        await self.gifts.settle(settled)
        if kind == RETURN_KIND:
            await self.bus.publish(wallet_topic(gift.sender_id), WALLET_CHANGED_EVENT, {"kind": RETURN_KIND})
        return settled

    # -- account deletion (the privacy feature calls these inside its erasure transaction) ------------------

    async def received_by(self, user_id: UUID) -> list[Gift]:
        """The gifts the user claimed, newest first (the privacy export)."""
        return await self.gifts.received_by(user_id)

    async def forget_recipient(self, email: str) -> tuple[int, int]:
        """The user is deleting their account: every gift still pending for their address goes back to its
        sender now (it can never be claimed), and their address is erased from every gift sent to it.
        Returns (gifts returned, gifts whose address was erased). Each gift settles once (its settle key),
        under its row lock; the senders are mailed after the commit, without the address."""
        now = self.clock.now()
        async with self.uow.atomic():
            returned = [
                await self._return(gift, now, "gift returned: the recipient closed their account")
                for gift in await self.gifts.lock_pending_to(normalize_email(email))
            ]
            erased = await self.gifts.erase_recipient(normalize_email(email), ERASED_ADDRESS)
        for gift in returned:
            await self._tell_sender(gift, f"The person you sent {gift.amount:,} points to closed their account")
        return len(returned), erased

    async def forget_sender(self, sender_id: UUID) -> int:
        """The sender is deleting their account: their gifts' messages are erased. Their pending gifts stay
        claimable by the recipients until the return date (they were given and announced); unclaimed
        then, they are forfeited to the platform (see `return_expired`). Returns how many messages went."""
        return await self.gifts.erase_messages_of(sender_id)

    async def mail_unannounced(self) -> int:
        """Mail again the recipients of gifts whose first mail failed; returns how many went out."""
        sent = 0
        for gift in await self.gifts.unmailed(self.clock.now() - MAIL_RETRY_AFTER, BATCH):
            sender = await self.accounts.get_user(gift.sender_id)
            sent += await self._announce(gift, sender.display_name if sender else "A Hypha member")
        return sent

    # -- mail ---------------------------------------------------------------------------------------------

    async def _announce(self, gift: Gift, sender_name: str) -> int:
        signup = f"{self.public_url}/signup?next=/wallet"
        login = f"{self.public_url}/login?next=/wallet"
        deadline = gift.expires_at.strftime("%-d %b %Y")
        lines = [
            f"{sender_name} sent you a gift of {gift.amount:,} points on Hypha.",
            *([f'Their message: "{gift.message}"'] if gift.message else []),
            "",
            f"Sign up with this address ({gift.recipient_email}) and confirm it: {signup}",
            f"Already have an account with this address? Log in: {login}",
            "",
            f"The points wait for you until {deadline}; after that they go back to {sender_name}.",
        ]
        body = "\n".join(lines) + "\n"
        markup = "".join(f"<p>{html.escape(line)}</p>" for line in lines if line)
        message = EmailMessage(
            gift.recipient_email, f"{sender_name} sent you {gift.amount:,} points on Hypha", body, markup
        )
        if not await self._deliver(message):
            return 0
        await self.gifts.mark_mailed(gift.id, self.clock.now())
        return 1

    async def _tell_sender(self, gift: Gift, why: str) -> None:
        sender = await self.accounts.get_user(gift.sender_id)
        if sender is None or sender.erased:
            return
        text = f"{why}, so they are back in your wallet: {self.public_url}/wallet\n"
        await self._deliver(
            EmailMessage(sender.email, "Your gift was returned to you", text, f"<p>{html.escape(text)}</p>")
        )

    async def _deliver(self, message: EmailMessage) -> bool:
        try:
            await self.email.send(message)
        except EmailDeliveryError as error:
            log.warning("gift mail not sent (%s)", "permanent" if error.permanent else "temporary")
            return False
        return True


class GiftClaimer:
    """Accounts' SignInListener: a log-in or a confirmed address claims the gifts waiting for it."""

    def __init__(self, gifts: GiftService) -> None:
        self.gifts = gifts

    async def signed_in(self, user: User) -> None:
        await self.gifts.claim_for(user)
