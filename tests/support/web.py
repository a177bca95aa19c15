"""Helpers for driving the app over HTTP the way a browser does (cookies, CSRF header)."""

from __future__ import annotations

import re
from typing import Any

import httpx

CSRF_INPUT = re.compile(r'name="_csrf_token" value="([^"]+)"')


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


async def sign_up(client: httpx.AsyncClient, email: str, password: str = "correct horse battery") -> httpx.Response:
    response = await post_form(client, "/signup", {"email": email, "password": password})
    assert response.status_code in (200, 303), response.text
    return response


async def log_in(client: httpx.AsyncClient, email: str, password: str = "correct horse battery") -> httpx.Response:
    response = await post_form(client, "/login", {"email": email, "password": password})
    assert response.status_code in (200, 303), response.text
    return response
