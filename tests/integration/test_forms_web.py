"""Forms decoded by Litestar into their DTOs, on the real app: a form that breaks its rules or arrives
in a shape no page of ours sends comes back beside its fields (422) with what was typed, never a 500,
and stores nothing; what is valid arrives stripped and without NUL characters."""

from __future__ import annotations

import httpx
from injector import Injector

from core.db import Database
from tests.support.web import csrf_token, post_form, sign_up


async def count_users(pg: Injector) -> int:
    return int(await pg.get(Database).fetchval("SELECT count(*) FROM users"))


async def post_raw(client: httpx.AsyncClient, path: str, body: bytes, *, htmx: bool = False) -> httpx.Response:
    """A body built by hand (a repeated field, a NUL): what a script, not our pages, would send."""
    token = client.cookies.get("csrftoken") or await csrf_token(client)
    headers = {"x-csrftoken": token, "content-type": "application/x-www-form-urlencoded"}
    if htmx:
        headers["hx-request"] = "true"
    return await client.post(path, content=body, headers=headers, follow_redirects=False)


async def test_a_bad_sign_up_sent_without_htmx_is_the_whole_page_with_every_message(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    response = await post_form(client, "/signup", {"email": "nope", "password": "short", "display_name": "Ada"})
    assert response.status_code == 422
    assert "<html" in response.text
    assert 'id="signup-form"' in response.text
    assert "Enter a valid e-mail address" in response.text
    assert "Use at least 8 characters" in response.text
    assert 'value="nope"' in response.text
    assert 'value="Ada"' in response.text
    assert 'value="short"' not in response.text  # a password is never sent back
    assert await count_users(pg) == 0


async def test_a_repeated_field_is_shown_beside_that_field_not_as_a_server_error(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    body = b"email=a%40example.com&email=b%40example.com&password=correct+horse+battery"
    response = await post_raw(client, "/signup", body, htmx=True)
    assert response.status_code == 422
    assert 'id="signup-form"' in response.text
    assert "<html" not in response.text
    assert "Send one value for this field." in response.text
    assert 'value="a@example.com"' in response.text
    assert await count_users(pg) == 0


async def test_a_huge_value_is_a_422_beside_its_field(client: httpx.AsyncClient, pg: Injector) -> None:
    body = b"email=" + b"a" * 100_000 + b"%40example.com&password=correct+horse+battery"
    response = await post_raw(client, "/signup", body, htmx=True)
    assert response.status_code == 422
    assert "Enter a valid e-mail address" in response.text
    assert await count_users(pg) == 0


async def test_spaces_and_nul_characters_are_dropped_before_the_rules_look(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    body = b"email=+ada%00%40example.com+&password=correct+horse+battery&display_name=%00Ada+"
    response = await post_raw(client, "/signup", body)
    assert response.status_code == 303, response.text
    row = await pg.get(Database).fetchrow("SELECT email, display_name FROM users")
    assert row is not None
    assert (row["email"], row["display_name"]) == ("ada@example.com", "Ada")


async def test_a_next_with_control_characters_is_refused_before_the_form_rules(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    response = await post_raw(client, "/signup", b"email=nope&password=short&next=%2Fme%0d%0aX", htmx=True)
    assert response.status_code == 400
    assert await count_users(pg) == 0


async def test_an_off_site_next_is_not_carried_into_the_form_shown_again(client: httpx.AsyncClient) -> None:
    response = await post_raw(client, "/signup", b"email=nope&password=short&next=https%3A%2F%2Fevil.example")
    assert response.status_code == 422
    assert "evil.example" not in response.text


async def test_missing_fields_are_the_form_again_with_its_messages(client: httpx.AsyncClient) -> None:
    response = await post_raw(client, "/forgot-password", b"", htmx=True)
    assert response.status_code == 422
    assert "Enter a valid e-mail address" in response.text
    assert "<html" not in response.text


async def test_changing_the_address_without_the_password_says_so_on_the_account_page(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client, "grace@example.com")
    fragment = await post_form(client, "/me/email", {"new_email": "new@example.com"}, htmx=True)
    assert fragment.status_code == 422
    assert 'id="email-form"' in fragment.text
    assert "<html" not in fragment.text
    assert "Enter your current password." in fragment.text
    assert 'value="new@example.com"' in fragment.text
    page = await post_form(client, "/me/email", {"new_email": "not an address", "email_password": "x"})
    assert page.status_code == 422
    assert "<html" in page.text
    assert "grace@example.com" in page.text  # the account page around the form
    assert "Enter a valid e-mail address" in page.text
    assert (await client.get("/me")).status_code == 200


async def test_a_form_without_a_view_of_its_own_answers_a_422_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    await sign_up(client, "linus@example.com")
    response = await post_raw(client, "/me/delete", b"password=a&password=b&confirm=yes", htmx=True)
    assert response.status_code == 422
    assert "password" in response.text
    assert "Send one value for this field." in response.text


async def test_a_log_in_without_a_password_is_the_form_again_with_the_address_kept(
    client: httpx.AsyncClient,
) -> None:
    response = await post_form(client, "/login", {"email": "ada@example.com", "next": "/wallet"}, htmx=True)
    assert response.status_code == 422
    assert "Enter your e-mail and password." in response.text
    assert 'value="ada@example.com"' in response.text
    assert 'value="/wallet"' in response.text
    assert "<html" not in response.text
