"""A form body is UTF-8 text: what is not is refused with a 400 that says so, and stores nothing.

Litestar read an `application/x-www-form-urlencoded` body as Latin-1 before percent-decoding it, so
raw UTF-8 bytes (`curl --data 'title=café'`) were stored as mojibake ("cafÃ©"), and percent-escapes
that are not UTF-8 (`%FF%FE`) were stored as U+FFFD replacement characters — bad input kept silently.
A body is now read the way a browser writes it (WHATWG: percent-decode the bytes, then UTF-8): raw
UTF-8 is the text it spells, anything that is not UTF-8 is a 400.
"""

from __future__ import annotations

import pytest
from injector import Injector

from core.db import Database
from core.forms import InvalidFormEncoding, parse_form
from core.settings import Settings
from core.web import SESSION_COOKIE
from tests.conftest import app_client
from tests.security.conftest import Stage
from tests.support.videos import session_token
from tests.support.web import csrf_token

FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    ("body", "parsed"),
    [
        (b"title=caf%C3%A9&description=", {"title": "café", "description": ""}),
        (b"title=caf\xc3\xa9", {"title": "café"}),
        (b"a=1&a=2&b", {"a": ["1", "2"], "b": ""}),
        (b"q=a+b%2Bc&=x&&", {"q": "a b+c", "": "x"}),
        (b"x=%zz%4", {"x": "%zz%4"}),  # stray percents stay as typed, as a browser's parser keeps them
        (b"", {}),
    ],
)
def test_a_form_is_read_as_a_browser_writes_it(body: bytes, parsed: dict[str, object]) -> None:
    assert parse_form(body) == parsed


@pytest.mark.parametrize("body", [b"title=%FF%FE", b"title=\xff", b"t%C3=1", b"x=%ED%A0%80", b"x=%C0%AE"])
def test_a_form_that_is_not_utf8_is_refused(body: bytes) -> None:
    with pytest.raises(InvalidFormEncoding):
        parse_form(body)


async def test_raw_utf8_in_a_form_is_stored_as_the_text_it_spells(
    pg: Injector, settings: Settings, stage: Stage
) -> None:
    async with app_client(pg, settings) as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, stage.creator))
        headers = {**FORM, "x-csrftoken": await csrf_token(client, "/login")}
        body = b"title=Caf\xc3\xa9 nights&description="
        response = await client.post("/studio/videos", content=body, headers=headers)
    assert response.status_code == 303
    titles = [r["title"] for r in await pg.get(Database).fetch("SELECT title FROM videos")]
    assert "Café nights" in titles


@pytest.mark.parametrize("body", [b"title=%FF%FEnights&description=", b"title=\xff\xfe&description="])
async def test_a_form_that_is_not_utf8_is_a_400_and_stores_nothing(
    pg: Injector, settings: Settings, stage: Stage, body: bytes
) -> None:
    before = await pg.get(Database).fetchval("SELECT count(*) FROM videos")
    async with app_client(pg, settings) as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, stage.creator))
        headers = {**FORM, "x-csrftoken": await csrf_token(client, "/login"), "accept": "text/html"}
        response = await client.post("/studio/videos", content=body, headers=headers)
        htmx = await client.post("/studio/videos", content=body, headers={**headers, "hx-request": "true"})
    assert response.status_code == 400
    assert "not UTF-8 text" in response.text
    assert htmx.status_code == 400
    assert "not UTF-8 text" in htmx.text
    assert await pg.get(Database).fetchval("SELECT count(*) FROM videos") == before


async def test_a_multipart_form_with_too_many_parts_is_a_413_that_says_so(
    pg: Injector, settings: Settings, stage: Stage
) -> None:
    parts = b"".join(b'--zz\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nx\r\n' % n for n in range(1_500))
    async with app_client(pg, settings) as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, stage.creator))
        headers = {
            "x-csrftoken": await csrf_token(client, "/login"),
            "content-type": "multipart/form-data; boundary=zz",
        }
        response = await client.post(
            f"/studio/videos/{stage.video_id}/cover", content=parts + b"--zz--\r\n", headers=headers
        )
    assert response.status_code == 413
    assert "too many fields" in response.text
