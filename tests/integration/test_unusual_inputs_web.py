"""Unusual but legitimate input through the real routes (PostgreSQL): addresses with international
domains, passwords and titles typed in another Unicode normalization form, names at their limit.

Each is accepted (or refused with a message beside its field), stored in one form and found again,
whichever way the person's keyboard, browser or password manager wrote the same text."""

from __future__ import annotations

import re
import unicodedata
from html import unescape
from pathlib import Path

from injector import Injector

from core.db import Database
from core.settings import Settings
from core.web import SESSION_COOKIE
from tests.conftest import app_client
from tests.support.videos import add_synthetic_video, person, price_and_publish, session_token
from tests.support.web import post_form

TILE = re.compile(r'data-testid="catalog-tile" data-public-id="([^"]+)"')
PASSWORD = "correct horse battery"


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


async def test_an_address_at_an_internationalized_domain_signs_up_and_logs_in_however_it_is_typed(
    pg: Injector, settings: Settings
) -> None:
    async with app_client(pg, settings) as client:
        signed_up = await post_form(client, "/signup", {"email": "Ada+vod@Bücher.Example", "password": PASSWORD})
        assert signed_up.status_code == 303, signed_up.text
    stored = await pg.get(Database).fetchval("SELECT email_normalized FROM users")
    assert stored == "ada+vod@xn--bcher-kva.example"  # one account, whichever spelling comes next
    for typed in ["ada+vod@bücher.example", "ADA+VOD@BÜCHER.EXAMPLE", "ada+vod@xn--bcher-kva.example"]:
        async with app_client(pg, settings) as client:
            logged_in = await post_form(client, "/login", {"email": typed, "password": PASSWORD})
            assert logged_in.status_code == 303, (typed, logged_in.text)
    async with app_client(pg, settings) as client:
        again = await post_form(client, "/signup", {"email": "ada+vod@xn--BCHER-kva.example", "password": PASSWORD})
        assert again.status_code == 422, again.text  # the form again, beside the address
        assert "already exists" in again.text
        reset = await post_form(client, "/forgot-password", {"email": "ADA+vod@bücher.example"})
        assert reset.status_code == 200, reset.text


async def test_a_password_typed_in_the_other_unicode_form_is_the_same_password(
    pg: Injector, settings: Settings
) -> None:
    """A macOS or iOS keyboard, a password manager or a paste may send "é" as e + U+0301 (NFD) where
    another device sends U+00E9 (NFC): the same password either way."""
    word = "Passwörter été 🔑"
    async with app_client(pg, settings) as client:
        signed_up = await post_form(client, "/signup", {"email": "nf@example.com", "password": nfd(word)})
        assert signed_up.status_code == 303, signed_up.text
    for typed in (nfc(word), nfd(word)):
        async with app_client(pg, settings) as client:
            response = await post_form(client, "/login", {"email": "nf@example.com", "password": typed})
            assert response.status_code == 303, response.text
    async with app_client(pg, settings) as client:
        wrong = await post_form(client, "/login", {"email": "nf@example.com", "password": nfc(word) + "x"})
        assert wrong.status_code == 422


async def test_a_display_name_at_its_limit_is_kept_whole_and_one_over_is_a_422(
    pg: Injector, settings: Settings
) -> None:
    at_limit = "x" * 78 + "👍🏽"  # 80 characters: the thumb and its skin tone
    async with app_client(pg, settings) as client:
        response = await post_form(
            client, "/signup", {"email": "at@example.com", "password": PASSWORD, "display_name": at_limit}
        )
        assert response.status_code == 303, response.text
        me = await client.get("/me")
        assert f"<h1>{at_limit}</h1>" in me.text
    over = "x" * 79 + "👍🏽"  # 81: it was cut to 80 without a word, leaving the thumb without its skin tone
    async with app_client(pg, settings) as client:
        response = await post_form(
            client, "/signup", {"email": "over@example.com", "password": PASSWORD, "display_name": over}, htmx=True
        )
        assert response.status_code == 422, response.text
        assert "Keep your name to 80 characters or fewer." in response.text
        assert f'value="{over}"' in response.text
    assert await pg.get(Database).fetchval("SELECT count(*) FROM users WHERE email = 'over@example.com'") == 0


async def test_a_title_is_found_whichever_unicode_form_it_or_the_search_was_typed_in(
    pg: Injector, settings: Settings
) -> None:
    creator = await person(pg, "Chef", creator=True)
    typed = nfd("Café crème à Zürich")  # what a Mac's keyboard or a paste from some editors sends
    async with app_client(pg, settings) as studio:
        studio.cookies.set(SESSION_COOKIE, await session_token(pg, creator))
        created = await post_form(studio, "/studio/videos", {"title": typed, "description": nfd("Crème brûlée")})
        assert created.status_code == 303, created.text
    row = await pg.get(Database).fetchrow("SELECT title, description FROM videos")
    assert row is not None
    assert (row["title"], row["description"]) == (nfc(typed), nfc("Crème brûlée"))  # stored in one form

    shelved = (await add_synthetic_video(pg, creator.id, title=nfc("Café crème à Zürich"))).video
    await price_and_publish(pg, creator.id, shelved)
    async with app_client(pg, settings) as client:
        for query in ("Café", nfd("Café"), "CAFÉ", nfd("CAFÉ"), nfd("zürich")):
            page = await client.get("/search", params={"q": query})
            assert page.status_code == 200
            assert TILE.findall(page.text) == [shelved.public_id], query
            assert unescape(re.findall(r'name="q" value="([^"]*)"', page.text)[0]) == nfc(query)


async def test_titles_stored_decomposed_before_are_composed_by_their_migration(pg: Injector) -> None:
    creator = await person(pg, "Chef", creator=True)
    video = (await add_synthetic_video(pg, creator.id, title="placeholder")).video
    db = pg.get(Database)
    await db.execute(
        "UPDATE videos SET title = $1, description = $2 WHERE id = $3", nfd("Crème"), nfd("Brûlée"), video.id
    )
    migration = Path(__file__).resolve().parents[2] / "migrations" / "2630_studio_titles_composed.sql"
    await db.execute(migration.read_text())
    row = await db.fetchrow("SELECT title, description FROM videos WHERE id = $1", video.id)
    assert row is not None
    assert (row["title"], row["description"]) == (nfc("Crème"), nfc("Brûlée"))
