"""/me/delete on real PostgreSQL: the password check, erasure of everything personal in every table,
sessions ending at once, log-in refused, money (refunds of running rentals, earnings settled, points
forfeited) through the ledger exactly once, the pending-payout refusal, and the content purge."""

from __future__ import annotations

import asyncio
import html
from datetime import timedelta

import httpx
import markupsafe
import pytest
from injector import Injector

from core.db import Database
from core.di import get_port
from core.settings import Settings
from core.storage import BlobStorage
from core.web import SESSION_COOKIE
from features.accounts.service import AccountService
from features.gifts.service import GiftService
from features.ledger.model import AccountRef
from features.ledger.service import LedgerService
from features.memberships.service import MembershipService
from features.notifications.service import FORMER_MEMBER, NotificationService
from features.offers.service import OffersService
from features.payouts.model import PayoutPending, PayoutState
from features.payouts.service import PayoutService
from features.pipeline.ports import KeyStore
from features.privacy.model import StaffAccount, WrongPassword
from features.privacy.service import ErasureService, ExportService, export_key
from features.studio.model import REMOVED_TITLE, VideoState
from features.studio.service import StudioService
from features.unlocks.service import UnlockService
from tests.conftest import app_client
from tests.support.privacy import earn, give_history, tables_holding, web_viewer
from tests.support.videos import PASSWORD, add_synthetic_video, fund, person, price_and_publish, session_token
from tests.support.web import csrf_token, post_form

EMAIL = "zephyrine.q@example.org"
NAME = "Zephyrine Quillfeather"


async def delete_form(client: httpx.AsyncClient, password: str = PASSWORD, confirm: bool = True) -> httpx.Response:
    await csrf_token(client, "/me/delete")
    data = {"password": password} | ({"confirm": "yes"} if confirm else {})
    return await post_form(client, "/me/delete", data)


async def balances(pg: Injector, *accounts: AccountRef) -> list[int]:
    found = await pg.get(LedgerService).balances(accounts)
    return [found[a] for a in accounts]


async def test_deleting_a_viewer_erases_them_from_every_table_ends_sessions_and_keeps_the_books(
    client: httpx.AsyncClient, pg: Injector, settings: Settings
) -> None:
    db = pg.get(Database)
    viewer = await web_viewer(client, pg, EMAIL, NAME)
    history = await give_history(pg, viewer, tip_message=f"From {NAME}, with thanks")
    export = await pg.get(ExportService).request(viewer)
    await pg.get(ExportService).build(export.id)
    await pg.get(NotificationService).process_new_events()  # the creator's tip mail names the viewer
    async with app_client(pg, settings) as other_tab:
        await csrf_token(other_tab)
        assert (await post_form(other_tab, "/login", {"email": EMAIL, "password": PASSWORD})).status_code == 303
        other_cookie = other_tab.cookies.get(SESSION_COOKIE)
    async with app_client(pg, settings) as stranger:  # a failed log-in is counted per address
        await csrf_token(stranger)
        await post_form(stranger, "/login", {"email": EMAIL, "password": "not the password"})
    before = await tables_holding(db, EMAIL) | await tables_holding(db, NAME)
    # the walk finds what it must erase (so its empty answer afterwards means something)
    assert {"users", "outbox_mail", "notification_deliveries", "event_log", "tips"} <= before.keys()
    assert await db.fetchval("SELECT count(*) FROM rate_limits WHERE key LIKE 'login:email:%'") == 1  # hashed
    entries_before = await db.fetchval(
        "SELECT count(*) FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id WHERE a.owner_id = $1",
        viewer,
    )

    wrong = await delete_form(client, password="not my password")
    assert wrong.status_code == 422
    assert "not your current password" in wrong.text
    unconfirmed = await delete_form(client, confirm=False)
    assert unconfirmed.status_code == 422
    assert "Tick the box" in unconfirmed.text
    assert (await client.get("/me")).status_code == 200  # nothing changed
    assert await tables_holding(db, EMAIL) | await tables_holding(db, NAME) == before

    done = await delete_form(client)
    assert (done.status_code, done.headers["location"]) == (303, "/")
    assert (await client.get("/me", follow_redirects=False)).headers["location"].startswith("/login")
    async with app_client(pg, settings) as other_tab:
        other_tab.cookies.set(SESSION_COOKIE, other_cookie or "")
        assert (await other_tab.get("/me", follow_redirects=False)).status_code == 303  # that session ended too
        await csrf_token(other_tab)
        refused = await post_form(other_tab, "/login", {"email": EMAIL, "password": PASSWORD})
        assert refused.status_code == 422
        assert "do not match" in refused.text

    assert await tables_holding(db, EMAIL) == {}
    assert await tables_holding(db, NAME) == {}
    assert await tables_holding(db, "with thanks") == {}  # the tip's message, in tips and in the event log
    assert not await get_port(pg, BlobStorage).exists(export_key(export.id))
    # the books: every entry stays, under the (now anonymous) account id; unspent points forfeited
    entries_after = await db.fetchval(
        "SELECT count(*) FROM ledger_entries e JOIN ledger_accounts a ON a.id = e.account_id WHERE a.owner_id = $1",
        viewer,
    )
    assert entries_after == entries_before + 1
    assert await balances(pg, AccountRef.wallet(viewer)) == [0]
    assert await pg.get(LedgerService).verify() == []
    mail = await db.fetchval("SELECT text_body FROM notification_deliveries WHERE kind = 'tip_received'")
    assert FORMER_MEMBER in mail
    erasure = await pg.get(ErasureService).erasure_of(viewer)
    assert erasure is not None
    assert (erasure.forfeited_wallet_points, erasure.refunded_rentals, erasure.purge_after) == (940, 0, None)
    assert history.creator.id != viewer


async def test_deleting_a_creator_refunds_running_rentals_once_settles_earnings_and_unpublishes(
    client: httpx.AsyncClient, pg: Injector, settings: Settings
) -> None:
    db = pg.get(Database)
    creator = await web_viewer(client, pg, "maker@example.org", "Maker Marlowe")
    assert (await post_form(client, "/me/creator", {})).status_code == 303
    made = await add_synthetic_video(pg, creator, title="Harbour lights")
    await price_and_publish(pg, creator, made.video, rent_day=50, rent_month=200, lifetime=500)
    pid = made.video.public_id
    running, lifetime, lapsed = [await person(pg, n) for n in ("Running Rental", "Lifetime Buyer", "Lapsed Rental")]
    unlocks = pg.get(UnlockService)
    for viewer, offer, price in ((running, "rent_month", 200), (lifetime, "lifetime", 500), (lapsed, "rent_day", 50)):
        await fund(pg, viewer.id, 1000)
        await unlocks.unlock(viewer.id, pid, offer, f"key-{offer}-0001", price)
    # the day-long rental was bought two days ago: it is over, nothing to refund
    await db.execute("UPDATE unlocks SET created_at = now() - interval '2 days' WHERE viewer_id = $1", lapsed.id)
    earnings, platform = AccountRef.earnings(creator), AccountRef.platform_revenue()
    assert await balances(pg, earnings, platform) == [45 + 450 + 180, 5 + 50 + 20]
    page = await client.get("/me/delete")
    assert page.status_code == 200
    assert "get their <strong>200</strong> points back" in page.text
    assert "<strong>495</strong> points are" in page.text  # 675 earned, 180 of them refunded

    done = await delete_form(client)
    assert done.status_code == 303

    wallets = await balances(pg, *(AccountRef.wallet(v.id) for v in (running, lifetime, lapsed)))
    assert wallets == [1000, 500, 950]  # the running rental came back in full, the others did not
    assert await balances(pg, earnings, platform) == [0, 5 + 50 + 495]  # fee of the refund returned, rest forfeited
    refund = await pg.get(LedgerService).transfers_with_metadata("memo", "Refund: the creator closed their account")
    assert len(refund) == 1
    # a retry of the refunds (a worker redelivered, a second click) moves nothing again
    again = await unlocks.refund_running_rentals(creator)
    assert [t.id for t in again] == [t.id for t in refund]
    assert await balances(pg, AccountRef.wallet(running.id)) == [1000]
    video = await pg.get(StudioService).get_video(made.video.id)
    assert video is not None
    assert video.state is VideoState.READY  # off the catalog at once; its content waits for the grace period
    async with app_client(pg, settings) as anyone:
        assert (await anyone.get(f"/v/{pid}")).status_code == 404
    erasure = await pg.get(ErasureService).erasure_of(creator)
    assert erasure is not None
    assert (erasure.refunded_rentals, erasure.refunded_points, erasure.settled_earnings_points) == (1, 200, 495)
    assert erasure.purge_after is not None
    assert erasure.purge_after - erasure.erased_at == timedelta(days=settings.privacy_content_grace_days)
    assert await tables_holding(db, "maker@example.org") == {}
    assert await tables_holding(db, "Maker Marlowe") == {}

    # the grace period passes: the content leaves storage, the key is destroyed
    erasures = pg.get(ErasureService)
    assert await erasures.purge_due() == 0
    await db.execute("UPDATE privacy_erasures SET purge_after = now() - interval '1 second'")
    assert await erasures.purge_due() == 1
    assert await erasures.purge_due() == 0
    video = await pg.get(StudioService).get_video(made.video.id)
    assert video is not None
    assert (video.state, video.title, video.description, video.playlist) == (
        VideoState.ARCHIVED,
        REMOVED_TITLE,
        "",
        None,
    )
    assert await get_port(pg, KeyStore).get(str(made.video.id)) is None
    assert await pg.get(LedgerService).verify() == []


async def test_deleting_with_a_payout_on_its_way_is_refused_with_a_clear_message_and_changes_nothing(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    db = pg.get(Database)
    creator = await web_viewer(client, pg, "payee@example.org", "Pending Payee")
    assert (await post_form(client, "/me/creator", {})).status_code == 303
    made = await add_synthetic_video(pg, creator)
    await price_and_publish(pg, creator, made.video)
    await earn(pg, creator, 2500, days_ago=8)
    payout = (await pg.get(PayoutService).request_payout(creator, "privacy-payout-0001")).payout
    assert payout.state in (PayoutState.REQUESTED, PayoutState.PROCESSING)
    page = await client.get("/me/delete")
    assert "A payout is on its way" in page.text
    money_before = await balances(pg, AccountRef.earnings(creator), AccountRef.payouts_in_transit())
    ledger_rows = await db.fetchval("SELECT count(*) FROM ledger_entries")

    refused = await delete_form(client)
    assert refused.status_code == 409
    assert "A payout is on its way to you" in refused.text
    assert "nothing was changed" in refused.text
    assert (await client.get("/me")).status_code == 200
    assert await balances(pg, AccountRef.earnings(creator), AccountRef.payouts_in_transit()) == money_before
    assert await db.fetchval("SELECT count(*) FROM ledger_entries") == ledger_rows
    assert (await pg.get(StudioService).get_video(made.video.id)).state is VideoState.PUBLISHED  # type: ignore[union-attr]
    assert await db.fetchval("SELECT count(*) FROM privacy_erasures") == 0
    assert "users" in await tables_holding(db, "payee@example.org")  # still there, untouched
    with pytest.raises(PayoutPending):
        await pg.get(ErasureService).delete_account(creator, PASSWORD, True)


async def test_a_double_click_deletes_once_and_the_ledger_verifies(pg: Injector) -> None:
    viewer = await person(pg, "Double Clicker")
    await fund(pg, viewer.id, 300)
    erasures = pg.get(ErasureService)
    outcomes = await asyncio.gather(
        erasures.delete_account(viewer.id, PASSWORD, True),
        erasures.delete_account(viewer.id, PASSWORD, True),
        return_exceptions=True,
    )
    assert all(not isinstance(o, Exception) or isinstance(o, WrongPassword) for o in outcomes), outcomes
    assert await balances(pg, AccountRef.wallet(viewer.id), AccountRef.platform_revenue()) == [0, 300]
    assert await pg.get(Database).fetchval("SELECT count(*) FROM privacy_erasures") == 1
    with pytest.raises(WrongPassword):  # afterwards nobody can use the password any more
        await erasures.delete_account(viewer.id, PASSWORD, True)
    assert await pg.get(LedgerService).verify() == []


async def test_staff_accounts_cannot_delete_themselves(pg: Injector) -> None:
    staff = await person(pg, "Staff Member")
    await pg.get(Database).execute("UPDATE users SET is_staff = true WHERE id = $1", staff.id)
    with pytest.raises(StaffAccount):
        await pg.get(ErasureService).delete_account(staff.id, PASSWORD, True)
    assert (await pg.get(AccountService).get_user(staff.id)).display_name == "Staff Member"  # type: ignore[union-attr]


async def test_sessions_end_at_once_for_every_device(pg: Injector, settings: Settings) -> None:
    viewer = await person(pg, "Many Devices")
    tokens = [await session_token(pg, viewer) for _ in range(3)]
    await pg.get(ErasureService).delete_account(viewer.id, PASSWORD, True)
    accounts = pg.get(AccountService)
    assert [await accounts.principal_for_session(t) for t in tokens] == [None, None, None]
    assert await accounts.sessions_of(viewer.id) == []


@pytest.mark.parametrize(
    ("name", "email"),
    [
        ('Zoë "Q" O\'Brien & <Co>', "Zoe.OBrien+tips@Example.ORG"),
        ("  Ana-María   Ñúñez ", "ANA.MARIA@example.com"),
    ],
)
async def test_names_that_html_escapes_and_emails_in_any_case_are_erased_everywhere(
    client: httpx.AsyncClient, pg: Injector, name: str, email: str
) -> None:
    db = pg.get(Database)
    viewer = await web_viewer(client, pg, email, name)
    await give_history(pg, viewer, tip_message=f"Cheers from {name.strip()}!")
    await pg.get(NotificationService).process_new_events()
    stored = (await pg.get(AccountService).get_user(viewer)).display_name  # type: ignore[union-attr]
    forms = {stored, html.escape(stored), str(markupsafe.escape(stored)), email, email.lower()}
    escaped = forms - {stored, email, email.lower()}
    if escaped:  # the walk must see the name as the mail's HTML holds it, or its empty answer means nothing
        assert [form for form in escaped if await tables_holding(db, form)]

    await pg.get(ErasureService).delete_account(viewer, PASSWORD, True)

    left = {form: await tables_holding(db, form) for form in forms}
    assert {form: found for form, found in left.items() if found} == {}


async def test_guessing_the_password_on_the_deletion_form_is_rate_limited(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    viewer = await web_viewer(client, pg, "guessed@example.org", "Guessed")
    for n in range(5):
        assert (await delete_form(client, password=f"guess number {n}")).status_code == 422
    limited = await delete_form(client)  # even the right password, once the window is used up
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) > 0
    assert "Too many wrong passwords" in limited.text
    assert (await client.get("/me")).status_code == 200
    assert await pg.get(Database).fetchval("SELECT count(*) FROM privacy_erasures") == 0
    assert (await pg.get(AccountService).get_user(viewer)).display_name == "Guessed"  # type: ignore[union-attr]


async def test_a_creator_closing_refunds_members_pro_rata_once_and_a_pending_gift_to_them_goes_back(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    """Issue 17 on PostgreSQL: the deletion page promises the membership refund, the deletion makes it
    (once), bundles stay with their buyers, and a gift waiting for the creator's address returns to its
    sender with the address erased from the gifts table."""
    db = pg.get(Database)
    email = "tier.maker@example.org"
    creator = await web_viewer(client, pg, email, "Tier Maker")
    assert (await post_form(client, "/me/creator", {})).status_code == 303
    made = await add_synthetic_video(pg, creator, title="Members' film")
    await price_and_publish(pg, creator, made.video, lifetime=300)
    memberships, offers, gifts = pg.get(MembershipService), pg.get(OffersService), pg.get(GiftService)
    tier = await memberships.create_tier(creator, name="Fans", price="100", all_videos=True, video_ids=[])
    bundle = await offers.create_bundle(creator, "Box set", "", "250")
    await offers.add_video(creator, bundle.public_id, made.video.public_id)
    member, buyer, friend = [await person(pg, n) for n in ("Monthly Member", "Box Buyer", "Gift Giver")]
    for someone in (member, buyer, friend):
        await fund(pg, someone.id, 1000)
    await memberships.join(member.id, tier.id, "join-key-0000000000000001", "100")
    await offers.buy_bundle(buyer.id, bundle.public_id, "b" * 20, "250")
    await gifts.send(friend, "40", email.upper(), "for the films", "gift-key-00000000000001")
    # ten days of the month are used up
    await db.execute(
        "UPDATE memberships SET period_start = period_start - interval '10 days', "
        "period_end = period_end - interval '10 days' WHERE viewer_id = $1",
        member.id,
    )
    await db.execute(
        "UPDATE membership_charges SET period_start = period_start - interval '10 days' WHERE viewer_id = $1",
        member.id,
    )
    page = await client.get("/me/delete")
    assert page.status_code == 200
    assert "get the unused" in page.text
    assert "Bundles were bought for lifetime" in page.text

    done = await delete_form(client)
    assert done.status_code == 303

    ledger = pg.get(LedgerService)
    erasure = await pg.get(ErasureService).erasure_of(creator)
    assert erasure is not None
    assert erasure.refunded_memberships == 1
    refunded = erasure.refunded_membership_points
    assert 60 <= refunded <= 70  # about two thirds of the month were left (28 to 31 days in a month)
    wallets = await balances(pg, *(AccountRef.wallet(p.id) for p in (member, buyer, friend)))
    assert wallets == [900 + refunded, 750, 1000]  # the bundle stays bought; the gift came back
    assert await memberships.memberships_of(member.id) == []  # ended
    assert await memberships.refund_for_closed_creator(creator) == []  # a retry moves nothing
    assert await balances(pg, AccountRef.wallet(member.id)) == [900 + refunded]
    assert await ledger.verify() == []
    assert await balances(pg, AccountRef.earnings(creator)) == [0]
    assert await tables_holding(db, email) == {}
    assert [g.recipient_email for g in await gifts.sent_by(friend.id)] == ["(address erased)"]
