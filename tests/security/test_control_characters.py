"""Invisible control characters never reach what other people see, and one-line names stay one line.

A display name or a bundle title kept a line break, an escape sequence, a bell or a right-to-left
override (U+202E, which shows "Support\u202egro.live" as "Supportevil.org"): a gift's mail, whose
subject carries the sender's name, was then refused for good ("a subject may not contain line
breaks") and the recipient never heard of it. Every form field now loses C0/C1 controls (tab and
line breaks kept where a text may hold lines) and bidi embedding, override and isolate controls;
names and titles are one line.
"""

from __future__ import annotations

import re

import pytest
from injector import Injector

from core.db import Database
from core.settings import Settings
from core.text import one_line, without_invisible_controls
from core.web import SESSION_COOKIE
from tests.conftest import app_client
from tests.security.conftest import Stage
from tests.support.videos import fund, session_token
from tests.support.web import csrf_token, post_form

HOSTILE_NAME = "Evil\r\nBcc: victim@example.com\x1b[31m\u202egro.live\u2066\x07"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Evil\r\nBcc: x", "Evil Bcc: x"),
        ("  a\t\tb \u00a0 c ", "a b c"),
        ("Support\u202egro.live", "Supportgro.live"),
        ("bell\x07 esc\x1b[0m del\x7f c1\x85 nul\x00", "bell esc[0m del c1 nul"),
        ("\u05e9\u05dc\u05d5\u05dd \u200fabc", "\u05e9\u05dc\u05d5\u05dd \u200fabc"),  # Hebrew and RLM stay
    ],
)
def test_one_line_keeps_the_visible_text_on_one_line(text: str, expected: str) -> None:
    assert one_line(text) == expected


def test_a_text_of_several_lines_keeps_its_lines_and_tabs() -> None:
    assert without_invisible_controls("one\r\ntwo\n\tthree\x07\u202e") == "one\r\ntwo\n\tthree"


async def test_a_display_name_with_controls_is_one_clean_line_and_its_gifts_are_mailed(
    pg: Injector, settings: Settings
) -> None:
    async with app_client(pg, settings) as client:
        await csrf_token(client, "/signup")
        form = {"email": "sender@example.com", "password": "correct horse battery", "display_name": HOSTILE_NAME}
        assert (await post_form(client, "/signup", form)).status_code == 303
        stored = await pg.get(Database).fetchval("SELECT display_name FROM users WHERE email = 'sender@example.com'")
        assert stored == "Evil Bcc: victim@example.com[31mgro.live"
        await pg.get(Database).execute("UPDATE users SET email_verified_at = now() WHERE email = 'sender@example.com'")
        user_id = await pg.get(Database).fetchval("SELECT id FROM users WHERE email = 'sender@example.com'")
        await fund(pg, user_id, 100)
        page = await client.get("/gifts")
        key = re.search(r'name="key" value="([^"]+)"', page.text)
        assert key is not None
        sent = await post_form(
            client, "/gifts", {"amount": "10", "email": "friend@example.com", "message": "", "key": key.group(1)}
        )
        assert sent.status_code == 303
    subjects = [r["subject"] for r in await pg.get(Database).fetch("SELECT subject FROM outbox_mail")]
    assert "Evil Bcc: victim@example.com[31mgro.live sent you 10 points on Hypha" in subjects


async def test_titles_and_names_lose_controls_and_descriptions_keep_their_lines(
    pg: Injector, settings: Settings, stage: Stage
) -> None:
    async with app_client(pg, settings) as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, stage.creator))
        await csrf_token(client, "/login")
        video = await post_form(
            client, "/studio/videos", {"title": "Night\x07 \u202etrains", "description": "a\nb\x1b"}
        )
        bundle = await post_form(
            client, "/studio/offers/bundles", {"title": "Two\r\nfilms\x07", "description": "", "price": "10"}
        )
        tier = await post_form(
            client, "/studio/memberships", {"name": "Fan\x07 club\u2067", "price": "10", "scope": "all"}
        )
    assert (video.status_code, bundle.status_code, tier.status_code) == (303, 303, 303)
    db = pg.get(Database)
    assert await db.fetchval(
        "SELECT title FROM videos WHERE owner_id = $1 AND title LIKE 'Night%'", stage.creator.id
    ) == ("Night trains")
    assert await db.fetchval("SELECT description FROM videos WHERE title = 'Night trains'") == "a\nb"
    assert await db.fetchval("SELECT title FROM bundles") == "Two films"
    assert await db.fetchval("SELECT name FROM membership_tiers") == "Fan club"


async def test_a_subtitle_label_from_the_multipart_form_loses_its_controls(
    pg: Injector, settings: Settings, stage: Stage
) -> None:
    vtt = b"WEBVTT\n\n00:00.000 --> 00:01.000\nBonjour\n"
    async with app_client(pg, settings) as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, stage.creator))
        token = await csrf_token(client, "/login")
        added = await client.post(
            f"/studio/videos/{stage.video_id}/subtitles",
            data={"language": "fr", "label": "Fran\x07\u00e7ais\u202e\r\nsous-titres"},
            files={"file": ("fr.vtt", vtt, "text/vtt")},
            headers={"x-csrftoken": token},
        )
        assert added.status_code == 303
        master = await client.get(f"/v/{stage.public_id}/hls/master.m3u8")
    assert 'NAME="Français sous-titres"' in master.text
