"""What accounts need from the outside: user and session storage, and password hashing."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from features.accounts.model import Session, User


class UserRepository(Protocol):
    async def add(self, user: User) -> None:
        """Store a new user; raise EmailTaken if the normalized e-mail is already used."""
        ...

    async def get(self, user_id: UUID) -> User | None: ...

    async def by_email(self, email: str) -> User | None:
        """Find by e-mail, compared in normalized form."""
        ...

    async def save(self, user: User) -> None:
        """Update an existing user's mutable fields (display name, roles, password hash)."""
        ...

    async def get_many(self, user_ids: list[UUID]) -> dict[UUID, User]: ...

    async def pseudonymise(self, user_id: UUID, placeholder_email: str, placeholder_name: str) -> None:
        """Overwrite the user's e-mail and display name with the placeholders, make the password
        unusable and drop the roles; the row (and its id, a pseudonym now) stays for the records that
        point to it."""
        ...


class SessionRepository(Protocol):
    async def add(self, session: Session) -> None: ...

    async def user_for(self, token_hash: str, now: object) -> User | None:
        """The user of an unexpired session, or None."""
        ...

    async def delete(self, token_hash: str) -> None: ...

    async def delete_for_user(self, user_id: UUID) -> None: ...

    async def for_user(self, user_id: UUID) -> list[Session]:
        """The user's sessions (expired ones too, while they are stored), oldest first."""
        ...


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool:
        """True if the password matches; never raises for a mismatch."""
        ...
