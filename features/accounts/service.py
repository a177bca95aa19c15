"""Accounts use cases: sign up, log in (rotating the session), log out, become a creator; verify the
e-mail address, change it, change or reset the password, and see or end sessions."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import secrets
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import quote
from uuid import UUID

from core.clock import Clock
from core.errors import InvalidInput
from core.events import Event, EventBus, Subscription
from core.identity import Principal
from core.ids import uuid7
from core.ratelimit import RateLimiter, address_key
from core.uow import UnitOfWork
from features.accounts.model import (
    MAX_PASSWORD,
    AccountMail,
    AccountSuspended,
    AccountToken,
    ClientInfo,
    InvalidCredentials,
    InvalidLink,
    LoginThrottled,
    MailKind,
    PasswordChecksThrottled,
    ResendThrottled,
    Session,
    SessionNotFound,
    SessionView,
    SignupThrottled,
    TokenPurpose,
    UnknownAccount,
    User,
    WrongPassword,
    check_display_name,
    check_email,
    check_password,
    normalize_email,
)
from features.accounts.ports import (
    AccountMailer,
    PasswordHasher,
    SessionRepository,
    SignInListener,
    TokenRepository,
    UserRepository,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccountPolicy:
    session_max_age: int = 14 * 24 * 3600
    attempts_per_ip: int = 20
    attempts_per_email: int = 5
    window_seconds: int = 900
    base_url: str = "http://127.0.0.1:8000"  # links in mail point here
    verify_link_hours: int = 48
    reset_link_minutes: int = 30
    verify_mails_per_window: int = 3  # "send the link again", per account
    reset_mails_per_email: int = 3  # reset links mailed to one address per window (more are dropped quietly)
    reset_requests_per_ip: int = 20
    password_checks_per_window: int = 5  # wrong current passwords on change forms, per account
    signups_per_ip_per_hour: int = 20


ERASED_NAME = "Deleted account"

PRINCIPALS_TOPIC = "accounts:principals"  # server-side only: no browser subscribes to it
PRINCIPAL_CHANGED = "principal_changed"


class PrincipalCache:
    """Who each session token belonged to when this process last looked, for `seconds` (0: off).

    `generation` counts revocations: a lookup that started before one must not store what it read
    (it may have read the row as it was before the change committed)."""

    def __init__(self, seconds: float, size: int = 10_000) -> None:
        self.seconds = seconds
        self.size = size
        self.generation = 0
        self._entries: dict[str, tuple[datetime, Principal]] = {}

    def get(self, token_hash: str, now: datetime) -> Principal | None:
        found = self._entries.get(token_hash)
        if found is None:
            return None
        if found[0] <= now:
            self._entries.pop(token_hash, None)
            return None
        return found[1]

    def put(self, token_hash: str, principal: Principal, now: datetime, generation: int) -> None:
        if not self.seconds or generation != self.generation:
            return
        if len(self._entries) >= self.size:  # a flood of sessions: start over rather than grow
            self._entries.clear()
        self._entries[token_hash] = (now + timedelta(seconds=self.seconds), principal)

    def forget(self, user_id: UUID) -> None:
        self.generation += 1
        for token_hash in [k for k, (_, p) in self._entries.items() if p.id == user_id]:
            del self._entries[token_hash]


def erased_email(user_id: UUID) -> str:
    """The placeholder address of an erased account (the .invalid TLD can never receive mail)."""
    return f"erased-{user_id.hex}@erased.invalid"


def login_email_key(email: str) -> str:
    """The rate-limit key of log-ins to one address: a hash, so no e-mail is ever stored in rate_limits
    (not even one typed after its account was deleted)."""
    return "login:email:" + hashlib.sha256(normalize_email(email).encode()).hexdigest()


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _throttled(retry_after: int) -> LoginThrottled:
    minutes = max(1, (retry_after + 59) // 60)
    return LoginThrottled(
        f"Too many log-in attempts. Please wait {minutes} minute{'s' if minutes > 1 else ''} and try again.",
        retry_after=retry_after,
    )


class AccountService:
    def __init__(
        self,
        users: UserRepository,
        sessions: SessionRepository,
        hasher: PasswordHasher,
        limiter: RateLimiter,
        uow: UnitOfWork,
        clock: Clock,
        policy: AccountPolicy,
        tokens: TokenRepository,
        mailer: AccountMailer,
        *,
        bus: EventBus | None = None,
        principals: PrincipalCache | None = None,
    ) -> None:
        self.bus = bus
        self.principals = principals or PrincipalCache(0)
        self._watching: AbstractAsyncContextManager[Subscription] | None = None
        self.users = users
        self.sessions = sessions
        self.hasher = hasher
        self.limiter = limiter
        self.uow = uow
        self.clock = clock
        self.policy = policy
        self.tokens = tokens
        self.mailer = mailer
        self._dummy_hash: str | None = None
        self.listeners: list[SignInListener] = []

    def listen(self, listener: SignInListener) -> None:
        """Tell `listener` of every log-in and every address confirmed from now on (once per listener)."""
        if listener not in self.listeners:
            self.listeners.append(listener)

    async def _signed_in(self, user: User) -> None:
        for listener in self.listeners:
            try:
                await listener.signed_in(user)
            except Exception:  # a listener's trouble must not lock the person out
                log.exception("a sign-in listener failed for user %s", user.id)

    async def sign_up(self, email: str, password: str, display_name: str = "", ip: str | None = None) -> User:
        """Create a viewer account, its e-mail not verified yet (see `send_verification`). Raises
        InvalidEmail, WeakPassword, InvalidInput (a display name over its limit) or EmailTaken (nothing
        stored).

        With `ip` (a sign-up from the web), at most `signups_per_ip_per_hour` well-formed sign-ups per
        address are accepted per fixed hour window, counted in the shared limiter before anything is
        stored (so parallel requests cannot all slip past one check); past it SignupThrottled (429).
        """
        email = check_email(email)
        check_password(password, email)
        name = check_display_name(display_name) or email.split("@", 1)[0]
        if ip is not None:
            allowance = await self.limiter.hit(
                f"signup:ip:{address_key(ip)}", self.policy.signups_per_ip_per_hour, 3600
            )
            if not allowance.allowed:
                minutes = max(1, (allowance.retry_after + 59) // 60)
                raise SignupThrottled(
                    "Too many accounts were created from your network in the last hour. "
                    f"Please try again in {minutes} minute{'s' if minutes > 1 else ''}.",
                    retry_after=allowance.retry_after,
                )
        user = User(
            id=uuid7(),
            email=email,
            display_name=name,  # check_display_name held it to its limit (an address's name part is shorter)
            password_hash=await self.hasher.hash(password),
            is_creator=False,
            is_staff=False,
            created_at=self.clock.now(),
        )
        async with self.uow.atomic():
            await self.users.add(user)
        return user

    async def log_in(
        self, email: str, password: str, ip: str, old_token: str | None = None, client: ClientInfo | None = None
    ) -> tuple[User, str]:
        """Check the password and open a new session, destroying the one the browser came with.

        Returns the user and the new session token. Raises LoginThrottled when this IP or this
        e-mail has made too many attempts, InvalidCredentials for a wrong e-mail or password. A
        password hashed with older argon2 parameters is hashed again with the current ones.

        Each attempt is counted (atomically, in the shared limiter) *before* the slow password hash,
        so parallel guesses cannot all pass a check made before any of them was counted: at most
        `attempts_per_email` guesses per e-mail and `attempts_per_ip` per address are ever evaluated
        per window. A success forgets the e-mail's count. The window is fixed from its first attempt
        (refused attempts do not extend it), so an owner locked out by a stranger's guesses gets back
        in when it ends; password reset is not behind this limit.
        """
        policy = self.policy
        email_key = login_email_key(email)
        by_ip = await self.limiter.hit(f"login:ip:{address_key(ip)}", policy.attempts_per_ip, policy.window_seconds)
        if not by_ip.allowed:
            raise _throttled(by_ip.retry_after)
        by_email = await self.limiter.hit(email_key, policy.attempts_per_email, policy.window_seconds)
        if not by_email.allowed:
            raise _throttled(by_email.retry_after)
        user = await self.users.by_email(email)
        if user is None:
            await self.hasher.verify(await self._dummy(), password)  # same work either way
            raise InvalidCredentials()
        if not await self.hasher.verify(user.password_hash, password):
            raise InvalidCredentials()
        if user.suspended:
            raise AccountSuspended()
        await self.limiter.reset(email_key)
        user = await self._rehash_if_needed(user, password)
        token = await self._open_session(user, old_token, client)
        await self._signed_in(user)
        return user, token

    async def open_session(self, user: User, old_token: str | None = None, client: ClientInfo | None = None) -> str:
        """A new session for a user who just proved who they are (e.g. right after sign-up)."""
        return await self._open_session(user, old_token, client)

    async def rotate_session(self, user_id: UUID, old_token: str | None, client: ClientInfo | None = None) -> str:
        """A new token for the browser holding `old_token`, which stops working: after a change to what the
        session stands for (a new password, a new role), a copy of the old token must not carry over.
        Raises InvalidCredentials when the account is gone."""
        user = await self.users.get(user_id)
        if user is None:
            raise InvalidCredentials()
        return await self._open_session(user, old_token, client)

    async def _open_session(self, user: User, old_token: str | None, client: ClientInfo | None = None) -> str:
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        client = client or ClientInfo()
        session = Session(
            hash_token(token),
            user.id,
            now,
            now + timedelta(seconds=self.policy.session_max_age),
            last_seen_at=now,
            browser=client.browser,
            ip_prefix=client.ip_prefix,
        )
        async with self.uow.atomic():
            if old_token:
                await self.sessions.delete(hash_token(old_token))
                await self._principal_changed(user.id)
            await self.sessions.add(session)
        return token

    async def _rehash_if_needed(self, user: User, password: str) -> User:
        if not self.hasher.needs_rehash(user.password_hash):
            return user
        user = replace(user, password_hash=await self.hasher.hash(password))
        async with self.uow.atomic():
            current = await self.users.get(user.id)
            if current is not None:
                user = replace(current, password_hash=user.password_hash)
                await self.users.save(user)
        return user

    async def log_out(self, token: str | None) -> None:
        """Destroy the session; the token is worthless afterwards (in every web process)."""
        if token:
            token_hash = hash_token(token)
            user = await self.sessions.user_for(token_hash, self.clock.now()) if self.principals.seconds else None
            await self.sessions.delete(token_hash)
            if user is not None:
                await self._principal_changed(user.id)

    async def principal_for_session(self, token: str) -> Principal | None:
        """Who the session token belongs to, or None (no such session, expired, or suspended).

        A web process may answer from what it looked up at most `session_cache_seconds` ago; every
        change to the user's sessions or to what a Principal holds (log-out, password change or reset,
        suspension, roles, e-mail, deletion) revokes that everywhere within one event delivery
        (`_principal_changed`, `watch_principal_changes`)."""
        if not token or len(token) > 128:
            return None
        token_hash = hash_token(token)
        now = self.clock.now()
        cached = self.principals.get(token_hash, now)
        if cached is not None:
            return cached
        generation = self.principals.generation
        user = await self.sessions.user_for(token_hash, now)
        if user is None or user.suspended:
            return None
        principal = user.principal()
        self.principals.put(token_hash, principal, now, generation)
        return principal

    async def watch_principal_changes(self) -> None:
        """Follow other processes' revocations (a web process's start-up hook). Idempotent: a second call
        replaces the first subscription (the app's lifespan may run more than once per process)."""
        if self.bus is None or not self.principals.seconds:
            return
        if self._watching is not None:
            await self._watching.__aexit__(None, None, None)
            self._watching = None
        watching = self.bus.subscribe([PRINCIPALS_TOPIC])
        subscription = await watching.__aenter__()
        subscription.listen(self._on_principal_event)
        self._watching = watching

    def _on_principal_event(self, event: Event) -> None:
        if event.name == PRINCIPAL_CHANGED:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                self.principals.forget(UUID(str(event.data["user_id"])))

    async def _principal_changed(self, user_id: UUID) -> None:
        """The user's sessions or what their Principal holds changed: forget it here now and tell every
        web process (an event published inside the caller's transaction is delivered if it commits)."""
        if not self.principals.seconds:
            return
        self.principals.forget(user_id)
        if self.bus is not None:
            await self.bus.publish(PRINCIPALS_TOPIC, PRINCIPAL_CHANGED, {"user_id": str(user_id)})

    async def become_creator(self, user_id: UUID) -> User:
        """Turn a viewer into a creator (idempotent)."""
        async with self.uow.atomic():
            user = await self.users.get(user_id)
            if user is None:
                raise InvalidCredentials()
            if not user.is_creator:
                user = user.become_creator()
                await self.users.save(user)
                await self._principal_changed(user.id)
        return user

    async def suspend(self, user_id: UUID, reason: str) -> User:
        """Suspend the account: every session ends now and log-in is refused (AccountSuspended) until
        `unsuspend`. Idempotent (a second call keeps the first time and reason). Raises UnknownAccount."""
        async with self.uow.atomic():
            user = await self.users.get(user_id)
            if user is None:
                raise UnknownAccount()
            if not user.suspended:
                user = replace(user, suspended_at=self.clock.now(), suspension_reason=reason[:2000])
                await self.users.save(user)
            await self.sessions.delete_for_user(user_id)
            await self._principal_changed(user_id)
        return user

    async def unsuspend(self, user_id: UUID) -> User:
        """Lift a suspension: the person may log in again. Idempotent. Raises UnknownAccount."""
        async with self.uow.atomic():
            user = await self.users.get(user_id)
            if user is None:
                raise UnknownAccount()
            if user.suspended:
                user = replace(user, suspended_at=None, suspension_reason="")
                await self.users.save(user)
                await self._principal_changed(user.id)
        return user

    async def set_staff(self, email: str, is_staff: bool) -> User:
        """Grant or take away the staff role of the account with this e-mail (idempotent). Either way the
        person's sessions end: taken away, no open page keeps staff powers; granted, the role rides only
        on a token issued after it (a copy of an older one opens nothing). Raises UnknownAccount."""
        async with self.uow.atomic():
            user = await self.users.by_email(email)
            if user is None:
                raise UnknownAccount()
            if user.is_staff != is_staff:
                user = replace(user, is_staff=is_staff)
                await self.users.save(user)
                await self.sessions.delete_for_user(user.id)
                await self._principal_changed(user.id)
        return user

    async def get_user(self, user_id: UUID) -> User | None:
        return await self.users.get(user_id)

    async def users_by_id(self, user_ids: list[UUID]) -> dict[UUID, User]:
        return await self.users.get_many(user_ids)

    # -- for the privacy feature (export and erasure) -------------------------------------------------

    async def verify_password(self, user_id: UUID, password: str) -> bool:
        """True if `password` is the user's current password; False for a wrong one, an unknown or an
        erased account. Costs one argon2 verification either way."""
        user = await self.users.get(user_id)
        if user is None or not password or len(password) > MAX_PASSWORD:
            await self.hasher.verify(await self._dummy(), password[:MAX_PASSWORD])
            return False
        return await self.hasher.verify(user.password_hash, password)

    async def sessions_of(self, user_id: UUID) -> list[Session]:
        """The user's live sessions, most recently seen first (the token hashes, never the tokens)."""
        return await self.sessions.list_for_user(user_id, self.clock.now())

    async def end_all_sessions(self, user_id: UUID) -> None:
        """Log the user out everywhere, at once: every session token of theirs stops working."""
        await self.sessions.delete_for_user(user_id)
        await self._principal_changed(user_id)

    async def erase_account(self, user_id: UUID) -> None:
        """Erase the person behind the account: every session ends, the e-mail and display name are
        replaced by placeholders (`erased_email`, ERASED_NAME), the password can no longer match and
        the roles are dropped. The user id stays as a pseudonym for the financial records that point
        to it. Idempotent; runs inside the caller's unit of work if one is open."""
        async with self.uow.atomic():
            user = await self.users.get(user_id)
            if user is None:
                return
            await self.sessions.delete_for_user(user_id)
            await self._principal_changed(user_id)
            await self.tokens.forget_user(user_id)
            await self.users.pseudonymise(user_id, erased_email(user_id), ERASED_NAME)
            await self.limiter.reset(login_email_key(user.email))

    # -- e-mail verification ---------------------------------------------------------------------

    async def send_verification(self, user_id: UUID, then: str = "") -> bool:
        """Mail a single-use link that confirms the account's current address (valid for
        `verify_link_hours`). `then`, a local path the caller has checked (the video the person signed up
        on), rides along in the link so that confirming leads back to it. Returns False when the address
        is already verified (nothing sent) or the mail could not be handed over. Raises ResendThrottled
        past `verify_mails_per_window`."""
        user = await self.users.get(user_id)
        if user is None or user.email_verified:
            return False
        await self._count_verification_mail(user.id)
        return await self._mail_verification(user, then)

    async def _count_verification_mail(self, user_id: UUID) -> None:
        policy = self.policy
        allowance = await self.limiter.hit(
            f"verify:user:{user_id}", policy.verify_mails_per_window, policy.window_seconds
        )
        if not allowance.allowed:
            minutes = max(1, (allowance.retry_after + 59) // 60)
            raise ResendThrottled(
                f"We sent several links already. Please check your mail, or ask again in {minutes} minute"
                f"{'s' if minutes > 1 else ''}.",
                retry_after=allowance.retry_after,
            )

    async def _mail_verification(self, user: User, then: str = "") -> bool:
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        hours = self.policy.verify_link_hours
        await self.tokens.add(
            AccountToken(
                hash_token(token), user.id, TokenPurpose.VERIFY_EMAIL, user.email, now, now + timedelta(hours=hours)
            )
        )
        link = f"{self.policy.base_url.rstrip('/')}/verify-email?token={token}"
        if then:
            link += f"&next={quote(then, safe='/')}"
        return await self.mailer.send(
            AccountMail(MailKind.VERIFY_EMAIL, user.email, user.display_name, link, valid_minutes=hours * 60)
        )

    async def check_link(self, token: str, purpose: TokenPurpose) -> AccountToken:
        """The stored link for `token` if it can still be used; raises InvalidLink otherwise (nothing changes)."""
        found = await self._usable(token, purpose)
        if found is None:
            raise InvalidLink()
        return found

    async def verify_email(self, token: str) -> User:
        """Use a verification link: the address it was mailed to is confirmed, once. Raises InvalidLink
        for an unknown, used or expired link, or one mailed to an address the account no longer has."""
        now = self.clock.now()
        async with self.uow.atomic():
            used = (
                await self.tokens.use(hash_token(token), TokenPurpose.VERIFY_EMAIL, now) if _plausible(token) else None
            )
            if used is None:
                raise InvalidLink()
            user = await self.users.get(used.user_id)
            if user is None:
                raise InvalidLink()
            if normalize_email(used.email) != user.email_normalized:
                raise InvalidLink("This link was sent to an address that is no longer on your account.")
            if not user.email_verified:
                user = replace(user, email_verified_at=now)
                await self.users.save(user)
                await self._principal_changed(user.id)
        await self._signed_in(user)
        return user

    async def mark_email_verified(self, user_id: UUID) -> User:
        """Take the account's current address as verified without a link: for accounts an operator
        vouches for (`hypha up --demo`), never reachable from the web."""
        async with self.uow.atomic():
            user = await self.users.get(user_id)
            if user is None:
                raise InvalidCredentials()
            if not user.email_verified:
                user = replace(user, email_verified_at=self.clock.now())
                await self.users.save(user)
                await self._principal_changed(user.id)
        return user

    async def change_email(self, user_id: UUID, current_password: str, new_email: str) -> User:
        """Move the account to a new address: it needs the current password, the new address must be
        free, and it is unverified until its link is used (mailed to it); the old address is told.
        Raises InvalidEmail, WrongPassword, EmailTaken, InvalidInput (same address),
        PasswordChecksThrottled (too many wrong passwords) or ResendThrottled (too many links mailed
        this window); nothing changes then."""
        new_email = check_email(new_email)
        user = await self._with_password(user_id, current_password)
        if normalize_email(new_email) == user.email_normalized:
            raise InvalidInput("That is already your e-mail address.")
        await self._count_verification_mail(user.id)  # each change mails a link: same limit as resending
        old = user
        now = self.clock.now()
        changed = replace(user, email=new_email, email_verified_at=None, email_since=now)
        async with self.uow.atomic():
            await self.users.save(changed)  # EmailTaken when another account has it
            await self._principal_changed(user.id)
            await self.tokens.revoke(user.id, TokenPurpose.VERIFY_EMAIL, now)
            await self.tokens.revoke(user.id, TokenPurpose.RESET_PASSWORD, now)
        await self._mail_verification(changed)
        await self.mailer.send(
            AccountMail(MailKind.EMAIL_CHANGED, old.email, old.display_name, self._link("/login"), new_email=new_email)
        )
        return changed

    # -- passwords ---------------------------------------------------------------------------------

    async def change_password(
        self, user_id: UUID, current_password: str, new_password: str, current_token: str | None
    ) -> int:
        """Set a new password (the current one is needed) and end every other session of the account;
        the session `current_token` names stays. Returns how many sessions ended. Raises WrongPassword,
        WeakPassword or PasswordChecksThrottled (too many wrong current passwords); nothing changes then."""
        user = await self._with_password(user_id, current_password)
        check_password(new_password, user.email)
        new_hash = await self.hasher.hash(new_password)
        now = self.clock.now()
        async with self.uow.atomic():
            fresh = await self.users.get(user.id)
            if fresh is None:
                raise InvalidCredentials()
            await self.users.save(replace(fresh, password_hash=new_hash))
            ended = await self.sessions.delete_for_user(user.id, hash_token(current_token) if current_token else None)
            await self._principal_changed(user.id)
            await self.tokens.revoke(user.id, TokenPurpose.RESET_PASSWORD, now)
        await self.mailer.send(
            AccountMail(MailKind.PASSWORD_CHANGED, user.email, user.display_name, self._link("/forgot-password"))
        )
        return ended

    async def request_password_reset(self, email: str, ip: str) -> str | None:
        """Count a "forgot password" request and return the address to mail a reset link to (see
        `send_reset_link`, which the caller runs after answering), or None when the address had its
        share of links this window. Nothing here looks the address up, so the answer cannot depend
        on whether an account has it. Raises ResendThrottled only for a network asking too often
        (whatever the addresses). Uses none of the log-in limits: a reset stays possible while
        log-in is throttled for the address."""
        policy = self.policy
        by_ip = await self.limiter.hit(
            f"reset:ip:{address_key(ip)}", policy.reset_requests_per_ip, policy.window_seconds
        )
        if not by_ip.allowed:
            raise ResendThrottled(
                "Too many reset requests from your network. Please wait a few minutes and try again.",
                retry_after=by_ip.retry_after,
            )
        address = normalize_email(email)[:254]
        by_email = await self.limiter.hit(f"reset:email:{address}", policy.reset_mails_per_email, policy.window_seconds)
        return address if by_email.allowed else None

    async def send_reset_link(self, email: str | None) -> bool:
        """Mail a single-use reset link (valid `reset_link_minutes`) to the account with this address;
        False when no account has it (nothing stored, nothing sent) or the mail could not go out."""
        if not email:
            return False
        token = secrets.token_urlsafe(32)
        now = self.clock.now()
        minutes = self.policy.reset_link_minutes
        stored = AccountToken(
            hash_token(token), UUID(int=0), TokenPurpose.RESET_PASSWORD, "", now, now + timedelta(minutes=minutes)
        )
        user = await self.tokens.add_for_email(email, stored)
        if user is None:
            return False
        link = self._link(f"/reset-password?token={token}")
        mail = AccountMail(MailKind.RESET_PASSWORD, user.email, user.display_name, link, valid_minutes=minutes)
        return await self.mailer.send(mail)

    async def reset_password(self, token: str, new_password: str) -> User:
        """Use a reset link: set the new password and end every session of the account (this one too).
        Proves the mailbox, so an unverified address becomes verified. Log-in attempts counted against
        the address are forgiven. Raises InvalidLink (unknown, used, expired) or WeakPassword; a weak
        password does not use up the link."""
        found = await self.check_link(token, TokenPurpose.RESET_PASSWORD)
        user = await self.users.get(found.user_id)
        if user is None:
            raise InvalidLink()
        check_password(new_password, user.email)
        new_hash = await self.hasher.hash(new_password)
        now = self.clock.now()
        async with self.uow.atomic():
            used = await self.tokens.use(hash_token(token), TokenPurpose.RESET_PASSWORD, now)
            fresh = await self.users.get(found.user_id)
            if used is None or fresh is None:
                raise InvalidLink()
            mailbox_proved = normalize_email(used.email) == fresh.email_normalized
            user = replace(
                fresh,
                password_hash=new_hash,
                email_verified_at=fresh.email_verified_at or (now if mailbox_proved else None),
            )
            await self.users.save(user)
            await self.sessions.delete_for_user(user.id)
            await self._principal_changed(user.id)
            await self.tokens.revoke(user.id, TokenPurpose.RESET_PASSWORD, now)
        await self.limiter.reset(login_email_key(user.email))
        await self.mailer.send(
            AccountMail(MailKind.PASSWORD_CHANGED, user.email, user.display_name, self._link("/forgot-password"))
        )
        return user

    async def _with_password(self, user_id: UUID, password: str) -> User:
        """The user, if `password` is theirs; WrongPassword otherwise. Wrong tries are counted per
        account: past `password_checks_per_window` every try is refused with PasswordChecksThrottled
        until the window ends (a stolen session cannot guess the password)."""
        policy = self.policy
        key = f"password:user:{user_id}"
        allowance = await self.limiter.peek(key, policy.password_checks_per_window, policy.window_seconds)
        if not allowance.allowed:
            minutes = max(1, (allowance.retry_after + 59) // 60)
            raise PasswordChecksThrottled(
                f"Too many wrong passwords. Please wait {minutes} minute{'s' if minutes > 1 else ''} and try again.",
                retry_after=allowance.retry_after,
            )
        user = await self.users.get(user_id)
        if user is None:
            raise InvalidCredentials()
        if not password or not await self.hasher.verify(user.password_hash, password):
            await self.limiter.hit(key, policy.password_checks_per_window, policy.window_seconds)
            raise WrongPassword()
        await self.limiter.reset(key)
        return user

    # -- sessions ----------------------------------------------------------------------------------

    async def list_sessions(self, user_id: UUID, current_token: str | None) -> list[SessionView]:
        """The account's active sessions, most recently seen first; `current` marks this browser's."""
        current_hash = hash_token(current_token) if current_token else None
        return [
            SessionView(
                id=session.id,
                created_at=session.created_at,
                last_seen_at=session.last_seen_at or session.created_at,
                browser=session.browser or "Unknown browser",
                ip_prefix=session.ip_prefix,
                current=session.token_hash == current_hash,
            )
            for session in await self.sessions.list_for_user(user_id, self.clock.now())
            if session.id is not None
        ]

    async def end_session(self, user_id: UUID, session_id: UUID) -> None:
        """End one of the account's sessions; SessionNotFound when it has no such session (another
        account's session is not theirs to see: the same answer)."""
        if not await self.sessions.delete_one(user_id, session_id):
            raise SessionNotFound()
        await self._principal_changed(user_id)

    async def end_other_sessions(self, user_id: UUID, current_token: str | None) -> int:
        """End every session of the account but this browser's; returns how many ended."""
        ended = await self.sessions.delete_for_user(user_id, hash_token(current_token) if current_token else None)
        await self._principal_changed(user_id)
        return ended

    # -- helpers -----------------------------------------------------------------------------------

    def _link(self, path: str) -> str:
        return self.policy.base_url.rstrip("/") + path

    async def _usable(self, token: str, purpose: TokenPurpose) -> AccountToken | None:
        if not _plausible(token):
            return None
        found = await self.tokens.find(hash_token(token), purpose)
        return found if found is not None and found.usable(self.clock.now()) else None

    async def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = await self.hasher.hash(secrets.token_hex(16))
        return self._dummy_hash


def _plausible(token: str) -> bool:
    """A token we could have made (43 URL-safe characters); anything else is not looked up."""
    return 20 <= len(token) <= 128 and all(ch.isalnum() or ch in "-_" for ch in token)
