"""Read the forms of a rendered page the way a browser submits them: every input of the form, by name.

Tests that click a button use this instead of building the request body by hand, so they send
exactly what the page showed (a price, an idempotency key, a pack's amount...)."""

from __future__ import annotations

from html.parser import HTMLParser


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[tuple[str, dict[str, str]]] = []
        self._current: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._current = {}
            self.forms.append((found.get("action", ""), self._current))
        elif tag == "input" and self._current is not None and "name" in found:
            self._current[found["name"]] = found.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def forms(html: str, action: str) -> list[dict[str, str]]:
    """The fields of every form on the page that posts to `action`, in page order."""
    parser = _Forms()
    parser.feed(html)
    return [fields for form_action, fields in parser.forms if form_action == action]


def form_with(html: str, action: str, **wanted: str) -> dict[str, str]:
    """The fields of the one form posting to `action` whose inputs include `wanted` (e.g. offer="rent_day")."""
    matching = [f for f in forms(html, action) if all(f.get(k) == v for k, v in wanted.items())]
    assert len(matching) == 1, f"expected one form to {action} with {wanted}, found {len(matching)}"
    return matching[0]
