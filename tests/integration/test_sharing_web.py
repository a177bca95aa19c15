"""Sharing a video and coming back to it (issue 14): the video page previews well when its link is pasted
(Open Graph / Twitter card tags: title, creator, cover, price) without naming anything unpaid, and the
way back to a video through sign-up, log-in and a pack purchase accepts only same-site paths."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import msgspec
import pytest
from injector import Injector

from core.db import Database
from core.identity import Principal
from core.settings import Settings
from core.web import SESSION_COOKIE
from tests.conftest import app_client
from tests.support.videos import add_synthetic_video, person, price_and_publish, session_token
from tests.support.web import csrf_token, post_form

META = re.compile(r'<meta (?:property|name)="([^"]+)" content="([^"]*)">')
HOSTILE_NEXT = ["//evil.example/v/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "v/abc"]


@asynccontextmanager
async def browser_of(pg: Injector, settings: Settings, who: Principal | None) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(pg, settings) as client:
        if who is not None:
            client.cookies.set(SESSION_COOKIE, await session_token(pg, who))
        await csrf_token(client, "/login")
        yield client


def metas(page: str) -> dict[str, str]:
    head = page.split("</head>", 1)[0]
    return {name: html.unescape(content) for name, content in META.findall(head)}


async def test_a_pasted_link_previews_title_creator_cover_and_price_and_nothing_unpaid(
    pg: Injector, settings: Settings
) -> None:
    creator = await person(pg, "Mira Okonkwo", creator=True)
    synthetic = await add_synthetic_video(pg, creator.id, title='Harbour <lights> & "boats"')
    video = await price_and_publish(pg, creator.id, synthetic.video, rent_day=50, rent_month=200, lifetime=None)
    async with browser_of(pg, settings, None) as visitor:
        page = await visitor.get(f"/v/{video.public_id}")
    assert page.status_code == 200
    tags = metas(page.text)
    url = f"{settings.public_url}/v/{video.public_id}"  # the site's public address (BASE_URL)
    assert tags["og:title"] == tags["twitter:title"] == 'Harbour <lights> & "boats"'
    assert tags["og:url"] == url
    assert tags["og:type"] == "video.other"
    assert tags["og:image"] == tags["twitter:image"] == f"{url}/cover"
    assert tags["twitter:card"] == "summary_large_image"
    assert tags["twitter:data1"] == "Mira Okonkwo"
    assert tags["twitter:data2"] == "from 50 points"
    assert tags["og:description"].startswith("By Mira Okonkwo · Rent 24 h 50 points · Rent 30 days 200 points.")
    head = page.text.split("</head>", 1)[0]
    assert "<lights>" not in head  # escaped once, as attribute values
    for secret in ("/hls/", "/key", ".m3u8", ".ts", *video.manifest.values()):
        assert secret not in head, secret
    async with browser_of(pg, settings, None) as visitor:
        cover = await visitor.get(f"/v/{video.public_id}/cover")  # what the preview shows is served
    assert cover.status_code == 200


async def test_the_preview_tags_name_the_public_address_whatever_host_the_request_named(
    pg: Injector, settings: Settings
) -> None:
    """A request's Host header is the client's to choose: a cache in front that keys pages on the path
    alone would hand every visitor a page whose canonical link and card image point off site."""
    creator = await person(pg, "Host Harper", creator=True)
    synthetic = await add_synthetic_video(pg, creator.id, title="Harbour at night")
    video = await price_and_publish(pg, creator.id, synthetic.video, rent_day=50)
    async with browser_of(pg, settings, None) as visitor:
        page = await visitor.get(f"/v/{video.public_id}", headers={"host": "evil.example"})
    assert page.status_code == 200
    assert "evil.example" not in page.text
    url = f"{settings.public_url}/v/{video.public_id}"
    assert f'<link rel="canonical" href="{url}">' in page.text
    tags = metas(page.text)
    assert tags["og:url"] == url
    assert tags["og:image"] == tags["twitter:image"] == f"{url}/cover"


async def test_the_link_a_creator_copies_is_the_public_address_whatever_host_they_came_by(
    pg: Injector, settings: Settings
) -> None:
    """A creator may reach their studio by another name (an internal address, a proxy that passes its own
    Host): the link they copy for their audience is the site's public address (BASE_URL) all the same."""
    creator = await person(pg, "Link Lane", creator=True)
    synthetic = await add_synthetic_video(pg, creator.id, title="Quay at dusk")
    video = await price_and_publish(pg, creator.id, synthetic.video, rent_day=50)
    public = msgspec.structs.replace(settings, base_url="http://videos.example")
    url = f"http://videos.example/v/{video.public_id}"
    async with browser_of(pg, public, creator) as studio:
        for path in ("/studio", f"/v/{video.public_id}/pricing"):
            page = await studio.get(path, headers={"host": "studio.internal:8443"})
            assert page.status_code == 200, path
            assert f'value="{url}"' in page.text, path
            assert "studio.internal" not in page.text, path


async def test_a_free_video_previews_as_free(pg: Injector, settings: Settings) -> None:
    creator = await person(pg, "Mira", creator=True)
    video = (await add_synthetic_video(pg, creator.id, title="Open sea")).video
    video = await price_and_publish(pg, creator.id, video, free=True, rent_day=None, rent_month=None, lifetime=None)
    async with browser_of(pg, settings, None) as visitor:
        tags = metas((await visitor.get(f"/v/{video.public_id}")).text)
    assert tags["twitter:data2"] == "Free"
    assert "Free to watch" in tags["og:description"]


@pytest.mark.parametrize("hostile", HOSTILE_NEXT)
async def test_the_way_back_to_a_video_takes_only_same_site_paths(
    pg: Injector, settings: Settings, hostile: str
) -> None:
    viewer = await person(pg, "Sam")
    async with browser_of(pg, settings, None) as visitor:
        for page in ("/signup", "/login"):
            text = (await visitor.get(page, params={"next": hostile})).text
            assert "evil.example" not in text
            assert "javascript:" not in text
    async with browser_of(pg, settings, viewer) as client:
        wallet = await client.get("/wallet", params={"next": hostile})
        assert 'name="next"' not in wallet.text
        assert "evil.example" not in wallet.text
        bought = await post_form(
            client,
            "/wallet/checkout",
            {"pack": "p100", "key": "k" * 20, "price": "100", "currency": "USD", "next": hostile},
        )
        assert bought.status_code in (302, 303)
    stored = await pg.get(Database).fetchval("SELECT return_path FROM wallet_purchases WHERE user_id = $1", viewer.id)
    assert stored == ""


async def test_a_pack_bought_from_a_video_leads_back_to_it(pg: Injector, settings: Settings) -> None:
    viewer = await person(pg, "Sam")
    async with browser_of(pg, settings, viewer) as client:
        wallet = await client.get("/wallet", params={"next": "/v/abc123"})
        assert '<input type="hidden" name="next" value="/v/abc123">' in wallet.text
        bought = await post_form(
            client,
            "/wallet/checkout",
            {"pack": "p100", "key": "k" * 20, "price": "100", "currency": "USD", "next": "/v/abc123"},
        )
        assert bought.status_code in (302, 303)
        ref = await pg.get(Database).fetchval("SELECT payment_ref FROM wallet_purchases WHERE user_id = $1", viewer.id)
        page = await client.get("/wallet/return", params={"ref": ref})
    assert await pg.get(Database).fetchval("SELECT return_path FROM wallet_purchases") == "/v/abc123"
    assert page.status_code == 200
    assert "Payment processing" in page.text  # the points land with the vendor's webhook, then the link shows
