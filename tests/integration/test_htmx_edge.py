"""The page-or-fragment decision, as a browser and htmx see it: htmx swapping part of a page gets the
fragment, a plain browser and htmx's history restore (a page missing from htmx's history cache) get the
whole page, and every answer that depended on those headers says so in Vary, so no cache in between
hands a fragment to someone asking for the page."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest
from injector import Injector

from core.settings import Settings
from core.web import SESSION_COOKIE
from tests.conftest import app_client
from tests.support.videos import add_synthetic_video, person, price_and_publish, session_token
from tests.support.web import csrf_token, post_form

HTMX = {"hx-request": "true"}
RESTORE = {"hx-request": "true", "hx-history-restore-request": "true"}

# Every GET route that answers either a page or a fragment of it (core.web.page_or_fragment), with
# what the page's own htmx sends (`hx-target` where the answer depends on it). `{video}` is the
# studio id of a video of the logged-in creator, `{public}` its public id, `{me}` the creator's id.
PAGE_OR_FRAGMENT = [
    ("/", {}),
    ("/search?q=tides", {}),
    ("/c/{me}", {}),
    ("/me/favourites", {}),
    ("/me/picks", {}),
    ("/me/export", {}),
    ("/me/delete", {}),
    ("/wallet", {"hx-target": "statement"}),
    ("/studio/dashboard", {}),
    ("/studio/analytics", {}),
    ("/studio/analytics/videos/{video}", {}),
    ("/studio/videos/new", {}),
    ("/studio/videos/{video}/upload", {}),
    ("/v/{public}/pricing", {}),
]


@dataclass
class Creator:
    client: httpx.AsyncClient
    paths: dict[str, str]


@pytest.fixture
async def creator(pg: Injector, settings: Settings) -> AsyncIterator[Creator]:
    who = await person(pg, "Vary Creator", creator=True)
    video = (await add_synthetic_video(pg, who.id)).video
    await price_and_publish(pg, who.id, video)
    async with app_client(pg, settings) as client:
        client.cookies.set(SESSION_COOKIE, await session_token(pg, who))
        yield Creator(client, {"me": str(who.id), "video": str(video.id), "public": video.public_id})


def is_whole_page(response: httpx.Response) -> bool:
    return response.text.lstrip().lower().startswith("<!doctype html")


def vary(response: httpx.Response) -> list[str]:
    return [name.strip().lower() for name in response.headers.get("vary", "").split(",") if name.strip()]


@pytest.mark.parametrize(("path", "htmx_sends"), PAGE_OR_FRAGMENT, ids=[path for path, _ in PAGE_OR_FRAGMENT])
async def test_htmx_gets_the_fragment_and_a_history_restore_gets_the_whole_page(
    creator: Creator, path: str, htmx_sends: dict[str, str]
) -> None:
    url = path.format(**creator.paths)
    page = await creator.client.get(url)
    fragment = await creator.client.get(url, headers=HTMX | htmx_sends)
    restored = await creator.client.get(url, headers=RESTORE | htmx_sends)
    assert [page.status_code, fragment.status_code, restored.status_code] == [200, 200, 200]
    assert is_whole_page(page)
    assert not is_whole_page(fragment), fragment.text[:200]
    assert is_whole_page(restored), "a history restore puts the answer in place of the whole page"
    for answer in (page, fragment, restored):
        assert "hx-request" in vary(answer)
        assert "hx-history-restore-request" in vary(answer)
    if htmx_sends:
        assert "hx-target" in vary(page)


async def test_htmx_aimed_at_another_element_of_the_wallet_gets_the_whole_page(creator: Creator) -> None:
    """Only the statement's own "older" link gets the statement alone; the answer varies by the target."""
    other = await creator.client.get("/wallet", headers=HTMX | {"hx-target": "main"})
    assert is_whole_page(other)
    assert "hx-target" in vary(other)


async def test_a_page_that_does_not_depend_on_htmx_does_not_vary_by_it(creator: Creator) -> None:
    response = await creator.client.get("/studio/payouts", headers=HTMX)
    assert response.status_code == 200
    assert "hx-request" not in vary(response)


async def test_a_redirect_is_followed_by_htmx_itself_and_varies_by_the_request(creator: Creator) -> None:
    await csrf_token(creator.client, "/me")
    fields = {"title": "Redirected", "description": ""}
    plain = await post_form(creator.client, "/studio/videos", fields)
    assert plain.status_code == 303
    assert "hx-request" in vary(plain)
    swapped = await post_form(creator.client, "/studio/videos", fields, htmx=True)
    assert swapped.status_code == 201
    assert "hx-request" in vary(swapped)


async def test_logged_out_htmx_is_sent_to_log_in_and_a_history_restore_gets_a_plain_redirect(
    client: httpx.AsyncClient,
) -> None:
    """htmx follows `HX-Redirect` on a swap, but a history restore only puts the body it got in place:
    it must get an ordinary redirect to the log-in page, which the browser follows."""
    swapped = await client.get("/me/favourites", headers=HTMX)
    assert swapped.status_code == 401
    assert swapped.headers["hx-redirect"] == "/login?next=/me/favourites"
    restored = await client.get("/me/favourites", headers=RESTORE, follow_redirects=False)
    assert restored.status_code == 303
    assert restored.headers["location"] == "/login?next=/me/favourites"
    assert "hx-redirect" not in restored.headers
    for answer in (swapped, restored):
        assert "hx-request" in vary(answer)


async def test_an_error_for_htmx_is_a_fragment_and_for_a_history_restore_the_error_page(
    client: httpx.AsyncClient,
) -> None:
    swapped = await client.get("/c/00000000-0000-0000-0000-000000000000", headers=HTMX)
    restored = await client.get("/c/00000000-0000-0000-0000-000000000000", headers=RESTORE)
    assert swapped.status_code == restored.status_code == 404
    assert swapped.headers["hx-reswap"] == "innerHTML"
    assert not is_whole_page(swapped)
    assert is_whole_page(restored)
    assert "hx-reswap" not in restored.headers
    assert "hx-request" in vary(swapped)
    assert "hx-request" in vary(restored)


async def test_a_click_after_the_session_ended_in_another_tab_comes_back_to_the_page_not_to_the_action(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    """The person logged out in another tab, then pressed Rent here: htmx posted to the unlock action.
    After logging in they must come back to the video page they were on (htmx names it in
    `HX-Current-URL`), not to the action's URL, which is no page (a GET of it is a 405)."""
    creator = await person(pg, "Mira", creator=True)
    video = (await add_synthetic_video(pg, creator.id)).video
    await price_and_publish(pg, creator.id, video)
    watch = f"/v/{video.public_id}?t=4"
    token = await csrf_token(client, watch)
    on_the_page = {"x-csrftoken": token, "hx-current-url": f"http://127.0.0.1:8000{watch}"}
    clicked = await client.post(
        f"/v/{video.public_id}/unlock",
        data={"offer": "rent_day", "key": "k" * 20, "price": "50"},
        headers=HTMX | on_the_page,
    )
    assert clicked.status_code == 401
    assert clicked.headers["hx-redirect"] == f"/login?next={quote(watch, safe='/')}"
    # A fragment a page loads by itself (the favourites panel of /me) goes back to that page too.
    panel = await client.get("/me/favourites", headers=HTMX | {"hx-current-url": "http://127.0.0.1:8000/me"})
    assert panel.headers["hx-redirect"] == "/login?next=/me"
    # Another site's address in the header is not followed: back to the path asked for, as before.
    elsewhere = await client.get("/me/favourites", headers=HTMX | {"hx-current-url": "https://evil.example/x"})
    assert elsewhere.headers["hx-redirect"] == "/login?next=/me/favourites"


async def test_a_plain_form_sent_after_the_session_ended_leads_to_log_in_and_back_to_its_page(
    client: httpx.AsyncClient,
) -> None:
    """Not htmx (a plain form, or a browser without JavaScript): the answer was an error page saying
    "Something went wrong" with a link home. It is the log-in page, which comes back to the form's page
    (the browser's same-origin Referer); a Referer from elsewhere is not followed."""
    token = await csrf_token(client, "/login")
    sent = {"x-csrftoken": token, "accept": "text/html", "referer": "http://127.0.0.1:8000/me/sessions"}
    answer = await client.post("/me/sessions/end-others", headers=sent, follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/login?next=/me/sessions")
    elsewhere = sent | {"referer": "https://evil.example/me/sessions"}
    answer = await client.post("/me/sessions/end-others", headers=elsewhere, follow_redirects=False)
    assert (answer.status_code, answer.headers["location"]) == (303, "/login")
    # An API client (no HTML wanted) still gets the 401 it can act on.
    api = await client.post("/me/sessions/end-others", headers={"x-csrftoken": token, "accept": "application/json"})
    assert api.status_code == 401


@pytest.mark.parametrize(
    ("path", "title"),
    [("/no/such/page", "Not found (404) · Hypha"), ("/staff/payouts", "Not allowed (403) · Hypha")],
)
async def test_an_error_page_is_titled_with_what_went_wrong_not_only_its_number(
    client: httpx.AsyncClient, pg: Injector, path: str, title: str
) -> None:
    """A title is what a screen reader says first and what a tab shows (WCAG 2.4.2): "404 · Hypha" says
    little to most people."""
    client.cookies.set(SESSION_COOKIE, await session_token(pg, await person(pg, "Sam")))
    page = await client.get(path)
    assert f"<title>{title}</title>" in page.text
