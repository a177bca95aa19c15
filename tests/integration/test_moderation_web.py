"""Moderation through HTTP on real PostgreSQL: reports, the staff queue, take-down with refunds,
suspension, their reversals, the append-only audit log and `hypha staff add/remove`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg
import httpx
import pytest
from injector import Injector

from core.db import Database
from core.identity import Principal
from core.settings import Settings
from core.web import SESSION_COOKIE
from features.notifications.service import NotificationService
from features.payouts.model import PayoutsHeld
from features.payouts.service import PayoutService
from features.studio.model import Video
from features.unlocks.service import UnlockService
from tests.conftest import app_client
from tests.support.videos import (
    PASSWORD,
    add_synthetic_video,
    balances,
    fund,
    person,
    price_and_publish,
    session_token,
    staff_person,
)
from tests.support.web import csrf_token, post_form

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@asynccontextmanager
async def browser_of(pg: Injector, settings: Settings, who: Principal | None) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client with its own cookies, logged in as `who` (None: a visitor)."""
    async with app_client(pg, settings) as client:
        if who is not None:
            client.cookies.set(SESSION_COOKIE, await session_token(pg, who))
        await csrf_token(client, "/login")
        yield client


async def published_video(pg: Injector, title: str = "Tides at dawn") -> tuple[Principal, Video]:
    creator = await person(pg, "Creator", creator=True)
    video = (await add_synthetic_video(pg, creator.id, title=title)).video
    return creator, await price_and_publish(pg, creator.id, video, rent_day=50, preview=2)


async def buy(pg: Injector, viewer: Principal, video: Video, key: str = "purchase-key-0001") -> None:
    await pg.get(UnlockService).unlock(viewer.id, video.public_id, "rent_day", key, "50")


async def count(pg: Injector, sql: str, *args: object) -> int:
    return int(await pg.get(Database).fetchval(sql, *args))


async def test_a_viewer_reports_a_video_and_staff_find_it_in_the_queue_with_its_reports(
    pg: Injector, settings: Settings
) -> None:
    _, video = await published_video(pg)
    viewer = await person(pg, "Viewer")
    staff = await staff_person(pg)
    async with browser_of(pg, settings, viewer) as client:
        page = await client.get(f"/v/{video.public_id}")
        assert f'href="/report/video/{video.public_id}"' in page.text
        form = await client.get(f"/report/video/{video.public_id}")
        assert form.status_code == 200
        assert "Tides at dawn" in form.text
        sent = await post_form(
            client,
            f"/report/video/{video.public_id}",
            {"reason": "scam", "details": "Asks for card numbers"},
            htmx=True,
        )
        assert sent.status_code == 201, sent.text
        assert "Thank you" in sent.text
    async with browser_of(pg, settings, staff) as desk:
        queue = await desk.get("/staff/reports")
        assert queue.status_code == 200
        assert "Tides at dawn" in queue.text
        assert "Scam or fraud" in queue.text
        case = await desk.get(f"/staff/reports/video/{video.id}")
        assert case.status_code == 200
        assert "Asks for card numbers" in case.text
        assert "Take the video down" in case.text


@pytest.mark.parametrize(
    ("fields", "field_error"),
    [
        ({"reason": "", "details": "x"}, "Choose a reason from the list."),
        ({"reason": "not-a-reason", "details": ""}, "Choose a reason from the list."),
        ({"reason": "other", "details": "   "}, "Tell us what is wrong."),
        ({"reason": "spam", "details": "x" * 2001}, "Use at most 2000 characters."),
    ],
)
async def test_a_bad_report_form_comes_back_with_inline_errors_and_stores_nothing(
    pg: Injector, settings: Settings, fields: dict[str, str], field_error: str
) -> None:
    _, video = await published_video(pg)
    viewer = await person(pg, "Viewer")
    async with browser_of(pg, settings, viewer) as client:
        response = await post_form(client, f"/report/video/{video.public_id}", fields, htmx=True)
        assert response.status_code == 422
        assert field_error in response.text
    assert await count(pg, "SELECT count(*) FROM moderation_reports") == 0


async def test_reports_need_a_login_and_something_real_to_report(pg: Injector, settings: Settings) -> None:
    creator, video = await published_video(pg)
    viewer = await person(pg, "Viewer")
    async with browser_of(pg, settings, None) as visitor:
        response = await post_form(visitor, f"/report/video/{video.public_id}", {"reason": "spam"})
        assert response.status_code in (401, 303)
    async with browser_of(pg, settings, viewer) as client:
        for path in ("/report/video/nope", f"/report/creator/{viewer.id}", "/report/creator/not-a-uuid", "/report/x/y"):
            response = await post_form(client, path, {"reason": "spam"})
            assert response.status_code == 404, path
        creator_report = await post_form(client, f"/report/creator/{creator.id}", {"reason": "hate"}, htmx=True)
        assert creator_report.status_code == 201
    assert await count(pg, "SELECT count(*) FROM moderation_reports") == 1


async def test_take_down_hides_the_video_everywhere_refunds_recent_buyers_once_and_mails_the_creator(
    pg: Injector, settings: Settings
) -> None:
    creator, video = await published_video(pg)
    recent, early = await person(pg, "Recent buyer"), await person(pg, "Early buyer")
    for buyer in (recent, early):
        await fund(pg, buyer.id, 120)
        await buy(pg, buyer, video)
    # The early purchase was made before the refund window (TAKEDOWN_REFUND_DAYS, 30 by default).
    await pg.get(Database).execute(
        "UPDATE unlocks SET created_at = now() - interval '31 days' WHERE viewer_id = $1", early.id
    )
    assert await balances(pg, recent.id, creator.id) == (70, 90, 10)
    staff = await staff_person(pg)
    async with browser_of(pg, settings, staff) as desk:
        done = await post_form(desk, f"/staff/videos/{video.id}/take-down", {"reason": "Scam: asks for cards"})
        assert done.status_code == 303, done.text
        case = await desk.get(done.headers["location"])
        assert "refunded 1 purchase (50 points)" in case.text
        assert "taken down" in case.text
        # A second take-down (a double click, a retry) refunds nothing twice.
        again = await post_form(desk, f"/staff/videos/{video.id}/take-down", {"reason": "Scam: asks for cards"})
        assert again.status_code == 303
        assert (await desk.get(f"/v/{video.public_id}")).status_code == 200  # staff still see it
        # Not 410 for staff: the normal rules answer (no purchase, so no key)
        assert (await desk.get(f"/v/{video.public_id}/key")).status_code == 403
    assert await balances(pg, recent.id, creator.id) == (120, 45, 5)
    assert await balances(pg, early.id, creator.id) == (70, 45, 5)
    assert await count(pg, "SELECT count(*) FROM ledger_transfers WHERE kind = 'moderation_refund'") == 1

    pid = video.public_id
    async with browser_of(pg, settings, recent) as buyer, browser_of(pg, settings, None) as visitor:
        for client in (buyer, visitor):
            page = await client.get(f"/v/{pid}", headers={"accept": "text/html"})
            assert page.status_code == 410
            assert "This video was removed by Hypha" in page.text
            for path in (f"/v/{pid}/hls/master.m3u8", f"/v/{pid}/key", f"/v/{pid}/preview/master.m3u8"):
                assert (await client.get(path)).status_code == 410, path
            assert "Tides at dawn" not in (await client.get("/")).text
            assert "Tides at dawn" not in (await client.get("/search?q=Tides")).text
            assert "Tides at dawn" not in (await client.get(f"/c/{creator.id}")).text
        wallet = await buyer.get("/wallet")
        assert "Moderation refund: Tides at dawn" in wallet.text
        refused = await post_form(
            buyer, f"/v/{pid}/unlock", {"offer": "rent_day", "key": "purchase-key-0002", "price": "50"}
        )
        assert refused.status_code == 410
    async with browser_of(pg, settings, creator) as owner:
        page = await owner.get(f"/v/{pid}")
        assert page.status_code == 200
        assert "Taken down by Hypha's moderators: Scam: asks for cards" in page.text
        assert (await owner.get(f"/v/{pid}/key")).status_code == 200

    assert await pg.get(NotificationService).process_new_events() >= 1
    mail = await pg.get(Database).fetch("SELECT to_address, subject, text_body FROM outbox_mail")
    taken = [m for m in mail if m["subject"] == "Your video was taken down: Tides at dawn"]
    assert len(taken) == 1
    assert taken[0]["to_address"] == creator.email
    assert "Scam: asks for cards" in taken[0]["text_body"]

    audit = await pg.get(Database).fetch(
        "SELECT action, staff_email, reason, details FROM moderation_audit ORDER BY id"
    )
    assert [a["action"] for a in audit] == ["take_down", "take_down"]
    assert audit[0]["staff_email"] == staff.email
    assert '"refunded_points": 50' in audit[0]["details"]
    assert '"refunded_points": 0' in audit[1]["details"]


async def test_restore_shows_the_video_again_and_keeps_the_refunds(pg: Injector, settings: Settings) -> None:
    creator, video = await published_video(pg)
    buyer = await person(pg, "Buyer")
    await fund(pg, buyer.id, 50)
    await buy(pg, buyer, video)
    staff = await staff_person(pg)
    async with browser_of(pg, settings, staff) as desk:
        await post_form(desk, f"/staff/videos/{video.id}/take-down", {"reason": "Copyright"})
        restored = await post_form(desk, f"/staff/videos/{video.id}/restore", {"reason": "Licence shown"})
        assert restored.status_code == 303
        audit = await desk.get("/staff/audit")
        assert "Took the video down" in audit.text
        assert "Restored the video" in audit.text
        assert "Licence shown" in audit.text
    async with browser_of(pg, settings, buyer) as client:
        assert (await client.get(f"/v/{video.public_id}")).status_code == 200
        assert "Tides at dawn" in (await client.get("/")).text
        assert (await client.get(f"/v/{video.public_id}/key")).status_code == 200  # the rental stands
    assert await balances(pg, buyer.id, creator.id) == (50, 0, 0)


async def test_take_down_and_suspension_need_a_reason_and_change_nothing_without_one(
    pg: Injector, settings: Settings
) -> None:
    creator, video = await published_video(pg)
    staff = await staff_person(pg)
    async with browser_of(pg, settings, staff) as desk:
        for path in (f"/staff/videos/{video.id}/take-down", f"/staff/accounts/{creator.id}/suspend"):
            response = await post_form(desk, path, {"reason": "  "})
            assert response.status_code == 422, path
            assert "Give a reason" in response.text
        assert (await post_form(desk, f"/staff/accounts/{staff.id}/suspend", {"reason": "x"})).status_code == 403
        missing = "00000000-0000-7000-8000-000000000000"
        assert (await post_form(desk, f"/staff/videos/{missing}/take-down", {"reason": "x"})).status_code == 404
        assert (await desk.get(f"/staff/reports/planet/{video.id}")).status_code == 404
    assert await count(pg, "SELECT count(*) FROM moderation_audit") == 0
    assert await count(pg, "SELECT count(*) FROM videos WHERE taken_down_reason IS NOT NULL") == 0


async def test_suspension_ends_sessions_refuses_log_in_hides_videos_and_holds_payouts_until_lifted(
    pg: Injector, settings: Settings
) -> None:
    creator, video = await published_video(pg)
    staff = await staff_person(pg)
    async with browser_of(pg, settings, creator) as own:
        assert (await own.get("/studio")).status_code == 200
        async with browser_of(pg, settings, staff) as desk:
            done = await post_form(desk, f"/staff/accounts/{creator.id}/suspend", {"reason": "Repeated scams"})
            assert done.status_code == 303
        assert (await own.get("/studio", headers={"accept": "text/html"})).status_code in (303, 401)  # signed out
    async with browser_of(pg, settings, None) as visitor:
        login = await post_form(visitor, "/login", {"email": creator.email, "password": PASSWORD})
        assert login.status_code == 403
        assert "This account is suspended" in login.text
        assert SESSION_COOKIE not in login.headers.get("set-cookie", "")
        page = await visitor.get(f"/v/{video.public_id}", headers={"accept": "text/html"})
        assert page.status_code == 410
        assert "suspended" in page.text
        assert "Tides at dawn" not in (await visitor.get("/")).text
    with pytest.raises(PayoutsHeld):
        await pg.get(PayoutService).request_payout(creator.id, "payout-key-1")

    async with browser_of(pg, settings, staff) as desk:
        assert (await post_form(desk, f"/staff/accounts/{creator.id}/unsuspend", {})).status_code == 303
    async with browser_of(pg, settings, None) as visitor:
        login = await post_form(visitor, "/login", {"email": creator.email, "password": PASSWORD})
        assert login.status_code == 303
        assert (await visitor.get(f"/v/{video.public_id}")).status_code == 200
    actions = [r["action"] for r in await pg.get(Database).fetch("SELECT action FROM moderation_audit ORDER BY id")]
    assert actions == ["suspend", "unsuspend"]


async def test_the_audit_log_refuses_updates_and_deletes(pg: Injector, settings: Settings) -> None:
    creator, _ = await published_video(pg)
    staff = await staff_person(pg)
    async with browser_of(pg, settings, staff) as desk:
        await post_form(desk, f"/staff/accounts/{creator.id}/suspend", {"reason": "Spam"})
    db = pg.get(Database)
    for sql in ("UPDATE moderation_audit SET reason = 'nothing'", "DELETE FROM moderation_audit"):
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await db.execute(sql)
    assert await count(pg, "SELECT count(*) FROM moderation_audit WHERE reason = 'Spam'") == 1


async def test_staff_pages_are_for_staff_only(pg: Injector, settings: Settings) -> None:
    creator, video = await published_video(pg)
    viewer = await person(pg, "Viewer")
    pages = ["/staff/reports", "/staff/audit", f"/staff/reports/video/{video.id}"]
    actions = [f"/staff/videos/{video.id}/take-down", f"/staff/accounts/{creator.id}/suspend"]
    async with browser_of(pg, settings, viewer) as client:
        for path in pages:
            assert (await client.get(path)).status_code == 403, path
        for path in actions:
            assert (await post_form(client, path, {"reason": "x"})).status_code == 403, path
    async with browser_of(pg, settings, None) as visitor:
        for path in pages:
            response = await visitor.get(path, headers={"accept": "text/html"})
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login"), path
    assert await count(pg, "SELECT count(*) FROM moderation_audit") == 0
    assert await count(pg, "SELECT count(*) FROM videos WHERE taken_down_reason IS NOT NULL") == 0


def _hypha(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": settings.database_url, "SECRET_KEY": settings.secret_key}
    return subprocess.run(
        [sys.executable, "-m", "features.bootstrap", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_hypha_staff_add_and_remove_change_the_role_and_are_audited(pg: Injector, settings: Settings) -> None:
    someone = await person(pg, "Sam")
    async with browser_of(pg, settings, someone) as client:
        assert (await client.get("/staff/reports")).status_code == 403
        added = _hypha(settings, "staff", "add", someone.email.upper())
        assert added.returncode == 0, added.stderr
        assert "is now staff" in added.stdout
        # granting the role ends the sessions too: it rides only on a token issued after the grant
        assert (await client.get("/staff/reports", headers={"accept": "text/html"})).status_code == 303
        client.cookies.set(SESSION_COOKIE, await session_token(pg, someone))  # logged in again
        assert (await client.get("/staff/reports")).status_code == 200
        removed = _hypha(settings, "staff", "remove", someone.email)
        assert removed.returncode == 0, removed.stderr
        response = await client.get("/staff/reports", headers={"accept": "text/html"})
        assert response.status_code == 303  # signed out: taking the role away ends the sessions
    unknown = _hypha(settings, "staff", "add", "nobody@example.com")
    assert unknown.returncode == 1
    assert "There is no account with that e-mail" in unknown.stderr
    rows = await pg.get(Database).fetch("SELECT action, staff_email, subject_id FROM moderation_audit ORDER BY id")
    assert [(r["action"], r["staff_email"], r["subject_id"]) for r in rows] == [
        ("staff_add", "command line", UUID(str(someone.id))),
        ("staff_remove", "command line", UUID(str(someone.id))),
    ]
