"""The template filters every page leans on: attributes written once (escaped as attribute values, never
as text) and counts with the right noun (issue 14: "1 sales · 1 tips", maxlength=&#34;120&#34;)."""

from __future__ import annotations

import pytest
from jinja2 import DictLoader, Environment, select_autoescape

from core.web import ROOT, any_with, html_attrs, plural


def environment(**templates: str) -> Environment:
    macros = (ROOT / "core" / "templates" / "macros.html").read_text()
    env = Environment(
        loader=DictLoader({"macros.html": macros, **templates}),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    env.filters["attrs"] = html_attrs
    env.globals["csrf_token"] = lambda: "t"
    return env


@pytest.mark.parametrize(
    ("count", "noun", "expected"),
    [
        (0, "sale", "0 sales"),
        (1, "sale", "1 sale"),
        (2, "tip", "2 tips"),
        (-1, "point", "-1 point"),
        (1200, "point", "1,200 points"),
        (1, "person", "1 person"),
        (3, "person", "3 people"),
    ],
)
def test_a_count_takes_the_noun_it_needs(count: int, noun: str, expected: str) -> None:
    irregular = "people" if noun == "person" else ""
    assert plural(count, noun, irregular) == expected


def test_attributes_are_written_once_with_their_values_escaped() -> None:
    rendered = html_attrs(
        {"maxlength": 120, "placeholder": '"quoted" <b>', "required": True, "hidden": False, "x": None}
    )
    assert rendered == ' maxlength="120" placeholder="&#34;quoted&#34; &lt;b&gt;" required'


@pytest.mark.parametrize("bad", ['maxlength="120"', ["maxlength"]])
def test_attributes_must_come_as_a_mapping(bad: object) -> None:
    with pytest.raises(TypeError):
        html_attrs(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ['onclick"', "a b", "x=1", "<script>", ""])
def test_an_attribute_name_that_could_break_out_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="attribute name"):
        html_attrs({name: "1"})


def test_the_field_macro_renders_its_extra_attributes_as_attributes() -> None:
    env = environment(
        page='{% from "macros.html" import field %}'
        '{{ field("title", "Title", "A \\"film\\"", {}, attrs={"maxlength": 120, "inputmode": "text"}) }}'
    )
    html = env.get_template("page").render()
    assert 'maxlength="120"' in html
    assert 'inputmode="text"' in html
    assert 'value="A &#34;film&#34;"' in html
    assert "&#34;120&#34;" not in html
    assert " required" in html
    assert "aria-describedby" not in html  # no help, no error: nothing to describe it


def test_the_field_macro_links_its_help_and_error_to_the_input() -> None:
    env = environment(
        page='{% from "macros.html" import field %}'
        '{{ field("email", "E-mail", "x", {"email": "Enter an e-mail."}, help="We never share it.") }}'
    )
    html = env.get_template("page").render()
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="h-email e-email"' in html
    assert '<div class="help" id="h-email">We never share it.</div>' in html


def test_any_with_says_whether_any_item_has_the_dotted_attribute_set() -> None:
    env = environment(page="{{ 'yes' if items | any_with('offer.duration') else 'no' }}")
    env.filters["any_with"] = any_with

    class Offer:
        def __init__(self, duration: int | None) -> None:
            self.duration = duration

    class Choice:
        def __init__(self, duration: int | None) -> None:
            self.offer = Offer(duration)

    page = env.get_template("page")
    assert page.render(items=[Choice(None), Choice(86400)]) == "yes"
    assert page.render(items=[Choice(None), Choice(0)]) == "no"
    assert page.render(items=[]) == "no"
