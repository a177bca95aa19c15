"""The edge's one ValidationException handler (core.web + core.forms) on a small app of its own: a form
that does not decode comes back with inline errors and the values sent (422; htmx gets the fragment),
a JSON body gets a 422 naming the field, bad JSON a 422 too, and hostile bodies never a 5xx."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import msgspec
import pytest
from litestar import Litestar, get, post
from litestar.datastructures import State
from litestar.params import FromQuery, JSONBody, URLEncodedBody
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig
from litestar.testing import TestClient
from litestar_htmx import HTMXPlugin, HTMXRequest

from core.forms import FieldErrors, Form, form_view
from core.settings import Settings
from core.web import EXCEPTION_HANDLERS, template_config, template_directories

FORM = {"content-type": "application/x-www-form-urlencoded"}
HTMX = {**FORM, "hx-request": "true"}
HTML = {**FORM, "accept": "text/html"}


class OfferForm(Form):
    """A made-up form with each kind of rule: a Meta bound, a number, and a rule across two fields."""

    title: Annotated[str, msgspec.Meta(max_length=20)] = ""
    points: int = 0
    password: str = ""
    confirm: str = ""

    messages = {"points": "Enter the points as a whole number."}

    def __post_init__(self) -> None:
        super().__post_init__()
        errors = {}
        if not self.title:
            errors["title"] = "Give the offer a title."
        if self.confirm != "yes":
            errors["confirm"] = "Tick the box to confirm."
        if errors:
            raise FieldErrors(errors)


class Ping(msgspec.Struct):
    session: str
    position: float = 0.0


@post(
    "/offers",
    opt=form_view("offer_page.html", "_offer_form.html", lambda request, values: {"heading": "New offer"}),
)
async def create_offer(data: URLEncodedBody[OfferForm]) -> str:
    return f"saved {data.title!r} for {data.points}"


@post("/bare")
async def bare_form(data: URLEncodedBody[OfferForm]) -> str:
    return "saved"


@post("/ping")
async def ping(data: JSONBody[Ping]) -> dict[str, Any]:
    return {"session": data.session, "position": data.position}


@get("/count")
async def count(n: FromQuery[int] = 0) -> int:
    return n


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient[Litestar]]:
    (tmp_path / "offer_page.html").write_text("<html><h1>{{ heading }}</h1>{% include '_offer_form.html' %}</html>")
    (tmp_path / "_offer_form.html").write_text(
        '<form>{% for name, text in errors.items() %}<p class="error" data-field="{{ name }}">{{ text }}</p>'
        '{% endfor %}<input name="title" value="{{ form.title }}">'
        '<input name="password" value="{{ form.password }}"></form>'
    )
    templates = TemplateConfig(
        directory=[tmp_path, *template_directories()],
        engine=JinjaTemplateEngine,
        engine_callback=template_config().engine_callback,
    )
    app = Litestar(
        [create_offer, bare_form, ping, count],
        exception_handlers=EXCEPTION_HANDLERS,
        template_config=templates,
        plugins=[HTMXPlugin()],
        request_class=HTMXRequest,
        state=State({"settings": Settings()}),  # the error page's layout reads it
    )
    with TestClient(app) as test_client:
        yield test_client


def errors_in(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-field="([^"]+)">([^<]*)<', html))


def test_a_valid_form_reaches_the_handler_stripped_and_without_nul(client: TestClient[Litestar]) -> None:
    response = client.post("/offers", content="title=+Tea%00+time+&points=5&confirm=yes", headers=FORM)
    assert response.status_code == 201
    assert response.text == "saved 'Tea time' for 5"


def test_a_form_breaking_its_own_rules_comes_back_as_the_page_with_every_message(
    client: TestClient[Litestar],
) -> None:
    response = client.post("/offers", content="title=&points=3&confirm=no", headers=HTML)
    assert response.status_code == 422
    assert "<h1>New offer</h1>" in response.text
    assert errors_in(response.text) == {"title": "Give the offer a title.", "confirm": "Tick the box to confirm."}


def test_htmx_gets_only_the_fragment_with_the_values_sent_but_never_the_password(
    client: TestClient[Litestar],
) -> None:
    sent = "title=A+very+long+title+indeed+it+is&password=hunter22&confirm=yes"
    response = client.post("/offers", content=sent, headers=HTMX)
    assert response.status_code == 422
    assert "<h1>" not in response.text
    assert response.text.startswith("<form>")
    assert errors_in(response.text) == {"title": "This value is too long."}
    assert 'value="A very long title indeed it is"' in response.text
    assert "hunter22" not in response.text
    assert response.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ("title=a&title=b&confirm=yes", "title", "Send one value for this field."),
        ("title=a&points=ten&confirm=yes", "points", "Enter the points as a whole number."),
        ("title=a&points=1e400&confirm=yes", "points", "Enter the points as a whole number."),
        ("title=a&points=" + "9" * 5000 + "&confirm=yes", "points", "Enter the points as a whole number."),
        ("title=" + "x" * 100_000 + "&confirm=yes", "title", "This value is too long."),
    ],
)
def test_hostile_forms_are_a_422_beside_the_field_never_a_server_error(
    client: TestClient[Litestar], body: str, field: str, message: str
) -> None:
    response = client.post("/offers", content=body, headers=HTMX)
    assert response.status_code == 422
    assert errors_in(response.text) == {field: message}


def test_a_route_without_a_form_view_answers_a_422_naming_the_field(client: TestClient[Litestar]) -> None:
    page = client.post("/bare", content="title=a&title=b&confirm=yes", headers=HTML)
    assert page.status_code == 422
    assert "title: Send one value for this field." in page.text
    api = client.post("/bare", content="title=a&title=b&confirm=yes", headers=FORM)
    assert api.status_code == 422
    assert api.json()["errors"] == {"title": "Send one value for this field."}


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (b'{"session": "s", "position": "x"}', {"position": "This value is not valid."}),
        (b'{"session": 5}', {"session": "This value is not valid."}),
        (b'{"position": 1}', {"form": "A required field is missing."}),
        (b"[1, 2]", {"form": "Send an object with the fields of this form."}),
        (b'"just text"', {"form": "Send an object with the fields of this form."}),
    ],
)
def test_a_json_body_of_the_wrong_shape_is_a_422_naming_the_field(
    client: TestClient[Litestar], body: bytes, errors: dict[str, str]
) -> None:
    response = client.post("/ping", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["errors"] == errors


@pytest.mark.parametrize("body", [b"{", b"\xff\xfe", b'{"session": "s"' + b" " * 100_000])
def test_malformed_json_is_a_422_never_a_server_error(client: TestClient[Litestar], body: bytes) -> None:
    response = client.post("/ping", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"] == "The request body is not valid JSON."


def test_a_good_json_body_is_decoded(client: TestClient[Litestar]) -> None:
    response = client.post("/ping", json={"session": "abc", "position": 12})
    assert response.status_code == 201
    assert response.json() == {"session": "abc", "position": 12.0}


def test_a_bad_query_parameter_stays_a_400_not_a_form_error(client: TestClient[Litestar]) -> None:
    response = client.get("/count?n=lots")
    assert response.status_code == 400
