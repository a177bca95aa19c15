"""Gifts adapters: PostgreSQL (Piccolo; SQL for the row locks) and in memory, with the same promises
(tests/contract/test_gifts_repositories.py runs each against both)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any
from uuid import UUID

from core.db import Database
from features.gifts.model import Gift, GiftState
from features.gifts.tables import GiftTable


class MemoryGiftRepository:
    """Each call runs without awaiting, so it is atomic on the event loop; a gift taken by one caller
    is settled before another caller runs, which is what the row locks give in PostgreSQL."""

    def __init__(self) -> None:
        self.gifts: dict[UUID, Gift] = {}

    async def add(self, gift: Gift) -> bool:
        if any(
            g.sender_id == gift.sender_id and g.idempotency_key == gift.idempotency_key for g in self.gifts.values()
        ):
            return False
        self.gifts[gift.id] = gift
        return True

    async def by_key(self, sender_id: UUID, key: str) -> Gift | None:
        return next((g for g in self.gifts.values() if g.sender_id == sender_id and g.idempotency_key == key), None)

    async def sent_by(self, sender_id: UUID, limit: int = 50) -> list[Gift]:
        found = [g for g in self.gifts.values() if g.sender_id == sender_id]
        return sorted(found, key=lambda g: (g.created_at, g.id), reverse=True)[:limit]

    async def lock_claimable(self, email: str, now: datetime) -> list[Gift]:
        found = [g for g in self.gifts.values() if g.pending and g.recipient_email == email and g.expires_at > now]
        return sorted(found, key=lambda g: (g.created_at, g.id))

    async def lock_expired(self, now: datetime, limit: int) -> list[Gift]:
        found = [g for g in self.gifts.values() if g.pending and g.expires_at <= now]
        return sorted(found, key=lambda g: (g.expires_at, g.id))[:limit]

    async def settle(self, gift: Gift) -> None:
        self.gifts[gift.id] = gift

    async def unmailed(self, before: datetime, limit: int) -> list[Gift]:
        found = [g for g in self.gifts.values() if g.pending and g.mailed_at is None and g.created_at < before]
        return sorted(found, key=lambda g: (g.created_at, g.id))[:limit]

    async def mark_mailed(self, gift_id: UUID, at: datetime) -> None:
        gift = self.gifts.get(gift_id)
        if gift is not None:
            self.gifts[gift_id] = replace(gift, mailed_at=at)

    async def received_by(self, user_id: UUID) -> list[Gift]:
        found = [g for g in self.gifts.values() if g.claimed_by == user_id]
        return sorted(found, key=lambda g: (g.created_at, g.id), reverse=True)

    async def lock_pending_to(self, email: str) -> list[Gift]:
        found = [g for g in self.gifts.values() if g.pending and g.recipient_email == email]
        return sorted(found, key=lambda g: (g.created_at, g.id))

    async def erase_recipient(self, email: str, placeholder: str) -> int:
        found = [g for g in self.gifts.values() if g.recipient_email == email]
        for gift in found:
            self.gifts[gift.id] = replace(gift, recipient_email=placeholder)
        return len(found)

    async def erase_messages_of(self, sender_id: UUID) -> int:
        found = [g for g in self.gifts.values() if g.sender_id == sender_id and g.message]
        for gift in found:
            self.gifts[gift.id] = replace(gift, message="")
        return len(found)


def _gift(row: Any) -> Gift:
    values = dict(row)
    values["state"] = GiftState(values["state"])
    return Gift(**values)


_COLUMNS = (
    "id, sender_id, idempotency_key, recipient_email, amount, message, state, created_at, expires_at, "
    "send_transfer_id, settled_at, settle_transfer_id, claimed_by, mailed_at"
)
# SQL: row locks. A second login at once waits on the first's lock, then re-reads the row and finds it
# claimed (READ COMMITTED re-checks the WHERE on the newest version), so each gift is claimed once.
_LOCK_CLAIMABLE = f"""
    SELECT {_COLUMNS} FROM gifts
    WHERE recipient_email = $1 AND state = 'pending' AND expires_at > $2
    ORDER BY created_at, id
    FOR UPDATE
"""  # noqa: S608 — column names only
# SQL: SKIP LOCKED, so two workers returning expired gifts at once take different gifts.
_LOCK_EXPIRED = f"""
    SELECT {_COLUMNS} FROM gifts
    WHERE state = 'pending' AND expires_at <= $1
    ORDER BY expires_at, id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
"""  # noqa: S608 — column names only
# SQL: row locks on every pending gift to a deleted account's address (expired ones too).
_LOCK_PENDING_TO = f"""
    SELECT {_COLUMNS} FROM gifts
    WHERE recipient_email = $1 AND state = 'pending'
    ORDER BY created_at, id
    FOR UPDATE
"""  # noqa: S608 — column names only


class PostgresGiftRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, gift: Gift) -> bool:
        row = GiftTable(
            id=gift.id,
            sender_id=gift.sender_id,
            idempotency_key=gift.idempotency_key,
            recipient_email=gift.recipient_email,
            amount=gift.amount,
            message=gift.message,
            state=gift.state.value,
            created_at=gift.created_at,
            expires_at=gift.expires_at,
            send_transfer_id=gift.send_transfer_id,
            settled_at=gift.settled_at,
            settle_transfer_id=gift.settle_transfer_id,
            claimed_by=gift.claimed_by,
            mailed_at=gift.mailed_at,
        )
        key = (GiftTable.sender_id, GiftTable.idempotency_key)
        return bool(await GiftTable.insert(row).on_conflict(target=key, action="DO NOTHING").returning(GiftTable.id))

    async def by_key(self, sender_id: UUID, key: str) -> Gift | None:
        row = (
            await GiftTable.select()
            .where((GiftTable.sender_id == sender_id) & (GiftTable.idempotency_key == key))
            .first()
        )
        return _gift(row) if row else None

    async def sent_by(self, sender_id: UUID, limit: int = 50) -> list[Gift]:
        rows = (
            await GiftTable.select()
            .where(GiftTable.sender_id == sender_id)
            .order_by(GiftTable.created_at, GiftTable.id, ascending=False)
            .limit(limit)
        )
        return [_gift(row) for row in rows]

    async def lock_claimable(self, email: str, now: datetime) -> list[Gift]:
        return [_gift(row) for row in await self.db.fetch(_LOCK_CLAIMABLE, email, now)]

    async def lock_expired(self, now: datetime, limit: int) -> list[Gift]:
        return [_gift(row) for row in await self.db.fetch(_LOCK_EXPIRED, now, limit)]

    async def settle(self, gift: Gift) -> None:
        await GiftTable.update(
            {
                GiftTable.state: gift.state.value,
                GiftTable.settled_at: gift.settled_at,
                GiftTable.settle_transfer_id: gift.settle_transfer_id,
                GiftTable.claimed_by: gift.claimed_by,
            }
        ).where(GiftTable.id == gift.id)

    async def unmailed(self, before: datetime, limit: int) -> list[Gift]:
        rows = (
            await GiftTable.select()
            .where(
                (GiftTable.state == GiftState.PENDING.value)
                & GiftTable.mailed_at.is_null()
                & (GiftTable.created_at < before)
            )
            .order_by(GiftTable.created_at, GiftTable.id)
            .limit(limit)
        )
        return [_gift(row) for row in rows]

    async def mark_mailed(self, gift_id: UUID, at: datetime) -> None:
        await GiftTable.update({GiftTable.mailed_at: at}).where(GiftTable.id == gift_id)

    async def received_by(self, user_id: UUID) -> list[Gift]:
        rows = (
            await GiftTable.select()
            .where(GiftTable.claimed_by == user_id)
            .order_by(GiftTable.created_at, GiftTable.id, ascending=False)
        )
        return [_gift(row) for row in rows]

    async def lock_pending_to(self, email: str) -> list[Gift]:
        return [_gift(row) for row in await self.db.fetch(_LOCK_PENDING_TO, email)]

    async def erase_recipient(self, email: str, placeholder: str) -> int:
        rows = (
            await GiftTable.update({GiftTable.recipient_email: placeholder})
            .where(GiftTable.recipient_email == email)
            .returning(GiftTable.id)
        )
        return len(rows)

    async def erase_messages_of(self, sender_id: UUID) -> int:
        rows = (
            await GiftTable.update({GiftTable.message: ""})
            .where((GiftTable.sender_id == sender_id) & (GiftTable.message != ""))
            .returning(GiftTable.id)
        )
        return len(rows)
