"""Where to go after logging in or signing up (`next`) never leaves the site.

A browser resolves the `Location` / `HX-Redirect` it gets with the WHATWG URL parser: it drops tabs and
newlines, reads backslashes as slashes and takes `//host` as another site. Every target the app emits
must therefore be a same-origin path, percent-encoded, that the browser's parser (here Node's `URL`, the
WHATWG implementation) resolves to this origin. Control and non-Latin-1 characters in `next` are a 400.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from urllib.parse import quote

import httpx
import pytest
from injector import Injector

from core.db import Database
from tests.support.web import csrf_token, post_form, sign_up

ORIGIN = "http://127.0.0.1:8000"
PASSWORD = "correct horse battery"

# Values of `next` as the server receives them (already form- or query-decoded).
LEAVING = [
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\/evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    " //evil.example",
    "https:evil.example",
    "https://evil.example/x",
    "http:/evil.example",
    "HTTPS://evil.example",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(document.domain)",
    "data:text/html,<script>alert(1)</script>",
    "evil.example",
    "//evil.example@127.0.0.1:8000",
    "/.//evil.example",
    "/./\\evil.example",
    "/%2e/%2E//evil.example",
    "/x/..//evil.example",
    "?next=//evil.example",
    "#//evil.example",
    "",
]
REFUSED = [
    "/\t/evil.example",
    "/\n/evil.example",
    "/\x0b/evil.example",
    "/\r\n/evil.example",
    "/x\r\nSet-Cookie: hijack=1",
    "/x\rLocation: //evil.example",
    "/\x01x",
    "/\x7fx",
    "/\x85x",
    "/\u65e5\u672c",
    "/\uff0f\uff0fevil.example",
    "\uff0f\uff0fevil.example",
    "/\u2028//evil.example",
    "/\U0001f600",
]
KEPT = {
    # Percent-escapes are path characters to a browser (it never decodes them into slashes): on-site paths.
    "/%2F/evil.example": "/%2F/evil.example",
    "/%5Cevil.example": "/%5Cevil.example",
    "/%09/evil.example": "/%09/evil.example",
    "/%5C%5Cevil.example": "/%5C%5Cevil.example",
    "/v/abc123": "/v/abc123",
    "/v/abc123?t=10#player": "/v/abc123?t=10#player",
    "/caf\u00e9": "/caf%C3%A9",
    "/a b": "/a%20b",
    "/50%off": "/50%25off",
    "/x?q=%41": "/x?q=%41",
    '/x"><script>': "/x%22%3E%3Cscript%3E",
}


def resolve(targets: list[str]) -> list[str]:
    """Each target as a browser resolves it against this origin (Node's WHATWG `URL`)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is needed as the WHATWG URL reference")
    script = "const b=process.argv[1];const t=JSON.parse(process.argv[2]);"
    script += "console.log(JSON.stringify(t.map(x=>new URL(x,b).href)))"
    out = subprocess.run([node, "-e", script, ORIGIN, json.dumps(targets)], capture_output=True, text=True, check=True)
    resolved: list[str] = json.loads(out.stdout)
    return resolved


def target_of(response: httpx.Response) -> str:
    if response.status_code == 303:
        return response.headers["location"]
    assert response.status_code == 200, response.text[:300]
    return response.headers["hx-redirect"]


def assert_stays_on_site(targets: dict[str, str]) -> None:
    for sent, target in targets.items():
        assert target.isascii(), (sent, target)
        assert target.startswith("/"), (sent, target)
        assert not target.startswith("//"), (sent, target)
        assert not any(c in target for c in "\\\t\r\n "), (sent, target)
    for (sent, target), href in zip(targets.items(), resolve(list(targets.values())), strict=True):
        assert href.startswith(ORIGIN + "/"), (sent, target, href)


async def log_in(client: httpx.AsyncClient, pg: Injector, next_value: str, *, htmx: bool) -> httpx.Response:
    # Many log-ins from one address in a row: forget the per-address limit (test_login_limits.py tests it).
    await pg.get(Database).execute("DELETE FROM rate_limits")
    client.cookies.delete("hypha_session")
    form = {"email": "redirect@example.com", "password": PASSWORD, "next": next_value}
    return await post_form(client, "/login", form, htmx=htmx)


@pytest.mark.parametrize("htmx", [False, True])
async def test_log_in_never_sends_the_browser_off_site(client: httpx.AsyncClient, pg: Injector, htmx: bool) -> None:
    await sign_up(client, "redirect@example.com", PASSWORD)
    targets = {}
    for value in LEAVING:
        response = await log_in(client, pg, value, htmx=htmx)
        targets[value] = target_of(response)
        assert targets[value] == "/me", (value, targets[value])
    assert_stays_on_site(targets)


@pytest.mark.parametrize("htmx", [False, True])
async def test_log_in_keeps_a_same_site_next_percent_encoded(
    client: httpx.AsyncClient, pg: Injector, htmx: bool
) -> None:
    await sign_up(client, "redirect@example.com", PASSWORD)
    targets = {value: target_of(await log_in(client, pg, value, htmx=htmx)) for value in KEPT}
    assert targets == KEPT
    assert_stays_on_site(targets)


@pytest.mark.parametrize("htmx", [False, True])
async def test_control_or_non_latin1_characters_in_next_are_a_400_and_log_nobody_in(
    client: httpx.AsyncClient, pg: Injector, htmx: bool
) -> None:
    await sign_up(client, "redirect@example.com", PASSWORD)
    for value in REFUSED:
        response = await log_in(client, pg, value, htmx=htmx)
        assert response.status_code == 400, (value, response.status_code)
        assert "location" not in response.headers
        assert "hx-redirect" not in response.headers
        assert "hypha_session=" not in response.headers.get("set-cookie", "").replace("hypha_session=;", "")
    assert (await client.get("/me")).status_code in (303, 401)


async def test_sign_up_never_sends_the_browser_off_site(client: httpx.AsyncClient) -> None:
    targets = {}
    for number, value in enumerate([*LEAVING, *KEPT]):
        client.cookies.delete("hypha_session")
        form = {"email": f"new{number}@example.com", "password": PASSWORD, "next": value}
        targets[value] = target_of(await post_form(client, "/signup", form, htmx=number % 2 == 1))
    assert {value: targets[value] for value in KEPT} == KEPT
    assert_stays_on_site(targets)


async def test_sign_up_with_control_characters_in_next_is_a_400_and_creates_no_account(
    client: httpx.AsyncClient,
) -> None:
    for number, value in enumerate(REFUSED):
        form = {"email": f"refused{number}@example.com", "password": PASSWORD, "next": value}
        response = await post_form(client, "/signup", form, htmx=number % 2 == 1)
        assert response.status_code == 400, (value, response.status_code)
        assert "location" not in response.headers
    await csrf_token(client)
    # None of those e-mails has an account: logging in with them fails like any unknown e-mail.
    response = await post_form(client, "/login", {"email": "refused0@example.com", "password": PASSWORD})
    assert response.status_code == 422


@pytest.mark.parametrize("form_page", ["/login", "/signup"])
async def test_the_log_in_and_sign_up_pages_carry_only_a_safe_next(client: httpx.AsyncClient, form_page: str) -> None:
    for value in LEAVING:
        response = await client.get(form_page, params={"next": value})
        assert response.status_code == 200
        assert 'name="next" value=""' in response.text, value
    response = await client.get(form_page, params={"next": "/v/abc?t=1"})
    assert 'name="next" value="/v/abc?t=1"' in response.text
    for value in REFUSED:
        response = await client.get(form_page, params={"next": value})
        assert response.status_code == 400, (form_page, value, response.status_code)


async def test_a_logged_in_visitor_sent_to_log_in_is_redirected_on_site_only(client: httpx.AsyncClient) -> None:
    await sign_up(client, "redirect@example.com", PASSWORD)
    targets = {}
    for value in [*LEAVING, *KEPT]:
        response = await client.get("/login", params={"next": value}, follow_redirects=False)
        assert response.status_code == 303, value
        targets[value] = response.headers["location"]
    assert {value: targets[value] for value in KEPT} == KEPT
    assert_stays_on_site(targets)
    for value in REFUSED:
        response = await client.get("/login", params={"next": value}, follow_redirects=False)
        assert response.status_code == 400, value


@pytest.mark.parametrize("path", ["/me", "/studio", "/ops/queue/", "/me//evil.example", "/ops/queue//evil.example"])
async def test_the_log_in_link_of_a_guarded_page_carries_a_safe_next(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path, headers={"accept": "text/html"}, follow_redirects=False)
    if response.status_code == 404:
        return
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/login")
    nexts = httpx.URL(location).params.get_list("next")
    for value in nexts:
        assert value.startswith("/")
        assert not value.startswith("//")
    assert_stays_on_site({path: location})
    if not path.startswith("/me/") and "//" not in path:
        assert nexts == [path], location
        assert location == f"/login?next={quote(path)}"
