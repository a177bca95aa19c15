"""Accounts a stranger can trust, on in-memory adapters: verification links, e-mail and password
changes, password resets, sessions. Mail is read back from the in-memory outbox, as a person reads it."""

from __future__ import annotations

import re
from datetime import timedelta
from uuid import uuid4

import pytest
from argon2 import PasswordHasher as Argon2
from injector import Injector

from core.clock import Clock, FrozenClock
from core.di import get_port
from features.accounts.adapters import Argon2PasswordHasher
from features.accounts.model import (
    EmailTaken,
    InvalidCredentials,
    InvalidLink,
    LoginThrottled,
    PasswordChecksThrottled,
    ResendThrottled,
    SessionNotFound,
    TokenPurpose,
    User,
    WeakPassword,
    WrongPassword,
    approximate_ip,
    browser_from_user_agent,
    check_password,
)
from features.accounts.ports import SessionRepository, TokenRepository, UserRepository
from features.accounts.service import AccountService, hash_token
from features.notifications.adapters import MemoryOutbox

PASSWORD = "analytical engine"
LINK = re.compile(r"https?://\S+/(verify-email|reset-password)\?token=([A-Za-z0-9_-]+)")


@pytest.fixture
def accounts(memory: Injector) -> AccountService:
    return memory.get(AccountService)


@pytest.fixture
def outbox(memory: Injector) -> MemoryOutbox:
    return memory.get(MemoryOutbox)


@pytest.fixture
def clock(memory: Injector) -> FrozenClock:
    found = get_port(memory, Clock)
    assert isinstance(found, FrozenClock)
    return found


def links(outbox: MemoryOutbox, to: str, kind: str) -> list[str]:
    """Tokens of the links of one kind mailed to one address, oldest first."""
    found = [LINK.search(mail.text) for mail in outbox.sent if mail.to == to]
    return [match.group(2) for match in found if match is not None and match.group(1) == kind]


async def forgot(accounts: AccountService, email: str, ip: str = "10.0.0.9") -> bool:
    """ "Forgot password" as the web answers it: count the request, then (after answering) mail."""
    return await accounts.send_reset_link(await accounts.request_password_reset(email, ip))


async def ada(accounts: AccountService) -> User:
    return await accounts.sign_up("ada@example.com", PASSWORD, "Ada")


# -- e-mail verification ---------------------------------------------------------------------------


async def test_a_new_account_is_unverified_until_the_mailed_link_is_used_once(
    accounts: AccountService, outbox: MemoryOutbox
) -> None:
    user = await ada(accounts)
    assert not user.principal().email_verified
    assert await accounts.send_verification(user.id)
    [token] = links(outbox, "ada@example.com", "verify-email")
    stored = await accounts.tokens.find(hash_token(token), TokenPurpose.VERIFY_EMAIL)
    assert stored is not None
    assert stored.token_hash != token  # only the hash is kept
    assert "Confirm your e-mail address" in outbox.sent[-1].subject

    verified = await accounts.verify_email(token)
    assert verified.principal().email_verified
    with pytest.raises(InvalidLink):
        await accounts.verify_email(token)  # single use


@pytest.mark.parametrize("forged", ["", "x", "a" * 43, "../../etc/passwd" + "a" * 30, "Ω" * 43, "a" * 5000])
async def test_a_forged_verification_link_is_refused_and_changes_nothing(accounts: AccountService, forged: str) -> None:
    user = await ada(accounts)
    await accounts.send_verification(user.id)
    with pytest.raises(InvalidLink):
        await accounts.verify_email(forged)
    assert not (await accounts.users.get(user.id) or user).email_verified


async def test_an_expired_verification_link_is_refused(
    accounts: AccountService, outbox: MemoryOutbox, clock: FrozenClock
) -> None:
    user = await ada(accounts)
    await accounts.send_verification(user.id)
    [token] = links(outbox, "ada@example.com", "verify-email")
    clock.advance(timedelta(hours=accounts.policy.verify_link_hours, seconds=1))
    with pytest.raises(InvalidLink):
        await accounts.check_link(token, TokenPurpose.VERIFY_EMAIL)
    with pytest.raises(InvalidLink):
        await accounts.verify_email(token)
    assert not (await accounts.users.get(user.id) or user).email_verified


async def test_a_reset_link_does_not_verify_and_a_verification_link_does_not_reset(
    accounts: AccountService, outbox: MemoryOutbox
) -> None:
    user = await ada(accounts)
    await accounts.send_verification(user.id)
    await forgot(accounts, "ada@example.com")
    [verify] = links(outbox, "ada@example.com", "verify-email")
    [reset] = links(outbox, "ada@example.com", "reset-password")
    with pytest.raises(InvalidLink):
        await accounts.verify_email(reset)
    with pytest.raises(InvalidLink):
        await accounts.reset_password(verify, "a brand new secret")


async def test_send_the_link_again_is_rate_limited_per_account(
    accounts: AccountService, outbox: MemoryOutbox, clock: FrozenClock
) -> None:
    user = await ada(accounts)
    for _ in range(accounts.policy.verify_mails_per_window):
        assert await accounts.send_verification(user.id)
    with pytest.raises(ResendThrottled) as refused:
        await accounts.send_verification(user.id)
    assert "minute" in refused.value.message
    assert len(links(outbox, "ada@example.com", "verify-email")) == accounts.policy.verify_mails_per_window
    clock.advance(timedelta(seconds=accounts.policy.window_seconds))
    assert await accounts.send_verification(user.id)


async def test_a_verified_address_gets_no_more_links(accounts: AccountService, outbox: MemoryOutbox) -> None:
    user = await accounts.mark_email_verified((await ada(accounts)).id)
    assert user.email_verified
    assert not await accounts.send_verification(user.id)
    assert outbox.sent == []


async def test_any_verification_link_of_the_current_address_works_until_it_expires(
    accounts: AccountService, outbox: MemoryOutbox
) -> None:
    user = await ada(accounts)
    await accounts.send_verification(user.id)
    await accounts.send_verification(user.id)
    first, _second = links(outbox, "ada@example.com", "verify-email")
    assert (await accounts.verify_email(first)).email_verified


# -- changing the e-mail address ----------------------------------------------------------------------


async def test_changing_the_email_reverifies_the_new_address_and_tells_the_old_one(
    accounts: AccountService, outbox: MemoryOutbox
) -> None:
    user = await accounts.mark_email_verified((await ada(accounts)).id)
    changed = await accounts.change_email(user.id, PASSWORD, "ada@lovelace.example")
    assert changed.email == "ada@lovelace.example"
    assert not changed.email_verified
    old_mail = [mail for mail in outbox.sent if mail.to == "ada@example.com"]
    assert len(old_mail) == 1
    assert "ada@lovelace.example" in old_mail[0].text
    [token] = links(outbox, "ada@lovelace.example", "verify-email")
    assert (await accounts.verify_email(token)).email_verified
    _, session = await accounts.log_in("ada@lovelace.example", PASSWORD, "10.0.0.1")
    assert session


async def test_a_link_mailed_to_the_old_address_cannot_verify_the_new_one(
    accounts: AccountService, outbox: MemoryOutbox
) -> None:
    user = await ada(accounts)
    await accounts.send_verification(user.id)
    [old_link] = links(outbox, "ada@example.com", "verify-email")
    await accounts.change_email(user.id, PASSWORD, "someone-else@example.com")
    with pytest.raises(InvalidLink):
        await accounts.verify_email(old_link)
    assert not (await accounts.users.get(user.id) or user).email_verified


@pytest.mark.parametrize(
    ("password", "new_email", "error"),
    [
        ("wrong password", "new@example.com", WrongPassword),
        ("", "new@example.com", WrongPassword),
        (PASSWORD, "not-an-address", Exception),
        (PASSWORD, "ADA@example.com", Exception),
        (PASSWORD, "grace@example.com", EmailTaken),
    ],
)
async def test_a_refused_email_change_changes_nothing_and_mails_nobody(
    accounts: AccountService, outbox: MemoryOutbox, password: str, new_email: str, error: type[Exception]
) -> None:
    user = await accounts.mark_email_verified((await ada(accounts)).id)
    await accounts.sign_up("grace@example.com", "compilers rock")
    with pytest.raises(error):
        await accounts.change_email(user.id, password, new_email)
    assert await accounts.users.get(user.id) == user
    assert outbox.sent == []


# -- changing the password ---------------------------------------------------------------------------


async def test_changing_the_password_ends_every_other_session_but_this_one(
    accounts: AccountService, outbox: MemoryOutbox
) -> None:
    await ada(accounts)
    _, here = await accounts.log_in("ada@example.com", PASSWORD, "10.0.0.1")
    _, laptop = await accounts.log_in("ada@example.com", PASSWORD, "10.0.0.2")
    _, phone = await accounts.log_in("ada@example.com", PASSWORD, "10.0.0.3")
    principal = await accounts.principal_for_session(here)
    assert principal is not None
    ended = await accounts.change_password(principal.id, PASSWORD, "a brand new secret", here)
    assert ended == 2
    assert await accounts.principal_for_session(here) is not None
    assert await accounts.principal_for_session(laptop) is None
    assert await accounts.principal_for_session(phone) is None
    with pytest.raises(InvalidCredentials):
        await accounts.log_in("ada@example.com", PASSWORD, "10.0.0.1")
    await accounts.log_in("ada@example.com", "a brand new secret", "10.0.0.1")
    assert "password was changed" in outbox.sent[-1].subject


@pytest.mark.parametrize(
    ("current", "new", "error"),
    [
        ("wrong password", "a brand new secret", WrongPassword),
        ("", "a brand new secret", WrongPassword),
        (PASSWORD, "short", WeakPassword),
        (PASSWORD, "password1", WeakPassword),
        (PASSWORD, "ADA@example.com", WeakPassword),
        (PASSWORD, "x" * 257, WeakPassword),
    ],
)
async def test_a_refused_password_change_changes_nothing(
    accounts: AccountService, current: str, new: str, error: type[Exception]
) -> None:
    user = await ada(accounts)
    _, here = await accounts.log_in("ada@example.com", PASSWORD, "10.0.0.1")
    _, other = await accounts.log_in("ada@example.com", PASSWORD, "10.0.0.2")
    with pytest.raises(error):
        await accounts.change_password(user.id, current, new, here)
    assert await accounts.users.get(user.id) == user
    assert await accounts.principal_for_session(other) is not None


async def test_wrong_current_passwords_are_limited_per_account(accounts: AccountService) -> None:
    user = await ada(accounts)
    for _ in range(accounts.policy.password_checks_per_window):
        with pytest.raises(WrongPassword):
            await accounts.change_password(user.id, "guess", "a brand new secret", None)
    with pytest.raises(PasswordChecksThrottled):
        await accounts.change_password(user.id, PASSWORD, "a brand new secret", None)  # even the right one
    assert await accounts.users.get(user.id) == user


@pytest.mark.parametrize("password", ["password", "12345678", "iloveyou", "Sunshine", "  qwertyuiop  ", "trustno1"])
def test_common_passwords_from_the_shipped_list_are_refused(password: str) -> None:
    with pytest.raises(WeakPassword, match="most common"):
        check_password(password)


def test_an_uncommon_long_password_is_accepted() -> None:
    assert check_password("mycelium under the oak") == "mycelium under the oak"


async def test_a_hash_made_with_older_argon2_parameters_is_replaced_at_log_in(
    memory: Injector, accounts: AccountService
) -> None:
    user = await ada(accounts)
    assert "t=1" in user.password_hash  # the memory module's cheap parameters
    stronger = AccountService(
        get_port(memory, UserRepository),
        get_port(memory, SessionRepository),
        Argon2PasswordHasher(time_cost=2, memory_cost=128),
        accounts.limiter,
        accounts.uow,
        accounts.clock,
        accounts.policy,
        get_port(memory, TokenRepository),
        accounts.mailer,
    )
    await stronger.log_in("ada@example.com", PASSWORD, "10.0.0.1")
    rehashed = await accounts.users.get(user.id)
    assert rehashed is not None
    assert rehashed.password_hash != user.password_hash
    assert not Argon2(time_cost=2, memory_cost=128, parallelism=1).check_needs_rehash(rehashed.password_hash)
    assert await stronger.log_in("ada@example.com", PASSWORD, "10.0.0.1")  # the new hash works
    again = await accounts.users.get(user.id)
    assert again is not None
    assert again.password_hash == rehashed.password_hash  # current parameters: left alone


# -- forgot password ----------------------------------------------------------------------------------


async def test_forgot_password_mails_a_link_only_to_an_existing_address(
    accounts: AccountService, outbox: MemoryOutbox
) -> None:
    await ada(accounts)
    assert await accounts.request_password_reset("nobody@example.com", "10.0.0.1") == "nobody@example.com"
    assert not await accounts.send_reset_link("nobody@example.com")
    assert outbox.sent == []
    assert await forgot(accounts, "ADA@example.com ")
    assert [m.to for m in outbox.sent] == ["ada@example.com"]
    assert f"{accounts.policy.reset_link_minutes} minutes" in outbox.sent[0].text


async def test_a_reset_link_sets_the_password_once_and_ends_every_session(
    accounts: AccountService, outbox: MemoryOutbox
) -> None:
    await ada(accounts)
    _, laptop = await accounts.log_in("ada@example.com", PASSWORD, "10.0.0.1")
    await forgot(accounts, "ada@example.com")
    [token] = links(outbox, "ada@example.com", "reset-password")
    user = await accounts.reset_password(token, "a brand new secret")
    assert user.email_verified  # the link proved the mailbox
    assert await accounts.principal_for_session(laptop) is None
    with pytest.raises(InvalidLink):
        await accounts.reset_password(token, "yet another secret")
    with pytest.raises(InvalidCredentials):
        await accounts.log_in("ada@example.com", "yet another secret", "10.0.0.1")
    await accounts.log_in("ada@example.com", "a brand new secret", "10.0.0.1")


async def test_an_expired_reset_link_is_refused_and_changes_nothing(
    accounts: AccountService, outbox: MemoryOutbox, clock: FrozenClock
) -> None:
    user = await ada(accounts)
    await forgot(accounts, "ada@example.com")
    [token] = links(outbox, "ada@example.com", "reset-password")
    clock.advance(timedelta(minutes=accounts.policy.reset_link_minutes, seconds=1))
    with pytest.raises(InvalidLink):
        await accounts.reset_password(token, "a brand new secret")
    assert await accounts.users.get(user.id) == user


async def test_a_weak_new_password_does_not_use_up_the_reset_link(
    accounts: AccountService, outbox: MemoryOutbox
) -> None:
    await ada(accounts)
    await forgot(accounts, "ada@example.com")
    [token] = links(outbox, "ada@example.com", "reset-password")
    with pytest.raises(WeakPassword):
        await accounts.reset_password(token, "qwerty123")
    await accounts.reset_password(token, "a brand new secret")


async def test_reset_stays_usable_while_log_in_is_throttled_for_the_address(
    accounts: AccountService, outbox: MemoryOutbox
) -> None:
    await ada(accounts)
    for n in range(accounts.policy.attempts_per_email):
        with pytest.raises(InvalidCredentials):
            await accounts.log_in("ada@example.com", f"stranger guess {n}", "203.0.113.7")
    with pytest.raises(LoginThrottled):
        await accounts.log_in("ada@example.com", PASSWORD, "198.51.100.1")
    await forgot(accounts, "ada@example.com", "198.51.100.1")
    [token] = links(outbox, "ada@example.com", "reset-password")
    await accounts.reset_password(token, "a brand new secret")
    await accounts.log_in("ada@example.com", "a brand new secret", "198.51.100.1")


async def test_reset_links_to_one_address_are_limited_quietly(accounts: AccountService, outbox: MemoryOutbox) -> None:
    await ada(accounts)
    for n in range(accounts.policy.reset_mails_per_email + 3):
        await forgot(accounts, "ada@example.com", f"10.0.{n}.1")
    assert len(links(outbox, "ada@example.com", "reset-password")) == accounts.policy.reset_mails_per_email


async def test_one_network_asking_for_many_resets_is_told_to_wait(accounts: AccountService) -> None:
    for n in range(accounts.policy.reset_requests_per_ip):
        await accounts.request_password_reset(f"probe{n}@example.com", "203.0.113.7")
    with pytest.raises(ResendThrottled):
        await accounts.request_password_reset("ada@example.com", "203.0.113.7")


# -- sessions -------------------------------------------------------------------------------------------


async def test_sessions_list_the_browser_and_network_and_end_one_by_one(
    accounts: AccountService, clock: FrozenClock
) -> None:
    from features.accounts.model import ClientInfo

    user = await ada(accounts)
    firefox = ClientInfo.from_request(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:120.0) Gecko/20100101 Firefox/120.0", "203.0.113.77"
    )
    _, here = await accounts.log_in("ada@example.com", PASSWORD, "203.0.113.77", client=firefox)
    clock.advance(timedelta(minutes=5))
    iphone = ClientInfo.from_request(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.1 Mobile/15E148 Safari/604.1",
        "2001:db8:1234:5678::1",
    )
    _, phone = await accounts.log_in("ada@example.com", PASSWORD, "2001:db8:1234:5678::1", client=iphone)
    sessions = await accounts.list_sessions(user.id, here)
    assert [(s.browser, s.ip_prefix, s.current) for s in sessions] == [
        ("Safari on iPhone", "2001:db8:1234::/48", False),
        ("Firefox on Windows", "203.0.113.0/24", True),
    ]
    with pytest.raises(SessionNotFound):
        await accounts.end_session(uuid4(), sessions[0].id)  # not theirs
    assert await accounts.principal_for_session(phone) is not None
    await accounts.end_session(user.id, sessions[0].id)
    assert await accounts.principal_for_session(phone) is None
    with pytest.raises(SessionNotFound):
        await accounts.end_session(user.id, sessions[0].id)


async def test_log_out_everywhere_else_keeps_only_this_browser(accounts: AccountService) -> None:
    user = await ada(accounts)
    tokens = [(await accounts.log_in("ada@example.com", PASSWORD, "10.0.0.1"))[1] for _ in range(3)]
    assert await accounts.end_other_sessions(user.id, tokens[1]) == 2
    assert [await accounts.principal_for_session(t) is not None for t in tokens] == [False, True, False]


async def test_last_seen_is_written_at_most_once_a_minute(accounts: AccountService, clock: FrozenClock) -> None:
    user = await ada(accounts)
    _, token = await accounts.log_in("ada@example.com", PASSWORD, "10.0.0.1")
    opened = clock.now()
    clock.advance(timedelta(seconds=30))
    await accounts.principal_for_session(token)
    [session] = await accounts.list_sessions(user.id, token)
    assert session.last_seen_at == opened
    clock.advance(timedelta(seconds=31))
    await accounts.principal_for_session(token)
    [session] = await accounts.list_sessions(user.id, token)
    assert session.last_seen_at == clock.now()


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
            "Chrome on Linux",
        ),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) "
            "Version/17.1 Safari/605.1.15",
            "Safari on macOS",
        ),
        ("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/120.0 Safari/537.36 Edg/120.0", "Edge on Windows"),
        ("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/120.0 Mobile Safari/537.36", "Chrome on Android"),
        ("", "Unknown browser"),
        ("<script>alert(1)</script>", "Unknown browser"),
    ],
)
def test_the_browser_is_named_from_the_user_agent(agent: str, expected: str) -> None:
    assert browser_from_user_agent(agent) == expected


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("192.0.2.155", "192.0.2.0/24"),
        ("2001:db8:abcd:12::1", "2001:db8:abcd::/48"),
        ("::ffff:198.51.100.9", "198.51.100.0/24"),
        ("unknown", ""),
        ("", ""),
    ],
)
def test_only_the_network_of_an_address_is_kept(ip: str, expected: str) -> None:
    assert approximate_ip(ip) == expected


async def test_changing_the_email_again_and_again_is_limited_like_resending(
    accounts: AccountService, outbox: MemoryOutbox
) -> None:
    user = await ada(accounts)
    for n in range(accounts.policy.verify_mails_per_window):
        await accounts.change_email(user.id, PASSWORD, f"spam-target-{n}@example.com")
    with pytest.raises(ResendThrottled):
        await accounts.change_email(user.id, PASSWORD, "one-more@example.com")
    current = await accounts.users.get(user.id)
    assert current is not None
    assert current.email == f"spam-target-{accounts.policy.verify_mails_per_window - 1}@example.com"
    assert not [mail for mail in outbox.sent if mail.to == "one-more@example.com"]
