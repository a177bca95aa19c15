"""Abuse limits (issue 13): sign-ups per IP per hour, videos per creator per hour, unlock and tip
requests per viewer per minute, reports per person per day. Each is counted in the shared PostgreSQL
rate-limit table (so every web process agrees), and each refusal is a 429 with Retry-After and a
message on the page (the form or htmx fragment again), with nothing stored or charged."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from injector import Injector

from core.db import Database
from core.di import build_injector
from core.identity import Principal
from core.settings import Settings, load_settings
from core.web import SESSION_COOKIE
from features.bootstrap import features_for
from tests.conftest import app_client
from tests.support.studio import sign_up_creator
from tests.support.videos import add_synthetic_video, balances, fund, person, price_and_publish, session_token
from tests.support.web import csrf_token, post_form

LIMITS = {
    "signups_per_ip_per_hour": 4,
    "videos_per_creator_per_hour": 5,
    "unlocks_per_viewer_per_minute": 6,
    "reports_per_user_per_day": 3,
}


@pytest.fixture
async def limited(pg: Injector, settings: Settings) -> AsyncIterator[tuple[Injector, Settings]]:
    """The whole app with low limits (set as their environment variables would), on the test's
    emptied database, with its own connection pool."""
    low = load_settings({k.upper(): str(v) for k, v in LIMITS.items()}, **_same_database(settings))
    injector = build_injector(low, features_for(low))
    db = injector.get(Database)
    await db.start()
    try:
        yield injector, low
    finally:
        await db.stop()


def _same_database(settings: Settings) -> dict[str, object]:
    return {
        "database_url": settings.database_url,
        "data_dir": settings.data_dir,
        "secret_key": settings.secret_key,
        "db_pool_min": 1,
        "db_pool_max": 4,
    }


@asynccontextmanager
async def browser_of(pg: Injector, settings: Settings, who: Principal | None) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(pg, settings) as client:
        if who is not None:
            client.cookies.set(SESSION_COOKIE, await session_token(pg, who))
        await csrf_token(client, "/login")
        yield client


async def count(pg: Injector, sql: str) -> int:
    return int(await pg.get(Database).fetchval(sql))


def assert_retry_after(response: httpx.Response, most: int) -> None:
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["retry-after"]) <= most


async def test_sign_ups_past_the_hourly_limit_per_address_get_a_429_and_the_form_says_why(
    limited: tuple[Injector, Settings],
) -> None:
    pg, settings = limited
    limit = settings.signups_per_ip_per_hour
    async with app_client(pg, settings) as client:
        await csrf_token(client, "/signup")
        await _sign_ups(pg, client, limit)


async def _sign_ups(pg: Injector, client: httpx.AsyncClient, limit: int) -> None:
    for n in range(limit):
        response = await post_form(client, "/signup", {"email": f"user{n}@example.com", "password": "long enough pw"})
        assert response.status_code == 303, response.text
        client.cookies.delete(SESSION_COOKIE)
    before = await count(pg, "SELECT count(*) FROM users")
    refused = await post_form(client, "/signup", {"email": "one-more@example.com", "password": "long enough pw"})
    assert_retry_after(refused, 3600)
    assert "Too many accounts were created from your network" in refused.text
    assert 'value="one-more@example.com"' in refused.text  # the form comes back filled in
    fragment = await post_form(
        client, "/signup", {"email": "again@example.com", "password": "long enough pw"}, htmx=True
    )
    assert_retry_after(fragment, 3600)
    assert "<html" not in fragment.text
    assert "Too many accounts" in fragment.text
    assert await count(pg, "SELECT count(*) FROM users") == before
    # A mistyped form is not counted and still says what is wrong (422), not the limit.
    typo = await post_form(client, "/signup", {"email": "not-an-email", "password": "long enough pw"})
    assert typo.status_code == 422


async def test_video_creations_past_the_hourly_limit_per_creator_get_a_429_other_creators_are_unaffected(
    limited: tuple[Injector, Settings],
) -> None:
    pg, settings = limited
    limit = settings.videos_per_creator_per_hour
    async with app_client(pg, settings) as eager, app_client(pg, settings) as other:
        await csrf_token(eager, "/signup")
        await csrf_token(other, "/signup")
        await sign_up_creator(eager, "eager@example.com")
        for n in range(limit):
            created = await post_form(eager, "/studio/videos", {"title": f"Clip {n}", "description": ""}, htmx=True)
            assert created.status_code == 201, created.text
        refused = await post_form(eager, "/studio/videos", {"title": "One more", "description": ""}, htmx=True)
        assert_retry_after(refused, 3600)
        assert f"You have created {limit} videos in the last hour" in refused.text
        assert 'value="One more"' in refused.text
        page = await post_form(eager, "/studio/videos", {"title": "Plain form", "description": ""})
        assert_retry_after(page, 3600)
        assert "the most allowed" in page.text
        assert "<html" in page.text
        await sign_up_creator(other, "other@example.com")
        assert (
            await post_form(other, "/studio/videos", {"title": "Mine", "description": ""}, htmx=True)
        ).status_code == 201
    assert await count(pg, "SELECT count(*) FROM videos") == limit + 1


async def test_unlock_and_tip_requests_past_the_per_minute_limit_get_a_429_and_charge_nothing(
    limited: tuple[Injector, Settings],
) -> None:
    pg, settings = limited
    limit = settings.unlocks_per_viewer_per_minute
    creator = await person(pg, "Creator", creator=True)
    made = (await add_synthetic_video(pg, creator.id, title="Tides")).video
    video = await price_and_publish(pg, creator.id, made, rent_day=50)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 200)
    path = f"/v/{video.public_id}"
    fields = {"offer": "rent_day", "key": "the-same-click-0001", "price": "50"}
    async with browser_of(pg, settings, viewer) as client:
        for _ in range(limit):  # one purchase, then its replays (a double-clicking script)
            assert (await post_form(client, f"{path}/unlock", fields, htmx=True)).status_code == 200
        refused = await post_form(client, f"{path}/unlock", {**fields, "key": "another-click-0002"}, htmx=True)
        assert_retry_after(refused, 60)
        assert "Too many unlock and tip requests" in refused.text
        assert 'data-testid="unlock-notice"' in refused.text  # the panel, with the message
        tip = await post_form(
            client, f"{path}/tip", {"amount": "10", "message": "", "key": "tip-click-00000001"}, htmx=True
        )
        assert_retry_after(tip, 60)
        assert 'data-testid="tip-error"' in tip.text
        plain = await post_form(client, f"{path}/tip", {"amount": "10", "message": "", "key": "tip-click-00000002"})
        assert_retry_after(plain, 60)
        assert "Too many unlock and tip requests" in plain.text
    assert await balances(pg, viewer.id, creator.id) == (150, 45, 5)
    assert await count(pg, "SELECT count(*) FROM tips") == 0
    other = await person(pg, "Other viewer")  # the limit is per viewer
    await fund(pg, other.id, 50)
    async with browser_of(pg, settings, other) as client:
        bought = await post_form(client, f"{path}/unlock", {**fields, "key": "other-viewer-0001"}, htmx=True)
        assert bought.status_code == 200


async def test_reports_past_the_daily_limit_per_person_get_a_429_with_the_message_in_the_form(
    limited: tuple[Injector, Settings],
) -> None:
    pg, settings = limited
    limit = settings.reports_per_user_per_day
    creator = await person(pg, "Creator", creator=True)
    made = (await add_synthetic_video(pg, creator.id, title="Tides")).video
    video = await price_and_publish(pg, creator.id, made)
    viewer = await person(pg, "Reporter")
    async with browser_of(pg, settings, viewer) as client:
        for _ in range(limit):
            sent = await post_form(client, f"/report/video/{video.public_id}", {"reason": "spam"}, htmx=True)
            assert sent.status_code == 201
        refused = await post_form(client, f"/report/creator/{creator.id}", {"reason": "hate"}, htmx=True)
        assert_retry_after(refused, 86400)
        assert "reports today, the most allowed" in refused.text
        assert 'role="alert"' in refused.text
    assert await count(pg, "SELECT count(*) FROM moderation_reports") == limit
