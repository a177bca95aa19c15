from datetime import timedelta

import pytest
from injector import Injector

from core.clock import Clock, FrozenClock
from core.di import get_port
from features.accounts.model import EmailTaken, InvalidCredentials, InvalidEmail, LoginThrottled, WeakPassword
from features.accounts.service import AccountService


@pytest.fixture
def accounts(memory: Injector) -> AccountService:
    return memory.get(AccountService)


async def test_sign_up_then_log_in_opens_a_session_that_identifies_the_user(accounts: AccountService) -> None:
    user = await accounts.sign_up("Ada@Example.com", "analytical engine")
    _, token = await accounts.log_in("ada@example.com", "analytical engine", "10.0.0.1")
    principal = await accounts.principal_for_session(token)
    assert principal is not None
    assert principal.id == user.id
    assert principal.email == "Ada@Example.com"
    assert not principal.is_creator


@pytest.mark.parametrize(
    ("email", "password", "error"),
    [
        ("not-an-email", "long enough pw", InvalidEmail),
        ("a@b", "long enough pw", InvalidEmail),
        ("ada@example.com", "short", WeakPassword),
    ],
)
async def test_bad_sign_up_input_is_refused_and_nothing_is_stored(
    accounts: AccountService, email: str, password: str, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await accounts.sign_up(email, password)
    assert await accounts.users.by_email(email) is None


async def test_an_email_can_be_used_once_whatever_its_case(accounts: AccountService) -> None:
    await accounts.sign_up("grace@example.com", "compilers rock")
    with pytest.raises(EmailTaken):
        await accounts.sign_up("  GRACE@example.com ", "another password")


async def test_logging_in_rotates_the_session_and_logging_out_destroys_it(accounts: AccountService) -> None:
    await accounts.sign_up("linus@example.com", "kernel hacker")
    _, first = await accounts.log_in("linus@example.com", "kernel hacker", "ip")
    _, second = await accounts.log_in("linus@example.com", "kernel hacker", "ip", old_token=first)
    assert first != second
    assert await accounts.principal_for_session(first) is None
    assert await accounts.principal_for_session(second) is not None
    await accounts.log_out(second)
    assert await accounts.principal_for_session(second) is None


async def test_a_wrong_password_and_an_unknown_email_give_the_same_error(accounts: AccountService) -> None:
    await accounts.sign_up("margaret@example.com", "apollo guidance")
    with pytest.raises(InvalidCredentials) as wrong:
        await accounts.log_in("margaret@example.com", "wrong password", "ip")
    with pytest.raises(InvalidCredentials) as unknown:
        await accounts.log_in("nobody@example.com", "wrong password", "ip")
    assert str(wrong.value) == str(unknown.value)


async def test_failed_logins_are_limited_per_email_until_the_window_passes(memory: Injector) -> None:
    accounts = memory.get(AccountService)
    clock = get_port(memory, Clock)
    await accounts.sign_up("target@example.com", "the real password")
    for attempt in range(accounts.policy.attempts_per_email):
        with pytest.raises(InvalidCredentials):
            await accounts.log_in("target@example.com", f"guess {attempt}", f"ip-{attempt}")
    with pytest.raises(LoginThrottled):
        await accounts.log_in("target@example.com", "the real password", "fresh-ip")
    if isinstance(clock, FrozenClock):
        clock.advance(timedelta(seconds=accounts.policy.window_seconds + 1))
        _, token = await accounts.log_in("target@example.com", "the real password", "fresh-ip")
        assert token


async def test_attempts_are_limited_per_ip_across_emails(accounts: AccountService) -> None:
    for n in range(accounts.policy.attempts_per_ip):
        with pytest.raises(InvalidCredentials):
            await accounts.log_in(f"user{n}@example.com", "whatever pw", "203.0.113.9")
    with pytest.raises(LoginThrottled):
        await accounts.log_in("someone@example.com", "whatever pw", "203.0.113.9")


async def test_becoming_a_creator_is_idempotent(accounts: AccountService) -> None:
    user = await accounts.sign_up("maker@example.com", "making things")
    assert (await accounts.become_creator(user.id)).is_creator
    assert (await accounts.become_creator(user.id)).is_creator
