"""The built-in sandbox payout vendor's record of one payout (its own words, not Hypha's)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

PENDING, PAID, FAILED = "pending", "paid", "failed"


@dataclass(frozen=True)
class SandboxPayout:
    ref: str
    idempotency_key: str
    creator_id: UUID
    amount_minor: int
    currency: str
    status: str  # "pending" | "paid" | "failed"
    created_at: datetime
    settle_at: datetime
    failure_reason: str = ""  # set at creation when a staff member armed a failure: it will fail
    settled_at: datetime | None = None
