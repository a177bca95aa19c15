"""Who is asking, as every feature sees it (framework-free, so domain code may use it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
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


class SessionLookup(Protocol):
    """Who holds a session token (the accounts feature answers; the web edge asks on each request)."""

    async def principal_for_session(self, token: str) -> Principal | None:
        """The signed-in person, or None for an unknown, expired or revoked token."""
        ...
