"""What accounts need from the outside: user, session and link storage, password hashing, and a way
to mail the person."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol
from uuid import UUID

from features.accounts.model import AccountMail, AccountToken, Session, TokenPurpose, User


class UserRepository(Protocol):
    async def add(self, user: User) -> None:
        """Store a new user; raise EmailTaken if the normalized e-mail is already used."""
        ...

    async def get(self, user_id: UUID) -> User | None: ...

    async def by_email(self, email: str) -> User | None:
        """Find by e-mail, compared in normalized form."""
        ...

    async def save(self, user: User) -> None:
        """Update an existing user's mutable fields (display name, roles, password hash, e-mail and
        its verification). Raise EmailTaken if the new e-mail belongs to another account."""
        ...

    async def get_many(self, user_ids: list[UUID]) -> dict[UUID, User]: ...

    async def pseudonymise(self, user_id: UUID, placeholder_email: str, placeholder_name: str) -> None:
        """Overwrite the user's e-mail and display name with the placeholders, make the password
        unusable and drop the roles; the row (and its id, a pseudonym now) stays for the records that
        point to it."""
        ...


class SessionRepository(Protocol):
    async def add(self, session: Session) -> None: ...

    async def user_for(self, token_hash: str, now: datetime) -> User | None:
        """The user of an unexpired session, or None. Marks the session seen at `now` when it was
        last marked more than a minute before (so a busy session costs one write a minute)."""
        ...

    async def delete(self, token_hash: str) -> None: ...

    async def delete_for_user(self, user_id: UUID, keep_token_hash: str | None = None) -> int:
        """End every session of the user, except the one `keep_token_hash` names; return how many ended."""
        ...

    async def delete_one(self, user_id: UUID, session_id: UUID) -> bool:
        """End the user's session with this id; False when the user has no such session."""
        ...

    async def list_for_user(self, user_id: UUID, now: datetime) -> list[Session]:
        """The user's unexpired sessions, most recently seen first."""
        ...


class TokenRepository(Protocol):
    """Single-use links, stored by the SHA-256 of their token."""

    async def add(self, token: AccountToken) -> None: ...

    async def add_for_email(self, email: str, token: AccountToken) -> User | None:
        """Store `token` for the account with this e-mail (normalized) and return that account, or
        store nothing and return None when no account has it: one round trip either way, so the
        answer takes as long whether the address exists or not. The token's user_id is ignored."""
        ...

    async def find(self, token_hash: str, purpose: TokenPurpose) -> AccountToken | None:
        """The token as stored (used or not, expired or not), or None."""
        ...

    async def use(self, token_hash: str, purpose: TokenPurpose, now: datetime) -> AccountToken | None:
        """Mark the token used if it is unused and unexpired and return it; None otherwise. Of two
        concurrent calls, at most one gets the token."""
        ...

    async def revoke(self, user_id: UUID, purpose: TokenPurpose, now: datetime) -> None:
        """Mark every unused token of the user for `purpose` as used (a newer link or a change made them moot)."""
        ...

    async def forget_user(self, user_id: UUID) -> None:
        """Delete every token of the user, used or not (they name the addresses it was sent to)."""
        ...


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str: ...

    async def verify(self, password_hash: str, password: str) -> bool:
        """True if the password matches; never raises for a mismatch."""
        ...

    def needs_rehash(self, password_hash: str) -> bool:
        """True when the hash was made with other parameters than the current ones."""
        ...


class AccountMailer(Protocol):
    """Sends the mails about the account itself (verification, reset, change notices) at once."""

    async def send(self, mail: AccountMail) -> bool:
        """Hand the mail over for delivery; False (logged, never raised) when it could not be sent."""
        ...


class SignInListener(Protocol):
    """Told each time a person proves they hold their account's address: a log-in, and confirming the
    address. Other features register one (`AccountService.listen`, e.g. gifts claim what waits for that
    address); a listener's failure is logged and never fails the log-in."""

    async def signed_in(self, user: User) -> None: ...
