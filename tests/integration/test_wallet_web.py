"""The wallet through HTTP on real PostgreSQL: buying through the sandbox checkout, the webhook
endpoint under replays, forgeries and disorder, refunds, the statement and its CSV, reconciliation."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import hmac
import io
import re
import time
from uuid import UUID

import httpx
from injector import Injector

from core.db import Database
from features.ledger.model import AccountRef, Leg
from features.sandbox_pay.model import SIGNATURE_HEADER
from features.wallet.model import PaymentStatus
from tests.support.forms import form_with
from tests.support.wallet import WalletHarness
from tests.support.web import htmx_events, post_form, sign_up

CHECKOUT = re.compile(r"/sandbox-pay/checkout/(sbp_[\w-]+)")


async def counts(pg: Injector) -> dict[str, int]:
    db = pg.get(Database)
    tables = ["wallet_webhook_inbox", "ledger_transfers", "ledger_entries", "wallet_purchases"]
    return {t: int(await db.fetchval(f"SELECT count(*) FROM {t}")) for t in tables}


async def user_id(pg: Injector, email: str) -> UUID:
    found: UUID = await pg.get(Database).fetchval("SELECT id FROM users WHERE email = $1", email)
    return found


async def start_checkout(client: httpx.AsyncClient, pack: str = "p550") -> str:
    page = await client.get("/wallet")
    response = await post_form(client, "/wallet/checkout", form_with(page.text, "/wallet/checkout", pack=pack))
    assert response.status_code == 303, response.text
    found = CHECKOUT.fullmatch(response.headers["location"])
    assert found, response.headers["location"]
    return found.group(1)


async def test_the_wallet_needs_a_login(client: httpx.AsyncClient) -> None:
    response = await client.get("/wallet", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/login?next=/wallet")
    pill = await client.get("/wallet/pill")  # lazily loaded on pages anyone may see: empty for visitors
    assert (pill.status_code, pill.text) == (200, "")


async def test_a_viewer_buys_a_pack_on_the_sandbox_checkout_and_sees_the_points(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    await sign_up(client, "buyer@example.com")
    page = await client.get("/wallet")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    for price in ("$1.00", "$5.00", "$10.00"):
        assert price in page.text
    assert 'data-testid="wallet-balance">0<' in page.text
    ref = await start_checkout(client, "p550")

    checkout = await client.get(f"/sandbox-pay/checkout/{ref}")
    assert checkout.status_code == 200
    assert "Pay $5.00" in checkout.text
    assert "550 Hypha points" in checkout.text
    waiting = await client.get(f"/wallet/payments/{ref}/status")
    assert 'data-state="processing"' in waiting.text
    assert f'hx-get="/wallet/payments/{ref}/status?n=2"' in waiting.text

    paid = await post_form(client, f"/sandbox-pay/checkout/{ref}/pay", {"card": "4242"})
    assert (paid.status_code, paid.headers["location"]) == (303, f"/wallet/return?ref={ref}")
    # The webhook went out right after the response (in-process, through the app's own endpoint).
    landed = await client.get(paid.headers["location"])
    assert 'data-state="credited"' in landed.text
    assert 'data-testid="new-balance">550<' in landed.text
    status = await client.get(f"/wallet/payments/{ref}/status?n=3")
    assert htmx_events(status) == {"wallet-changed"}
    wallet = await client.get("/wallet")
    assert 'data-testid="wallet-balance">550<' in wallet.text
    assert "Bought 550 Hypha points" in wallet.text
    outbox = await pg.get(Database).fetchrow("SELECT attempts, delivered_at FROM sandbox_webhook_outbox")
    me = await client.get("/me")
    assert 'data-testid="wallet-panel"' in me.text
    assert 'hx-get="/wallet/pill"' in me.text
    pill = await client.get("/wallet/pill")
    assert ">550</a>" in pill.text
    assert outbox is not None
    assert outbox["attempts"] == 1
    assert outbox["delivered_at"] is not None


async def test_a_declined_card_says_so_and_credits_nothing(client: httpx.AsyncClient, pg: Injector) -> None:
    await sign_up(client, "declined@example.com")
    ref = await start_checkout(client, "p100")
    declined = await post_form(client, f"/sandbox-pay/checkout/{ref}/decline", {})
    landed = await client.get(declined.headers["location"])
    assert 'data-state="failed"' in landed.text
    assert "declined" in landed.text
    assert (await counts(pg))["ledger_transfers"] == 0
    again = await post_form(client, f"/sandbox-pay/checkout/{ref}/pay", {})
    assert again.status_code == 409  # a closed checkout cannot be paid


async def test_an_unknown_pack_rerenders_the_buttons_with_an_error_and_stores_nothing(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    await sign_up(client, "picky@example.com")
    response = await post_form(client, "/wallet/checkout", {"pack": "p999", "key": "abc"}, htmx=True)
    assert response.status_code == 422
    assert 'id="packs"' in response.text
    assert "<html" not in response.text
    assert "not on sale" in response.text
    assert (await counts(pg))["wallet_purchases"] == 0


async def test_someone_elses_payment_is_not_found(client: httpx.AsyncClient, pg: Injector) -> None:
    await sign_up(client, "owner@example.com")
    ref = await start_checkout(client)
    await post_form(client, "/logout", {})
    await sign_up(client, "snoop@example.com")
    assert (await client.get(f"/wallet/return?ref={ref}")).status_code == 404
    assert (await client.get(f"/wallet/payments/{ref}/status")).status_code == 404


async def held_webhook(shop: WalletHarness, ref: str) -> tuple[bytes, dict[str, str]]:
    _, ids = await shop.vendor.pay(ref)
    await shop.deliver(ids, hold=True)
    return shop.held.sent[-1]


async def test_a_webhook_replayed_twenty_times_some_at_once_credits_once(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    await sign_up(client, "replay@example.com")
    user = await user_id(pg, "replay@example.com")
    shop = WalletHarness(pg)
    ref = await start_checkout(client, "p1200")
    body, headers = await held_webhook(shop, ref)

    sequential = [await client.post("/webhooks/payments", content=body, headers=headers) for _ in range(10)]
    concurrent = await asyncio.gather(
        *(client.post("/webhooks/payments", content=body, headers=headers) for _ in range(10))
    )
    outcomes = [r.json()["outcome"] for r in [*sequential, *concurrent]]
    assert all(r.status_code == 200 for r in [*sequential, *concurrent])
    assert outcomes.count("applied") == 1
    assert outcomes.count("duplicate") == 19
    assert await shop.balance(user) == 1200
    assert (await counts(pg))["ledger_transfers"] == 1
    assert (await counts(pg))["wallet_webhook_inbox"] == 1


async def test_two_different_events_for_one_payment_at_once_converge(client: httpx.AsyncClient, pg: Injector) -> None:
    await sign_up(client, "race@example.com")
    user = await user_id(pg, "race@example.com")
    shop = WalletHarness(pg)
    ref = await start_checkout(client, "p550")
    paid = await held_webhook(shop, ref)
    _, ids = await shop.vendor.refund(ref, "half", 250)
    await shop.deliver(ids, hold=True)
    refunded = shop.held.sent[-1]
    responses = await asyncio.gather(
        *(client.post("/webhooks/payments", content=b, headers=h) for b, h in [paid, refunded] * 3)
    )
    assert all(r.status_code == 200 for r in responses)
    assert await shop.balance(user) == 275
    assert (await counts(pg))["ledger_transfers"] == 2


async def test_a_won_dispute_webhook_replayed_twenty_times_some_at_once_restores_once(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    await sign_up(client, "won@example.com")
    user = await user_id(pg, "won@example.com")
    shop = WalletHarness(pg)
    ref = await start_checkout(client, "p550")
    paid = await held_webhook(shop, ref)
    _, ids = await shop.vendor.open_dispute(ref, "dispute-1")
    await shop.deliver(ids, hold=True)
    disputed = shop.held.sent[-1]
    for body, headers in (paid, disputed):
        assert (await client.post("/webhooks/payments", content=body, headers=headers)).json()["outcome"] == "applied"
    assert await shop.balance(user) == 0
    _, ids = await shop.vendor.win_dispute(ref)
    await shop.deliver(ids, hold=True)
    won_body, won_headers = shop.held.sent[-1]

    sequential = [await client.post("/webhooks/payments", content=won_body, headers=won_headers) for _ in range(10)]
    concurrent = await asyncio.gather(
        *(client.post("/webhooks/payments", content=b, headers=h) for b, h in [(won_body, won_headers), disputed] * 5)
    )
    outcomes = [r.json()["outcome"] for r in [*sequential, *concurrent]]
    assert (outcomes.count("applied"), outcomes.count("duplicate")) == (1, 19)
    assert await shop.balance(user) == 550
    kinds = await pg.get(Database).fetch("SELECT kind FROM ledger_transfers ORDER BY created_at, kind")
    assert sorted(r["kind"] for r in kinds) == ["chargeback", "dispute_won", "purchase"]
    assert await shop.ledger.verify() == []


async def test_forged_tampered_and_stale_webhooks_get_400_and_write_nothing(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    await sign_up(client, "forged@example.com")
    shop = WalletHarness(pg)
    ref = await start_checkout(client)
    body, headers = await held_webhook(shop, ref)
    secret = await shop.vendor.webhook_secret()
    now = int(time.time())

    def signed(payload: bytes, timestamp: int, key: str = secret) -> dict[str, str]:
        mac = hmac.new(key.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
        return {SIGNATURE_HEADER: f"t={timestamp},v1={mac}", "content-type": "application/json"}

    before = await counts(pg)
    attempts = [
        (body.replace(b'"amount":500', b'"amount":5'), headers),  # tampered body
        (body, signed(body, now, "whsec_guessed")),  # forged signature
        (body, signed(body, now - 301)),  # stale
        (body, {"content-type": "application/json"}),  # unsigned
        (b"not json at all", signed(b"not json at all", now)),  # signed garbage
    ]
    for attempt_body, attempt_headers in attempts:
        response = await client.post("/webhooks/payments", content=attempt_body, headers=attempt_headers)
        assert response.status_code == 400, response.text
    assert await counts(pg) == before
    ok = await client.post("/webhooks/payments", content=body, headers=signed(body, now - 10))
    assert ok.json() == {"outcome": "applied"}


async def test_a_refund_event_before_the_paid_event_ends_refunded(client: httpx.AsyncClient, pg: Injector) -> None:
    await sign_up(client, "disorder@example.com")
    user = await user_id(pg, "disorder@example.com")
    shop = WalletHarness(pg)
    ref = await start_checkout(client, "p100")
    paid = await held_webhook(shop, ref)
    _, ids = await shop.vendor.refund(ref, "all")
    await shop.deliver(ids, hold=True)
    refunded = shop.held.sent[-1]
    for body, headers in (refunded, paid):
        assert (await client.post("/webhooks/payments", content=body, headers=headers)).status_code == 200
    assert await shop.balance(user) == 0
    purchase = await shop.wallet.purchases.get(ref)
    assert purchase is not None
    assert purchase.status is PaymentStatus.REFUNDED
    kinds = sorted(t.kind for t in await shop.ledger.transfers_with_metadata("payment_ref", ref))
    assert kinds == ["purchase", "refund"]


async def make_staff(pg: Injector, email: str) -> None:
    await pg.get(Database).execute("UPDATE users SET is_staff = true WHERE email = $1", email)


async def test_a_refund_from_the_vendor_console_takes_spent_points_back_and_locks_the_wallet(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    await sign_up(client, "spender@example.com")
    user = await user_id(pg, "spender@example.com")
    shop = WalletHarness(pg)
    ref = await start_checkout(client, "p550")
    await post_form(client, f"/sandbox-pay/checkout/{ref}/pay", {})
    await shop.ledger.transfer(
        "test-unlock-1", "unlock", [Leg(AccountRef.wallet(user), AccountRef.earnings(UUID(int=7)), 500)]
    )
    assert (await client.get("/sandbox-pay/admin")).status_code == 403
    await make_staff(pg, "spender@example.com")
    console = await client.get("/sandbox-pay/admin")
    assert ref in console.text
    refund = await post_form(client, f"/sandbox-pay/admin/{ref}/refund", {"amount_minor": "", "idempotency_key": "x"})
    assert refund.status_code == 303
    assert await shop.balance(user) == -500
    wallet = await client.get("/wallet")
    assert 'data-testid="wallet-locked"' in wallet.text
    assert "Top up to unlock again" in wallet.text
    assert "Refund of a pack purchase" in wallet.text


async def test_a_dispute_won_from_the_vendor_console_restores_the_points_on_the_statement(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    await sign_up(client, "disputed@example.com")
    user = await user_id(pg, "disputed@example.com")
    shop = WalletHarness(pg)
    ref = await start_checkout(client, "p550")
    await post_form(client, f"/sandbox-pay/checkout/{ref}/pay", {})
    await shop.ledger.transfer(
        "test-unlock-2", "unlock", [Leg(AccountRef.wallet(user), AccountRef.earnings(UUID(int=7)), 500)]
    )
    await make_staff(pg, "disputed@example.com")
    opened = await post_form(client, f"/sandbox-pay/admin/{ref}/dispute", {"idempotency_key": "d"})
    assert opened.status_code == 303
    assert await shop.balance(user) == -500
    console = await client.get("/sandbox-pay/admin")
    assert f'action="/sandbox-pay/admin/{ref}/dispute/win"' in console.text

    won = await post_form(client, f"/sandbox-pay/admin/{ref}/dispute/win", {})
    assert won.status_code == 303
    again = await post_form(client, f"/sandbox-pay/admin/{ref}/dispute/win", {})  # a double click
    assert again.status_code == 303
    assert await shop.balance(user) == 50
    assert f'action="/sandbox-pay/admin/{ref}/dispute/win"' not in (await client.get("/sandbox-pay/admin")).text
    wallet = await client.get("/wallet")
    assert 'data-testid="wallet-balance">50<' in wallet.text
    assert 'data-testid="wallet-locked"' not in wallet.text
    assert "Dispute won — points restored" in wallet.text
    assert "Chargeback (card payment disputed)" in wallet.text
    rows = list(csv.DictReader(io.StringIO((await client.get("/wallet/statement.csv")).text)))
    assert [(r["type"], r["description"], r["points"]) for r in rows[:2]] == [
        ("dispute_won", "Dispute won — points restored", "550"),
        ("chargeback", "Chargeback (card payment disputed)", "-550"),
    ]
    restored = await pg.get(Database).fetchval("SELECT count(*) FROM ledger_transfers WHERE kind = 'dispute_won'")
    assert restored == 1
    assert await shop.ledger.verify() == []


async def test_the_statement_pages_by_twenty_and_exports_everything_as_csv(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    await sign_up(client, "saver@example.com")
    user = await user_id(pg, "saver@example.com")
    shop = WalletHarness(pg)
    for i in range(25):
        await shop.ledger.transfer(
            f"gift:{i}", "purchase", [Leg(AccountRef.vendor_clearing(), AccountRef.wallet(user), 10)], {"pack": "p100"}
        )
    first = await client.get("/wallet")
    assert first.text.count("Bought 100 Hypha points") == 20
    older = re.search(r'href="(/wallet\?before=\d+)"', first.text)
    assert older
    second = await client.get(older.group(1), headers={"hx-request": "true", "hx-target": "statement"})
    assert "<html" not in second.text
    assert second.text.count("Bought 100 Hypha points") == 5
    assert "Older" not in second.text
    assert "Latest" in second.text

    export = await client.get("/wallet/statement.csv")
    assert export.status_code == 200
    assert export.headers["content-type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="hypha-wallet-\d{4}-\d{2}-\d{2}\.csv"', export.headers["content-disposition"]
    )
    rows = list(csv.DictReader(io.StringIO(export.text)))
    assert len(rows) == 25
    assert rows[0]["balance_after"] == "250"
    assert rows[-1]["balance_after"] == "10"
    assert {r["points"] for r in rows} == {"10"}


async def test_reconciliation_heals_a_payment_whose_webhook_never_came_and_reports_a_mismatch(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    await sign_up(client, "boss@example.com")
    user = await user_id(pg, "boss@example.com")
    shop = WalletHarness(pg)
    ref = await start_checkout(client, "p550")
    await shop.vendor.pay(ref)  # paid at the vendor; its webhook is never delivered
    odd = await shop.vendor.create_checkout(
        "odd", 999, "USD", "100 points", {"user_id": str(user), "pack": "p100"}, "/", "/"
    )
    await shop.vendor.pay(odd.id)
    assert await shop.balance(user) == 0

    assert (await client.get("/staff/reconciliation")).status_code == 403
    await make_staff(pg, "boss@example.com")
    page = await client.get("/staff/reconciliation")
    assert "No runs yet" in page.text
    ran = await post_form(client, "/staff/reconciliation/run", {"since": "2000-01-01", "until": ""})
    assert ran.status_code == 303
    assert await shop.balance(user) == 550
    page = await client.get("/staff/reconciliation")
    assert "missing credit" in page.text
    assert ref in page.text
    assert "amount mismatch" in page.text
    assert odd.id in page.text
    [first] = await shop.wallet.reconciliation_runs()
    again = await shop.wallet.reconcile(first.since, first.until)
    assert [f.kind.value for f in again.findings] == ["amount_mismatch"]
    assert await shop.balance(user) == 550


async def test_a_bad_reconciliation_period_rerenders_the_form(client: httpx.AsyncClient, pg: Injector) -> None:
    await sign_up(client, "ops@example.com")
    await make_staff(pg, "ops@example.com")
    response = await post_form(client, "/staff/reconciliation/run", {"since": "yesterday"}, htmx=True)
    assert response.status_code == 422
    assert 'id="reconcile-form"' in response.text
    assert "YYYY-MM-DD" in response.text
    assert int(await pg.get(Database).fetchval("SELECT count(*) FROM wallet_reconciliation_runs")) == 0


async def test_two_clicks_on_the_same_buy_button_at_once_open_one_checkout(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    await sign_up(client, "clicker@example.com")
    page = await client.get("/wallet")
    click = form_with(page.text, "/wallet/checkout", pack="p100")
    clicks = await asyncio.gather(*(post_form(client, "/wallet/checkout", click) for _ in range(5)))
    assert len({c.headers["location"] for c in clicks}) == 1
    assert (await counts(pg))["wallet_purchases"] == 1
    assert int(await pg.get(Database).fetchval("SELECT count(*) FROM sandbox_payments")) == 1
