"""Helpers for driving the app over HTTP the way a browser does (cookies, CSRF header)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')
VERIFY_LINK = re.compile(r"/verify-email\?token=([A-Za-z0-9_-]+)")


async def csrf_token(client: httpx.AsyncClient, page: str = "/login") -> str:
    response = await client.get(page)
    token = client.cookies.get("csrftoken")
    assert token, f"no CSRF cookie after GET {page} ({response.status_code})"
    return token


async def post_form(
    client: httpx.AsyncClient, path: str, data: dict[str, Any], *, htmx: bool = False
) -> httpx.Response:
    token = client.cookies.get("csrftoken") or await csrf_token(client)
    headers = {"x-csrftoken": token}
    if htmx:
        headers["hx-request"] = "true"
    return await client.post(path, data=data, headers=headers, follow_redirects=False)


async def sign_up(
    client: httpx.AsyncClient, email: str, password: str = "correct horse battery", *, verified: bool = True
) -> httpx.Response:
    """Sign up over HTTP, logged in afterwards; with `verified` (the default, for tests not about
    verification) the address is then confirmed the way a person does it: the link from the mail."""
    response = await post_form(client, "/signup", {"email": email, "password": password})
    assert response.status_code in (200, 303), response.text
    if verified:
        await verify_from_outbox(client)
    return response


async def verification_token(client: httpx.AsyncClient) -> str:
    """The token of the newest "confirm your e-mail" link in the logged-in person's mail (/outbox)."""
    page = await client.get("/outbox")
    assert page.status_code == 200, page.text
    found = VERIFY_LINK.search(page.text)
    assert found, "no verification link in the outbox"
    return found.group(1)


async def verify_from_outbox(client: httpx.AsyncClient) -> None:
    """Open the verification link from the outbox and confirm, as the logged-in person."""
    token = await verification_token(client)
    page = await client.get(f"/verify-email?token={token}")
    assert page.status_code == 200, page.text
    response = await post_form(client, "/verify-email", {"token": token})
    assert response.status_code in (200, 303), response.text


async def log_in(client: httpx.AsyncClient, email: str, password: str = "correct horse battery") -> httpx.Response:
    response = await post_form(client, "/login", {"email": email, "password": password})
    assert response.status_code in (200, 303), response.text
    return response


def htmx_events(response: httpx.Response) -> set[str]:
    """The events a response asks htmx to fire on arrival (`HX-Trigger`: a JSON object of event names
    to details, or a comma-separated list of names — htmx reads both)."""
    value = response.headers.get("hx-trigger", "").strip()
    if value.startswith("{"):
        return set(json.loads(value))
    return {name.strip() for name in value.split(",") if name.strip()}
