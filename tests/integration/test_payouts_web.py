"""/studio/payouts through HTTP on real PostgreSQL: who may see it, what it shows, requesting a payout
until it is paid, bad input, another creator's payout, the CSV, the staff switch that makes the next
sandbox payout fail, and the webhook endpoint."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import httpx
from injector import Injector

from core.clock import FrozenClock
from core.db import Database
from core.ids import public_id
from core.settings import Settings
from features.ledger.adapters import PostgresLedgerRepository
from features.ledger.model import AccountRef, Leg
from features.ledger.service import LedgerService
from features.payouts.jobs import settle_and_apply
from features.payouts.sandbox import SandboxPayoutVendor
from features.payouts.service import PayoutService
from tests.conftest import app_client
from tests.support.forms import form_with
from tests.support.web import log_in, post_form, sign_up

KEY = re.compile(r'name="key" value="([^"]+)"')


async def user_id(pg: Injector, email: str) -> UUID:
    found: UUID = await pg.get(Database).fetchval("SELECT id FROM users WHERE email = $1", email)
    return found


async def earn(pg: Injector, creator: UUID, points: int, days_ago: float) -> None:
    """Points a viewer spent on the creator `days_ago` (the ledger stamps transfers with its clock)."""
    clock = FrozenClock(datetime.now(UTC) - timedelta(days=days_ago))
    ledger = LedgerService(PostgresLedgerRepository(pg.get(Database)), clock)
    viewer, key = uuid4(), public_id()
    await ledger.transfer(
        f"buy-{key}", "purchase", [Leg(AccountRef.vendor_clearing(), AccountRef.wallet(viewer), points)]
    )
    await ledger.transfer(
        f"unlock-{key}", "unlock", [Leg(AccountRef.wallet(viewer), AccountRef.earnings(creator), points)]
    )


async def creator(client: httpx.AsyncClient, pg: Injector, email: str) -> UUID:
    await sign_up(client, email)
    response = await post_form(client, "/me/creator", {})
    assert response.status_code in (200, 303), response.text
    return await user_id(pg, email)


async def request_payout(client: httpx.AsyncClient, points: str = "", *, htmx: bool = False) -> httpx.Response:
    page = await client.get("/studio/payouts")
    form = form_with(page.text, "/studio/payouts/request")
    return await post_form(client, "/studio/payouts/request", form | {"points": points}, htmx=htmx)


async def settle_due(pg: Injector) -> int:
    """Time passes at the sandbox vendor: every pending payout is due, and is settled."""
    await pg.get(Database).execute("UPDATE payout_sandbox_payouts SET settle_at = now() - interval '1 second'")
    return await settle_and_apply(pg.get(SandboxPayoutVendor), pg.get(PayoutService))


async def test_payouts_are_for_creators_only(client: httpx.AsyncClient) -> None:
    response = await client.get("/studio/payouts", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/login?next=/studio/payouts")
    await sign_up(client, "viewer@example.com")
    assert (await client.get("/studio/payouts")).status_code == 403
    assert (await client.get("/studio/payouts.csv")).status_code == 403
    refused = await post_form(client, "/studio/payouts/request", {"key": "k-1"})
    assert refused.status_code == 403


async def test_the_page_shows_what_is_available_on_hold_and_why_the_button_is_disabled(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    me = await creator(client, pg, "maker@example.com")
    await earn(pg, me, 1500, days_ago=8)
    await earn(pg, me, 800, days_ago=2)
    page = await client.get("/studio/payouts")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert 'data-testid="available">1,500<' in page.text
    assert 'data-testid="on-hold">800<' in page.text
    assert 'data-testid="minimum">2,000<' in page.text
    release = (datetime.now(UTC) + timedelta(days=5)).strftime("%Y-%m-%d")
    assert "available on <time" in page.text
    assert release in page.text
    button = re.search(r'<button[^>]*data-testid="request-payout"[^>]*>', page.text)
    assert button is not None
    assert "disabled" in button.group(0)
    assert "The minimum payout is 2,000 points; 1,500 points are available." in page.text
    assert "No payouts yet" in page.text


async def test_a_creator_requests_a_payout_and_sees_it_paid_with_its_ledger_trail(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    me = await creator(client, pg, "maker@example.com")
    await earn(pg, me, 2500, days_ago=8)
    response = await request_payout(client)
    assert (response.status_code, response.headers["location"]) == (303, "/studio/payouts")
    page = await client.get("/studio/payouts")
    assert "is on its way" in page.text
    assert 'data-state="PROCESSING"' in page.text
    assert 'hx-trigger="every 3s"' in page.text  # the statement follows the payout
    assert 'data-testid="available">0<' in page.text

    assert await settle_due(pg) == 1
    fragment = await client.get("/studio/payouts/statement", headers={"hx-request": "true"})
    assert 'data-state="PAID"' in fragment.text
    assert "<html" not in fragment.text
    assert "every 3s" not in fragment.text  # nothing left to follow

    payout_id = re.search(r'data-payout="([^"]+)"', fragment.text)
    assert payout_id is not None
    detail = await client.get(f"/studio/payouts/{payout_id.group(1)}")
    assert detail.status_code == 200
    assert 'data-testid="payout-state">paid<' in detail.text
    assert re.findall(r'data-step="(\w+)"', detail.text) == ["request", "paid"]
    assert "Payouts in transit" in detail.text
    assert "Payment vendor" in detail.text

    ledger = pg.get(LedgerService)
    accounts = [AccountRef.earnings(me), AccountRef.payouts_in_transit(), AccountRef.vendor_clearing()]
    assert list((await ledger.balances(accounts)).values()) == [0, 0, 0]
    assert await ledger.verify() == []

    exported = await client.get("/studio/payouts.csv")
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["payout_id"], r["state"], r["points"], r["amount_minor"], r["currency"]) for r in rows] == [
        (payout_id.group(1), "PAID", "2500", "2500", "USD")
    ]
    assert rows[0]["paid_at"].endswith("Z")


async def test_a_second_click_with_the_same_form_makes_no_second_payout(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    me = await creator(client, pg, "maker@example.com")
    await earn(pg, me, 4000, days_ago=8)
    page = await client.get("/studio/payouts")
    key = KEY.search(page.text)
    assert key is not None
    first = await post_form(client, "/studio/payouts/request", {"key": key.group(1), "points": "2000"})
    second = await post_form(client, "/studio/payouts/request", {"key": key.group(1), "points": "2000"})
    assert first.status_code == second.status_code == 303
    count = await pg.get(Database).fetchval("SELECT count(*) FROM payouts WHERE creator_id = $1", me)
    assert count == 1
    assert 'data-testid="available">2,000<' in (await client.get("/studio/payouts")).text


async def test_bad_input_is_refused_inline_with_422_and_nothing_is_stored(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    me = await creator(client, pg, "maker@example.com")
    await earn(pg, me, 2500, days_ago=8)
    for points, message in (("abc", "Enter a whole number of points"), ("9999", "at most 2,500"), ("100", "minimum")):
        response = await request_payout(client, points)
        assert response.status_code == 422, points
        assert 'class="field-error"' in response.text
        assert message in response.text
        assert "<html" in response.text  # a plain form post gets the whole page back
    fragment = await request_payout(client, "-3", htmx=True)
    assert fragment.status_code == 422
    assert fragment.text.lstrip().startswith('<div class="card" id="payout-summary">')
    assert 'value="-3"' in fragment.text

    bad_account = await post_form(client, "/studio/payouts/account", {"stripe_account_id": "acct_<b>"}, htmx=True)
    assert bad_account.status_code == 422
    assert "acct_1A2b3C4d5E6f7G8h" in bad_account.text
    assert 'id="payout-account"' in bad_account.text
    assert "acct_&lt;b&gt;" in bad_account.text
    db = pg.get(Database)
    assert await db.fetchval("SELECT count(*) FROM payouts") == 0
    assert await db.fetchval("SELECT stripe_account_id FROM payout_payees WHERE creator_id = $1", me) == ""

    saved = await post_form(client, "/studio/payouts/account", {"stripe_account_id": "acct_1A2b3C4d5E6f7G8h"})
    assert saved.status_code == 303
    assert 'value="acct_1A2b3C4d5E6f7G8h"' in (await client.get("/studio/payouts")).text


async def test_another_creators_payout_is_not_found(
    client: httpx.AsyncClient, pg: Injector, settings: Settings
) -> None:
    me = await creator(client, pg, "maker@example.com")
    await earn(pg, me, 2000, days_ago=8)
    assert (await request_payout(client)).status_code == 303
    payout_id = await pg.get(Database).fetchval("SELECT id FROM payouts WHERE creator_id = $1", me)
    assert (await client.get(f"/studio/payouts/{payout_id}")).status_code == 200
    async with app_client(pg, settings) as other:
        await creator(other, pg, "rival@example.com")
        assert (await other.get(f"/studio/payouts/{payout_id}")).status_code == 404
        assert (await other.get(f"/studio/payouts/{uuid4()}")).status_code == 404
        assert str(payout_id) not in (await other.get("/studio/payouts.csv")).text


async def test_staff_make_the_next_sandbox_payout_fail_and_the_points_come_back(
    client: httpx.AsyncClient, pg: Injector, settings: Settings
) -> None:
    me = await creator(client, pg, "maker@example.com")
    await earn(pg, me, 2000, days_ago=8)
    assert (await client.get("/staff/payouts")).status_code == 403
    async with app_client(pg, settings) as staff:
        await sign_up(staff, "root@example.com")
        await pg.get(Database).execute("UPDATE users SET is_staff = true WHERE email = 'root@example.com'")
        await log_in(staff, "root@example.com")
        bad = await post_form(staff, "/staff/payouts/fail-next", {"count": "many"})
        assert bad.status_code == 422
        armed = await post_form(staff, "/staff/payouts/fail-next", {"count": "1"})
        assert armed.status_code == 303
        assert "The next <strong>1</strong> payout will fail." in (await staff.get("/staff/payouts")).text

        assert (await request_payout(client)).status_code == 303
        await pg.get(Database).execute("UPDATE payout_sandbox_payouts SET settle_at = now() - interval '1 second'")
        settled = await post_form(staff, "/staff/payouts/settle", {})
        assert settled.status_code == 303
        console = await staff.get("/staff/payouts")
        assert 'badge-danger">failed<' in console.text
        assert "Payouts succeed." in console.text

    page = await client.get("/studio/payouts")
    assert 'data-state="FAILED"' in page.text
    assert "bank refused" in page.text
    assert 'data-testid="available">2,000<' in page.text
    assert await pg.get(LedgerService).verify() == []


async def test_the_webhook_endpoint_needs_no_csrf_token_but_a_signature(client: httpx.AsyncClient) -> None:
    response = await client.post("/webhooks/payouts", content=b'{"id": "evt_1"}')
    assert response.status_code == 400  # refused for its signature (the sandbox sends none), not for CSRF
    assert "webhooks" in response.json()["error"]
