"""Numbers from outside are ASCII digits, in range — or a precise 4xx, never a 500 (issue 11 item 7).

`str.isdigit()` is true for "²", which `int()` then refuses; `int()` takes "١٢", "１２", "1_000" and
" +5 "; a number past bigint overflows the database. Every numeric header, query value and form field
goes through core.numbers: these tests send each kind of lie to each kind of place.
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from injector import Injector

from core.db import Database
from core.identity import Principal
from core.numbers import BIGINT_MAX, InvalidNumber, NumberTooLarge, parse_whole, whole_or_none
from core.settings import Settings
from core.sse import parse_last_event_id
from core.web import SESSION_COOKIE
from tests.conftest import app_client
from tests.support.studio import create_upload, create_video, sign_up_creator, tus_headers
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish, session_token
from tests.support.web import csrf_token, post_form, sign_up

# Texts that are not a plain non-negative whole number, though some fool isdigit() or int().
NOT_NUMBERS = [
    "²",  # superscript two: isdigit() is True, int() raises
    "1²",
    "٣",  # Arabic-Indic three: int() says 3
    "١٢٣",
    "１２",  # full-width digits: int() says 12
    "۵",  # Extended Arabic-Indic five
    "߃",  # NKo three
    "𝟕",  # mathematical bold seven
    "1_000",  # int() says 1000
    "+5",
    "-1",
    "- 1",
    "1 000",
    "1.0",
    "1e3",
    "0x10",
    "0b1",
    "",
    " ",
    "\u00a05",  # no-break space before the digit
    "5\u200b",  # zero-width space after it
    "٥0",
    "nan",
    "∞",
]
HUGE = [str(2**63), str(10**30), "9" * 5000]  # past bigint; the last one past int()'s own limit


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_only_ascii_digits_make_a_number(text: str) -> None:
    with pytest.raises(InvalidNumber) as refused:
        parse_whole(text, name="The amount")
    assert refused.value.message.startswith("The amount ")
    assert whole_or_none(text) is None


@pytest.mark.parametrize("text", HUGE)
def test_numbers_past_bigint_are_too_large_not_a_database_error(text: str) -> None:
    with pytest.raises(NumberTooLarge, match="at most 9,223,372,036,854,775,807"):
        parse_whole(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("7", 7),
        ("007", 7),  # leading zeros: decimal, never octal
        ("0000000000000000000000000000042", 42),  # long only because of its zeros: still 42
        (" 12\t", 12),  # HTTP's optional whitespace
        (str(BIGINT_MAX), BIGINT_MAX),
    ],
)
def test_plain_digits_parse_with_a_stated_leading_zero_policy(text: str, expected: int) -> None:
    assert parse_whole(text) == expected


def test_ranges_signs_and_grouping_are_the_callers_choice() -> None:
    assert parse_whole("-12", signed=True, minimum=-100) == -12
    with pytest.raises(InvalidNumber, match="at least -100"):
        parse_whole("-101", signed=True, minimum=-100)
    with pytest.raises(InvalidNumber, match="cannot be negative"):
        parse_whole("-1")
    with pytest.raises(NumberTooLarge, match="at most 100"):
        parse_whole("101", maximum=100)
    with pytest.raises(InvalidNumber, match="at least 1"):
        parse_whole("0", minimum=1)
    assert parse_whole("1,500", grouping=True) == 1500
    assert parse_whole("12,345,678", grouping=True) == 12_345_678
    for loose in ("1,5", "1,,500", ",500", "1500,", "1,5000", "1_500", "１,５００"):
        with pytest.raises(InvalidNumber):
            parse_whole(loose, grouping=True)
    with pytest.raises(InvalidNumber):
        parse_whole("1,500")  # grouping only where people type amounts


@given(st.text(max_size=40))
def test_any_text_is_a_number_only_if_it_is_ascii_digits(text: str) -> None:
    """Whatever arrives, the parser answers a number or InvalidNumber — never another exception —
    and a number only for ASCII digits (with optional spaces or tabs around them)."""
    try:
        number = parse_whole(text)
    except InvalidNumber:
        core = text.strip(" \t")
        assert not (core.isascii() and core.isdigit() and int(core) <= BIGINT_MAX)
    else:
        core = text.strip(" \t")
        assert core.isascii()
        assert core.isdigit()
        assert number == int(core)


@given(st.integers(min_value=0, max_value=BIGINT_MAX), st.integers(min_value=0, max_value=5))
def test_every_bigint_round_trips_with_or_without_leading_zeros(value: int, zeros: int) -> None:
    assert parse_whole("0" * zeros + str(value)) == value
    assert parse_whole(f"{value:,}", grouping=True) == value


def test_a_malformed_last_event_id_is_ignored_not_a_crash() -> None:
    for text in ["²", "٣", "1_0", str(10**30), "-1"]:
        assert parse_last_event_id(text) is None
    assert parse_last_event_id("42") == 42


# -- over HTTP ------------------------------------------------------------------------------------


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@asynccontextmanager
async def browser_of(pg: Injector, settings: Settings, who: Principal | None) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(pg, settings) as client:
        if who is not None:
            client.cookies.set(SESSION_COOKIE, await session_token(pg, who))
        await csrf_token(client, "/login")
        yield client


TUS_LIES = ["²", "³", "1¹", "٣", "１２", "1_000", "+5", "-0", "1e3", " ", "5\u200b", "5\u00a0"]


def raw(text: str) -> bytes:
    """A header value as a client may send it: Latin-1 where it can be ("²" is the byte 0xB2, which
    the server reads back as "²"), else UTF-8."""
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:
        return text.encode()


def lying_headers(client: httpx.AsyncClient, name: str, value: str, **extra: str) -> dict[str, str | bytes]:
    return {**tus_headers(client, **extra), name: raw(value)}


async def test_tus_upload_length_and_offset_lies_are_a_400_with_a_message(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    await sign_up_creator(client, "digits@example.com")
    video = await create_video(client)
    for lie in TUS_LIES:
        headers = lying_headers(client, "Upload-Length", lie, **{"Upload-Metadata": f"video {b64(video.public_id)}"})
        response = await client.post("/uploads/", headers=headers)
        assert response.status_code == 400, (lie, response.status_code, response.text)
        assert "Upload-Length" in response.text
        assert response.headers["content-type"].startswith("text/plain")
        assert response.headers["tus-resumable"] == "1.0.0"
    for huge in HUGE[:2]:
        headers = tus_headers(client, **{"Upload-Length": huge, "Upload-Metadata": f"video {b64(video.public_id)}"})
        assert (await client.post("/uploads/", headers=headers)).status_code == 413
    assert await pg.get(Database).fetchval("SELECT count(*) FROM tus_uploads") == 0

    location = (await create_upload(client, video, 1000)).headers["location"]
    for lie in [*TUS_LIES, *HUGE[:2]]:
        headers = lying_headers(client, "Upload-Offset", lie, **{"Content-Type": "application/offset+octet-stream"})
        response = await client.patch(location, content=b"x" * 10, headers=headers)
        assert response.status_code == 400, (lie, response.status_code, response.text)
        assert "Upload-Offset" in response.text
    head = await client.head(location, headers={"Tus-Resumable": "1.0.0"})
    assert head.headers["upload-offset"] == "0"  # nothing was written


PRICE_LIES = ["²", "٥٠", "５０", "5_0", "+50", "50.0", "1,5", str(2**63)]


async def test_pricing_fields_refuse_lying_digits_inline(pg: Injector, settings: Settings) -> None:
    creator = await person(pg, "Creator", creator=True)
    video = (await add_synthetic_video(pg, creator.id)).video
    path = f"/v/{video.public_id}/pricing"
    async with browser_of(pg, settings, creator) as owner:
        for lie in PRICE_LIES:
            bad = await post_form(owner, path, {"rent_day": lie, "preview_seconds": ""}, htmx=True)
            assert bad.status_code == 422, (lie, bad.status_code)
            assert 'class="field-error"' in bad.text
            preview = await post_form(owner, path, {"rent_day": "50", "preview_seconds": lie}, htmx=True)
            assert preview.status_code == 422, (lie, preview.status_code)
    assert await pg.get(Database).fetchval("SELECT count(*) FROM video_pricing") == 0


async def test_a_tip_amount_in_other_digits_charges_nothing(pg: Injector, settings: Settings) -> None:
    creator = await person(pg, "Creator", creator=True)
    made = (await add_synthetic_video(pg, creator.id, title="Tips")).video
    video = await price_and_publish(pg, creator.id, made, rent_day=50)  # type: ignore[arg-type]
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 100)
    async with browser_of(pg, settings, viewer) as client:
        for number, lie in enumerate(["٥٠", "５٠", "5_0", "+50", "²", str(10**30)]):
            data = {"amount": lie, "message": "", "key": f"tip-lie-{number}-" + "k" * 12}
            response = await post_form(client, f"/v/{video.public_id}/tip", data, htmx=True)
            assert response.status_code == 422, (lie, response.status_code)
    assert await pg.get(Database).fetchval("SELECT count(*) FROM ledger_transfers WHERE kind = 'tip'") == 0


async def test_payout_points_refuse_lying_digits_inline(client: httpx.AsyncClient, pg: Injector) -> None:
    await sign_up_creator(client, "payout-digits@example.com")
    page = await client.get("/studio/payouts")
    assert page.status_code == 200

    key = re.search(r'name="key" value="([^"]+)"', page.text)
    assert key is not None
    for lie in ["²", "٢٠٠٠", "２０００", "2_000", "+2000", "2000.0", str(2**63), "9" * 5000]:
        response = await post_form(client, "/studio/payouts/request", {"key": key.group(1), "points": lie})
        assert response.status_code == 422, (lie, response.status_code)
        assert "Enter a whole number of points" in response.text
    assert await pg.get(Database).fetchval("SELECT count(*) FROM payouts") == 0


async def test_numeric_query_values_are_a_400_naming_the_parameter(pg: Injector, settings: Settings) -> None:
    creator = await person(pg, "Creator", creator=True)
    viewer = await person(pg, "Viewer")
    await fund(pg, viewer.id, 10)
    lies = ["²", "٣", "１", "1_0", "-1", "+1", "1e3", "1.0", " 1 1", str(10**30), "9" * 5000]
    async with browser_of(pg, settings, creator) as owner:
        for lie in lies:
            for path, name in [
                ("/studio", "page"),
                ("/outbox", "page"),
                ("/", "limit"),
                ("/search", "limit"),
                ("/me/favourites", "limit"),
                ("/me/picks", "limit"),
            ]:
                response = await owner.get(path, params={name: lie})
                assert response.status_code == 400, (path, lie, response.status_code)
                assert f"The {name} parameter" in response.text, (path, lie)
        assert (await owner.get("/studio", params={"page": "0"})).status_code == 400
        assert (await owner.get("/studio", params={"page": "01"})).status_code == 200  # leading zero: page 1
        assert (await owner.get("/", params={"limit": "5"})).status_code == 200
    async with browser_of(pg, settings, viewer) as client:
        for lie in ["²", "٣", "1_0", "-1", str(2**63), str(10**30)]:
            statement = await client.get("/wallet", params={"before": lie})
            assert 400 <= statement.status_code < 500, (lie, statement.status_code)


async def test_staff_console_numbers_refuse_lying_digits(client: httpx.AsyncClient, pg: Injector) -> None:
    await sign_up(client, "root-digits@example.com")
    await pg.get(Database).execute("UPDATE users SET is_staff = true WHERE email = 'root-digits@example.com'")
    for lie in ["²", "٣", "１", "1_0", "+1", "1e1", str(10**30)]:
        armed = await post_form(client, "/staff/payouts/fail-next", {"count": lie})
        assert armed.status_code == 422, (lie, armed.status_code)
        refund = await post_form(client, "/sandbox-pay/admin/pay_nothing/refund", {"amount_minor": lie})
        assert 400 <= refund.status_code < 500, (lie, refund.status_code)
    armed_now = "SELECT coalesce(max(fail_next), 0) FROM payout_sandbox_controls"
    assert await pg.get(Database).fetchval(armed_now) == 0  # nothing was armed
