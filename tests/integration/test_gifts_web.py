"""Gift points on real PostgreSQL: sending over HTTP, claiming only with a confirmed address (once, even
from two log-ins at once), returning after expiry with a moved clock; the ledger verifies after each
(the `pg` fixture checks it)."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta
from uuid import UUID

import httpx
import msgspec
from injector import Binder, Injector, InstanceProvider, Module

from core.clock import Clock, FrozenClock
from core.db import Database
from core.di import bind_port, build_injector, get_port
from core.events import EventBus
from core.postgres import PostgresEventBus, PostgresRateLimiter
from core.ratelimit import RateLimiter
from core.settings import Settings
from core.uow import UnitOfWork
from features.accounts.service import AccountService
from features.bootstrap import features_for
from features.gifts.model import GiftState
from features.gifts.service import GiftService
from features.ledger.model import AccountRef
from features.ledger.service import LedgerService
from features.notifications.ports import Outbox
from tests.conftest import app_client
from tests.support.videos import fund, person
from tests.support.web import log_in, post_form, sign_up, verify_from_outbox

PASSWORD = "correct horse battery"


def key() -> str:
    return secrets.token_urlsafe(18)


async def wallet(injector: Injector, user_id: UUID) -> int:
    return await injector.get(LedgerService).balance(AccountRef.wallet(user_id))


async def held(injector: Injector) -> int:
    return await injector.get(LedgerService).balance(AccountRef.gifts_pending())


async def mails_to(injector: Injector, address: str) -> list[str]:
    page = await get_port(injector, Outbox).page(address, 1, 50)
    return [f"{mail.subject}\n{mail.text}" for mail in page.mails]


async def sender_client(client: httpx.AsyncClient, injector: Injector, points: int = 500) -> tuple[str, UUID]:
    email = f"alice-{secrets.token_hex(3)}@example.com"
    await sign_up(client, email)
    user = await injector.get(AccountService).users.by_email(email)
    assert user is not None
    await fund(injector, user.id, points)
    return email, user.id


async def test_a_gift_leaves_the_wallet_at_once_and_the_recipient_is_mailed(
    pg: Injector, client: httpx.AsyncClient
) -> None:
    _, alice = await sender_client(client, pg)
    bob = f"bob-{secrets.token_hex(3)}@example.com"
    answer = await post_form(
        client, "/gifts", {"amount": "120", "email": bob.upper(), "message": "Enjoy!", "key": key()}
    )
    assert answer.status_code == 303
    assert await wallet(pg, alice) == 380
    assert await held(pg) == 120
    mails = await mails_to(pg, bob)
    assert len(mails) == 1
    assert "sent you 120 points" in mails[0]
    assert "Enjoy!" in mails[0]
    page = await client.get("/gifts")
    assert bob in page.text
    assert "Waiting for the recipient" in page.text
    assert 'data-testid="gifts-loader"' in (await client.get("/wallet")).text


async def test_a_retried_form_sends_once(pg: Injector, client: httpx.AsyncClient) -> None:
    _, alice = await sender_client(client, pg)
    form = {"amount": "50", "email": "carol@example.com", "message": "", "key": key()}
    answers = await asyncio.gather(*(post_form(client, "/gifts", form, htmx=True) for _ in range(3)))
    assert {a.status_code for a in answers} == {200}
    assert await wallet(pg, alice) == 450
    assert len(await pg.get(GiftService).sent_by(alice)) == 1
    other = await post_form(client, "/gifts", {**form, "amount": "60"}, htmx=True)
    assert other.status_code == 409
    assert await wallet(pg, alice) == 450


async def test_bad_gifts_re_render_with_a_message_and_change_nothing(pg: Injector, client: httpx.AsyncClient) -> None:
    email, alice = await sender_client(client, pg, points=100)
    cases = {
        "amount": [
            ("0", "x@example.com"),
            ("abc", "x@example.com"),
            ("10001", "x@example.com"),
            ("101", "x@example.com"),
        ],
        "email": [("20", "not-an-address"), ("20", email.upper())],
    }
    for field, values in cases.items():
        for amount, address in values:
            answer = await post_form(client, "/gifts", {"amount": amount, "email": address, "key": key()}, htmx=True)
            assert answer.status_code == 422, (amount, address, answer.text)
            assert f'id="e-{field}"' in answer.text, (amount, address)
    long = await post_form(
        client, "/gifts", {"amount": "20", "email": "x@example.com", "message": "x" * 281, "key": key()}
    )
    assert long.status_code == 422
    assert await wallet(pg, alice) == 100
    assert await held(pg) == 0


async def test_only_a_confirmed_address_claims_and_only_once(pg: Injector, settings: Settings) -> None:
    alice = await person(pg, "Alice")
    await fund(pg, alice.id, 300)
    bob = f"bob-{secrets.token_hex(3)}@example.com"
    gifts = pg.get(GiftService)
    await gifts.send(alice, "200", bob, "", key())
    async with app_client(pg, settings) as browser:
        await sign_up(browser, bob, verified=False)  # logged in, address not confirmed: nothing lands
        user = await pg.get(AccountService).users.by_email(bob)
        assert user is not None
        await log_in(browser, bob)
        assert await wallet(pg, user.id) == 0
        await verify_from_outbox(browser)  # confirming the address claims the gift
        assert await wallet(pg, user.id) == 200
        assert "Gift received: from Alice" in (await browser.get("/wallet")).text
    assert await held(pg) == 0
    [gift] = await gifts.sent_by(alice.id)
    assert gift.state is GiftState.CLAIMED
    assert gift.claimed_by == user.id


async def test_two_log_ins_at_once_claim_each_gift_once(pg: Injector, settings: Settings) -> None:
    alice = await person(pg, "Alice")
    await fund(pg, alice.id, 300)
    bob = await person(pg, "Bob")
    gifts = pg.get(GiftService)
    for amount in ("30", "70"):
        await gifts.send(alice, amount, bob.email, "", key())
    async with app_client(pg, settings) as one, app_client(pg, settings) as two:
        await asyncio.gather(log_in(one, bob.email), log_in(two, bob.email))
    user = await pg.get(AccountService).get_user(bob.id)
    assert user is not None
    again = await asyncio.gather(*(gifts.claim_for(user) for _ in range(4)))
    assert again == [[], [], [], []]
    assert await wallet(pg, bob.id) == 100
    assert await held(pg) == 0
    assert [g.state for g in await gifts.sent_by(alice.id)] == [GiftState.CLAIMED, GiftState.CLAIMED]


class FrozenTime(Module):
    def __init__(self, db: Database, clock: FrozenClock) -> None:
        self.db = db
        self.clock = clock

    def configure(self, binder: Binder) -> None:
        binder.bind(Database, to=InstanceProvider(self.db))
        bind_port(binder, UnitOfWork, self.db)
        bind_port(binder, Clock, self.clock)
        bind_port(binder, EventBus, PostgresEventBus(self.db))
        bind_port(binder, RateLimiter, PostgresRateLimiter(self.db, self.clock))


async def test_an_unclaimed_gift_returns_once_after_the_period(pg: Injector, settings: Settings) -> None:
    chosen = msgspec.structs.replace(settings, gift_return_days=30)
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    injector = build_injector(chosen, features_for(chosen), FrozenTime(pg.get(Database), clock))
    gifts = injector.get(GiftService)
    alice = await person(injector, "Alice")
    await fund(injector, alice.id, 300)
    await gifts.send(alice, "100", "nobody@example.com", "", key())
    clock.advance(timedelta(days=29, hours=23))
    assert await gifts.return_expired() == []
    clock.advance(timedelta(hours=1))
    runs = await asyncio.gather(gifts.return_expired(), gifts.return_expired())
    assert sorted(len(r) for r in runs) == [0, 1]
    assert await gifts.return_expired() == []
    assert await wallet(injector, alice.id) == 300
    assert await held(injector) == 0
    [gift] = await gifts.sent_by(alice.id)
    assert gift.state is GiftState.RETURNED
    assert any("Your gift was returned" in m for m in await mails_to(injector, alice.email))
    # The address confirmed after the return claims nothing.
    late = await person(injector, "Nobody")
    user = await injector.get(AccountService).get_user(late.id)
    assert user is not None
    assert await gifts.claim_for(user) == []


async def test_sends_are_rate_limited(pg: Injector, settings: Settings) -> None:
    chosen = msgspec.structs.replace(settings, gifts_per_sender_per_day=2)
    injector = build_injector(chosen, features_for(chosen), FrozenTime(pg.get(Database), FrozenClock()))
    async with app_client(injector, chosen) as client:
        _, alice = await sender_client(client, injector)
        for n in range(2):
            answer = await post_form(client, "/gifts", {"amount": "10", "email": f"f{n}@example.com", "key": key()})
            assert answer.status_code == 303
        refused = await post_form(
            client, "/gifts", {"amount": "10", "email": "f9@example.com", "key": key()}, htmx=True
        )
        assert refused.status_code == 429
        assert "retry-after" in refused.headers
    assert await wallet(injector, alice) == 480
