"""/me/export on real PostgreSQL: asking for a copy of one's data, the job that builds the ZIP, the mail
with the link, what the ZIP holds, who may download it, and expiry."""

from __future__ import annotations

import csv
import io
import re
import tracemalloc
import zipfile
from pathlib import Path
from uuid import UUID

import httpx
from injector import Injector

from core.db import Database
from core.di import get_port
from core.settings import Settings
from core.storage import BlobStorage
from features.accounts.service import AccountService
from features.gifts.service import GiftService
from features.memberships.service import MembershipService
from features.notifications.service import NotificationService
from features.offers.service import OffersService
from features.privacy.model import ExportStatus
from features.privacy.service import ExportService, export_key
from features.studio.service import StudioService
from tests.conftest import app_client
from tests.support.privacy import give_history, open_zip, read_json, web_viewer
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish
from tests.support.web import csrf_token, post_form, sign_up

LINK = re.compile(r"https?://[^\s\"<]+/me/export/([0-9a-f-]{36})/download")


async def ask_and_build(client: httpx.AsyncClient, pg: Injector, user: UUID) -> UUID:
    """Click "Prepare my data", then let the worker run the job it queued."""
    response = await post_form(client, "/me/export", {})
    assert (response.status_code, response.headers["location"]) == (303, "/me/export")
    exports = pg.get(ExportService)
    [pending] = [e for e in await exports.exports_of(user) if e.status is ExportStatus.PENDING]
    built = await exports.build(pending.id)
    assert built is not None
    assert built.status is ExportStatus.READY, built.failure
    return pending.id


async def test_the_export_holds_the_persons_data_and_the_mailed_link_downloads_it(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    viewer = await web_viewer(client, pg, "marta.export@example.com", "Marta Export")
    history = await give_history(pg, viewer, tip_message="Thank you for the dawn")
    page = await client.get("/me/export")
    assert page.status_code == 200
    assert "Prepare my data" in page.text

    export_id = await ask_and_build(client, pg, viewer)
    assert 'data-status="READY"' in (await client.get("/me/export")).text

    await pg.get(NotificationService).process_new_events()
    mail = await pg.get(Database).fetchrow(
        "SELECT subject, text_body FROM outbox_mail WHERE to_normalized = $1 AND subject <> $2",
        "marta.export@example.com",
        "Confirm your e-mail address for Hypha",  # the sign-up's own mail
    )
    assert mail is not None
    assert mail["subject"] == "Your data export is ready"
    link = LINK.search(mail["text_body"])
    assert link is not None
    assert link.group(1) == str(export_id)

    response = await client.get(f"/me/export/{export_id}/download")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert "attachment" in response.headers["content-disposition"]
    assert "no-store" in response.headers["cache-control"]
    archive = open_zip(response.content)
    names = set(archive.namelist())
    assert {
        "README.txt",
        "profile.json",
        "sessions.json",
        "money/point_purchases.json",
        "money/point_purchases.csv",
        "money/wallet_statement.json",
        "money/wallet_statement.csv",
        "money/video_purchases.json",
        "money/video_purchases.csv",
        "entitlements.json",
        "money/tips_sent.json",
        "money/tips_sent.csv",
        "money/tips_received.json",
        "favourites.json",
        "picks.json",
        "viewing_heartbeats.json",
    } <= names
    assert not any(name.startswith("creator/") for name in names)  # a viewer has no creator files

    profile = read_json(archive, "profile.json")
    assert (profile["email"], profile["display_name"], profile["id"]) == (
        "marta.export@example.com",
        "Marta Export",
        str(viewer),
    )
    assert len(read_json(archive, "sessions.json")) == 1
    statement = list(csv.DictReader(io.StringIO(archive.read("money/wallet_statement.csv").decode())))
    # newest first: the tip (-10), the rental (-50), the points bought (+1000)
    assert [(r["kind"], r["amount"], r["balance_after"]) for r in statement] == [
        ("tip", "-10", "940"),
        ("unlock", "-50", "950"),
        ("purchase", "1000", "1000"),
    ]
    assert statement[1]["memo"] == "Tides at dawn"
    [rental] = read_json(archive, "money/video_purchases.json")
    assert (rental["offer"], rental["points"], rental["video_title"]) == ("rent_day", 50, "Tides at dawn")
    [entitlement] = read_json(archive, "entitlements.json")
    assert entitlement["video_id"] == str(history.made.video.id)
    assert entitlement["expires_at"] is not None
    [tip] = read_json(archive, "money/tips_sent.json")
    assert (tip["amount"], tip["message"]) == (10, "Thank you for the dawn")
    [purchase] = read_json(archive, "money/point_purchases.json")
    assert (purchase["pack"], purchase["points"], purchase["status"]) == ("p100", 100, "pending")
    [favourite] = read_json(archive, "favourites.json")
    assert favourite["title"] == "Tides at dawn"
    [beat] = read_json(archive, "viewing_heartbeats.json")
    assert (beat["video_id"], beat["position_seconds"]) == (str(history.made.video.id), 3.0)


async def test_a_creators_export_has_their_videos_prices_earnings_and_tips_received(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    viewer = await web_viewer(client, pg, "fan@example.com", "Fan")
    history = await give_history(pg, viewer, tip_message="Bravo")
    user = await pg.get(AccountService).get_user(history.creator.id)
    assert user is not None
    with_zip = Path(pg.get(Settings).data_dir) / "creator-export.zip"
    entries = await pg.get(ExportService).write_archive(user, with_zip)
    archive = open_zip(with_zip.read_bytes())
    [video] = read_json(archive, "creator/videos.json")
    assert (video["title"], video["state"]) == ("Tides at dawn", "published")
    assert video["prices"] == {"free": False, "rent_day": 50, "rent_month": 200, "lifetime": 500, "preview_seconds": 0}
    earnings = list(csv.DictReader(io.StringIO(archive.read("creator/earnings_statement.csv").decode())))
    # newest first: the tip (+10), the rental's fee to the platform (-5), the rental (+50)
    assert [(r["kind"], r["amount"]) for r in earnings] == [("tip", "10"), ("unlock", "-5"), ("unlock", "50")]
    assert earnings[0]["balance_after"] == "55"
    [received] = read_json(archive, "money/tips_received.json")
    assert (received["amount"], received["message"]) == (10, "Bravo")
    assert "viewer_id" not in received  # who tipped is the tipper's data, not the creator's
    assert read_json(archive, "creator/payouts.json") == []
    assert entries["creator/videos.json"] == 1


async def test_only_the_person_may_download_their_export(
    client: httpx.AsyncClient, pg: Injector, settings: Settings
) -> None:
    owner = await web_viewer(client, pg, "owner.zip@example.com", "Owner Zip")
    export_id = await ask_and_build(client, pg, owner)
    own = await client.get(f"/me/export/{export_id}/download")
    assert own.status_code == 200
    async with app_client(pg, settings) as stranger:
        await sign_up(stranger, "stranger.zip@example.com")
        taken = await stranger.get(f"/me/export/{export_id}/download")
        assert taken.status_code == 404
        assert b"owner.zip@example.com" not in taken.content
        assert taken.content[:2] != b"PK"
    async with app_client(pg, settings) as anonymous:
        response = await anonymous.get(f"/me/export/{export_id}/download", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next=/me/export/{export_id}/download"
    async with app_client(pg, settings) as guess:
        await sign_up(guess, "guesser.zip@example.com")
        for bad in ("00000000-0000-0000-0000-000000000000", "not-a-uuid", "..%2f..%2fetc%2fpasswd"):
            response = await guess.get(f"/me/export/{bad}/download")
            assert response.status_code in (400, 404), (bad, response.status_code)


async def test_an_expired_link_says_so_and_the_cron_deletes_the_file(client: httpx.AsyncClient, pg: Injector) -> None:
    owner = await web_viewer(client, pg, "late@example.com", "Late")
    export_id = await ask_and_build(client, pg, owner)
    storage = get_port(pg, BlobStorage)
    assert await storage.exists(export_key(export_id))
    await pg.get(Database).execute(
        "UPDATE privacy_exports SET expires_at = now() - interval '1 second' WHERE id = $1", export_id
    )
    response = await client.get(f"/me/export/{export_id}/download", headers={"accept": "text/html"})
    assert response.status_code == 410
    assert "expired" in response.text
    assert await pg.get(ExportService).expire_due() == 1
    assert not await storage.exists(export_key(export_id))
    assert await pg.get(ExportService).expire_due() == 0
    again = await client.get(f"/me/export/{export_id}/download", headers={"accept": "text/html"})
    assert again.status_code == 410
    assert "expired" in again.text
    assert 'data-status="EXPIRED"' in (await client.get("/me/export")).text


async def test_a_double_click_queues_one_export_and_a_pending_one_cannot_be_downloaded(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    owner = await web_viewer(client, pg, "double@example.com", "Double")
    await csrf_token(client, "/me/export")
    first = await post_form(client, "/me/export", {})
    second = await post_form(client, "/me/export", {})
    assert first.status_code == second.status_code == 303
    [pending] = await pg.get(ExportService).exports_of(owner)
    assert pending.status is ExportStatus.PENDING
    page = await client.get("/me/export")
    assert "Preparing" in page.text
    assert 'hx-trigger="load delay:2s"' in page.text
    response = await client.get(f"/me/export/{pending.id}/download")
    assert response.status_code == 409
    # the job, delivered twice (at least once), builds once
    exports = pg.get(ExportService)
    assert (await exports.build(pending.id)) is not None
    assert (await exports.build(pending.id)) is not None
    assert await pg.get(Database).fetchval("SELECT count(*) FROM privacy_exports") == 1


async def test_asking_for_an_export_needs_a_login_and_a_csrf_token(client: httpx.AsyncClient, pg: Injector) -> None:
    response = await client.post("/me/export", follow_redirects=False)
    assert response.status_code in (303, 401, 403)
    await sign_up(client, "csrf@example.com")
    forged = await client.post("/me/export", headers={"x-csrftoken": "forged"}, follow_redirects=False)
    assert forged.status_code == 403
    assert await pg.get(Database).fetchval("SELECT count(*) FROM privacy_exports") == 0


async def test_memory_stays_flat_however_long_the_history(pg: Injector, tmp_path: Path) -> None:
    """The ZIP is streamed: 10x more heartbeats and statement lines must not mean 10x the memory."""
    viewer = await person(pg, "Long History")
    user = await pg.get(AccountService).get_user(viewer.id)
    assert user is not None
    db = pg.get(Database)
    studio_video = await pg.get(StudioService).create_video(viewer.id, "Somebody else's")
    peaks: list[int] = []
    for count in (2_000, 20_000):
        await db.execute("DELETE FROM playback_heartbeats")
        await db.execute(
            "INSERT INTO playback_heartbeats (viewer_id, video_id, session_id, position_seconds, preview, at)"
            " SELECT $1, $2, 'session-' || (g / 100), g * 10.0, false, now() - g * interval '10 seconds'"
            " FROM generate_series(1, $3) AS g",
            viewer.id,
            studio_video.id,
            count,
        )
        tracemalloc.start()
        try:
            await pg.get(ExportService).write_archive(user, tmp_path / f"{count}.zip")
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        archive = open_zip((tmp_path / f"{count}.zip").read_bytes())
        assert len(read_json(archive, "viewing_heartbeats.json")) == count
    small, large = peaks
    print(f"export peak memory: {small / 1e6:.1f} MB for 2,000 heartbeats, {large / 1e6:.1f} MB for 20,000")
    assert large < small * 2


async def test_the_export_holds_memberships_bundles_codes_and_gifts_on_postgres(pg: Injector, tmp_path: Path) -> None:
    """Issue 17 on PostgreSQL: the adapters behind the export's new entries (a viewer's bundle purchases,
    code uses, gifts received) and the sender's erased gift messages."""
    creator = await person(pg, "Creator", creator=True)
    video = (await add_synthetic_video(pg, creator.id, title="Course part")).video
    video = await price_and_publish(pg, creator.id, video, lifetime=300)
    memberships, offers, gifts = pg.get(MembershipService), pg.get(OffersService), pg.get(GiftService)
    tier = await memberships.create_tier(creator.id, name="Fans", price="100", all_videos=True, video_ids=[])
    bundle = await offers.create_bundle(creator.id, "Course", "", "250")
    await offers.add_video(creator.id, bundle.public_id, video.public_id)
    await offers.create_code(creator.id, "spring", "percent", "20", f"bundle:{bundle.public_id}", "5", "")
    await offers.create_code(creator.id, "fans", "points", "10", f"tier:{tier.id}", "5", "")
    viewer, friend = await person(pg, "Viewer"), await person(pg, "Friend")
    await fund(pg, viewer.id, 1000)
    await fund(pg, friend.id, 100)
    await offers.join_with_code(viewer.id, tier.id, "join-key-0000000000000001", "90", "fans")
    await offers.buy_bundle(viewer.id, bundle.public_id, "b" * 20, "200", "spring")
    await gifts.send(viewer, "30", "someone.else@example.org", "for you", "gift-key-00000000000001")
    await gifts.send(friend, "40", viewer.email, "thanks!", "gift-key-00000000000002")
    user = await pg.get(AccountService).get_user(viewer.id)
    assert user is not None
    await gifts.claim_for(user)

    path = tmp_path / "export.zip"
    await pg.get(ExportService).write_archive(user, path)
    archive = zipfile.ZipFile(path)
    [joined] = read_json(archive, "money/memberships.json")
    assert [(c["kind"], c["points"]) for c in joined["charges"]] == [("join", 90)]
    [bought] = read_json(archive, "money/bundle_purchases.json")
    assert (bought["points"], bought["code"]) == (200, "SPRING")
    used = read_json(archive, "money/code_redemptions.json")
    assert sorted((r["code"], r["for"]) for r in used) == [("FANS", "tier"), ("SPRING", "bundle")]
    [received] = read_json(archive, "money/gifts_received.json")
    assert (received["amount"], received["message"]) == (40, "thanks!")
    assert await gifts.forget_sender(viewer.id) == 1
    assert [g.message for g in await gifts.sent_by(viewer.id)] == [""]
