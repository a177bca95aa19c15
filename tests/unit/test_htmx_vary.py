"""`Vary` for answers chosen by htmx's request headers: merged with a Vary the handler set itself,
named once, and left alone when a response varies by everything (`*`) or did not look at htmx."""

from __future__ import annotations

from litestar import Litestar, Request, Response, get
from litestar.testing import AsyncTestClient

from core.web import HyphaRequest, vary_on_what_was_read, wants_fragment


@get("/negotiated", sync_to_thread=False)
def negotiated(request: Request[object, object, object]) -> Response[str]:
    """Differs by htmx and, as a compressing proxy might say, by Accept-Encoding."""
    body = "fragment" if wants_fragment(request) else "page"
    return Response(body, media_type="text/plain", headers={"Vary": "Accept-Encoding, hx-request"})


@get("/anything", sync_to_thread=False)
def anything(request: Request[object, object, object]) -> Response[str]:
    wants_fragment(request)
    return Response("?", media_type="text/plain", headers={"Vary": "*"})


@get("/plain", sync_to_thread=False)
def plain() -> str:
    return "the same for everyone"


APP = Litestar(
    route_handlers=[negotiated, anything, plain], request_class=HyphaRequest, before_send=[vary_on_what_was_read]
)


async def test_vary_is_merged_with_the_handlers_own_and_names_each_header_once() -> None:
    async with AsyncTestClient(APP) as client:
        page = await client.get("/negotiated")
        fragment = await client.get("/negotiated", headers={"HX-Request": "true"})
    assert (page.text, fragment.text) == ("page", "fragment")
    for response in (page, fragment):
        assert response.headers.get_list("vary") == ["Accept-Encoding, hx-request, HX-History-Restore-Request"]


async def test_a_response_varying_by_everything_or_not_asking_htmx_is_left_alone() -> None:
    async with AsyncTestClient(APP) as client:
        assert (await client.get("/anything")).headers["vary"] == "*"
        assert "vary" not in (await client.get("/plain", headers={"HX-Request": "true"})).headers
