"""Key fetches are logged per viewer so staff can see unusual patterns (issue 11, item 14).

AES-128 HLS with one key per video cannot stop a paying viewer from saving the key (docs/security.md);
what the product can do is hand the key only while the viewer is entitled, never let it be cached, and
count every key it hands out per viewer, video and day — and show staff who fetches far more than a
player needs. The staff pages are behind the staff guard.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from injector import Injector

from core.db import Database
from core.identity import Principal
from core.settings import Settings
from core.web import SESSION_COOKIE
from features.unlocks.service import UnlockService
from tests.conftest import app_client
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish, session_token
from tests.support.web import csrf_token


@asynccontextmanager
async def browser(pg: Injector, settings: Settings, who: Principal | None) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(pg, settings) as client:
        if who is not None:
            client.cookies.set(SESSION_COOKIE, await session_token(pg, who))
        await csrf_token(client, "/login")
        yield client


async def staff_member(pg: Injector) -> Principal:
    who = await person(pg, "Stella Staff")
    await pg.get(Database).execute("UPDATE users SET is_staff = true WHERE id = $1", who.id)
    return who


async def test_every_key_handed_out_is_counted_per_viewer_and_unusual_counts_reach_staff(
    pg: Injector, settings: Settings
) -> None:
    creator = await person(pg, "Creator", creator=True)
    made = await add_synthetic_video(pg, creator.id, title="Harbour lights")
    await price_and_publish(pg, creator.id, made.video)
    pid = made.video.public_id
    casual, hoarder, stranger = (
        await person(pg, "Casual Viewer"),
        await person(pg, "Key Hoarder"),
        await person(pg, "Stranger"),
    )
    for index, who in enumerate((casual, hoarder)):
        await fund(pg, who.id, 100)
        await pg.get(UnlockService).unlock(who.id, pid, "rent_day", f"audit-unlock-key-{index:04d}", "50")
    threshold = settings.key_fetches_alert_per_day
    async with browser(pg, settings, casual) as client:
        for _ in range(3):
            key = await client.get(f"/v/{pid}/key")
            assert key.status_code == 200
            assert key.headers["cache-control"] == "no-store"
    async with browser(pg, settings, hoarder) as client:
        for _ in range(threshold + 1):
            assert (await client.get(f"/v/{pid}/key")).status_code == 200
    async with browser(pg, settings, stranger) as client:  # refused fetches hand out nothing and count nothing
        for _ in range(threshold + 5):
            assert (await client.get(f"/v/{pid}/key")).status_code == 403
    rows = await pg.get(Database).fetch("SELECT viewer_id, video_id, fetches FROM key_fetches ORDER BY fetches")
    assert [(r["viewer_id"], r["video_id"], r["fetches"]) for r in rows] == [
        (casual.id, made.video.id, 3),
        (hoarder.id, made.video.id, threshold + 1),
    ]

    staff = await staff_member(pg)
    async with browser(pg, settings, staff) as client:
        page = await client.get("/staff/key-fetches")
        assert page.status_code == 200
        assert "no-store" in page.headers["cache-control"]
        assert f'data-viewer="{hoarder.id}"' in page.text
        assert hoarder.email in page.text
        assert "Harbour lights" in page.text
        assert f"{threshold + 1} <span" in page.text
        assert f'data-viewer="{casual.id}"' not in page.text  # three fetches are a player's normal
        detail = await client.get(f"/staff/key-fetches/{casual.id}")
        assert detail.status_code == 200
        assert f'data-viewer="{casual.id}"' in detail.text
        assert '<td class="num" data-testid="fetches">3</td>' in detail.text
        nobody = await client.get(f"/staff/key-fetches/{stranger.id}")
        assert 'data-testid="no-key-fetches"' in nobody.text
        assert (await client.get("/staff/key-fetches/not-a-uuid")).status_code in (400, 404)


async def test_the_key_fetch_pages_are_for_staff_only(pg: Injector, settings: Settings) -> None:
    creator = await person(pg, "Creator", creator=True)
    viewer = await person(pg, "Viewer")
    for who in (creator, viewer, None):
        async with browser(pg, settings, who) as client:
            for path in ("/staff/key-fetches", f"/staff/key-fetches/{viewer.id}"):
                response = await client.get(path, follow_redirects=False)
                if who is None:
                    assert response.status_code in (401, 403) or response.headers.get("location", "").startswith(
                        "/login"
                    ), (path, response.status_code)
                else:
                    assert response.status_code == 403, (path, response.status_code)
                assert viewer.email not in response.text
