"""Who is asking, as every feature sees it (framework-free, so domain code may use it)."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID


@dataclass(frozen=True)
class Principal:
    """The logged-in user as the rest of the product sees them (built by the accounts feature)."""

    id: UUID
    email: str
    display_name: str
    is_creator: bool
    is_staff: bool
    # False until the person opened the link mailed to their address: they may browse and watch
    # free videos, but not buy, unlock, tip or become a creator (core.auth.verified_required).
    email_verified: bool = False
