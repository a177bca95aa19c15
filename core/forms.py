"""Forms and JSON bodies at the edge: msgspec Structs that Litestar decodes and validates.

A handler declares its body as a DTO (`data: URLEncodedBody[SignupForm]`, or `JSONBody[...]`) and
Litestar converts the request into it. A value of the wrong shape (a field sent twice, text where a
number belongs, a length over a `msgspec.Meta` bound) or a rule of the form's own `__post_init__`
(raising `FieldErrors`) becomes a `ValidationException` whose `extra` names the field. One exception
handler (core.web) turns that into `{field: human message}` and shows the form the route names with
`form_view(...)` again at 422; a route without one answers a 422 naming the fields (JSON for APIs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import unquote_to_bytes

import msgspec
from litestar import Request
from litestar.enums import RequestEncodingType
from litestar.exceptions import ClientException, ValidationException
from litestar.utils.scope.state import ScopeState

from core.text import tidy

FORM_VIEW = "form_view"
BODY = "form"  # the key of an error about the body as a whole (not one field)


class Form(msgspec.Struct, forbid_unknown_fields=False):
    """Base of the HTML form DTOs: every text arrives stripped, without invisible control characters
    (`core.text`: NUL, which PostgreSQL cannot store, other C0/C1 controls and bidi overrides — no honest
    form sends them) and composed (NFC: "é" is one character however the keyboard sent it); see
    `_kept_as_sent` for the fields that only lose NUL. A subclass with its own
    `__post_init__` calls `super().__post_init__()` first, then checks its rules and raises `FieldErrors`.

    `messages` gives the human message for a field whose value has the wrong shape or breaks a
    `msgspec.Meta` bound (the handler has a plain default for each kind of failure)."""

    messages: ClassVar[Mapping[str, str]] = {}

    def __post_init__(self) -> None:
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, str):
                kept = value.replace("\x00", "") if _kept_as_sent(name) else tidy(value)
                setattr(self, name, kept.strip())


def _kept_as_sent(name: str) -> bool:
    """Fields whose characters are not cleaned: a password is whatever its owner typed, and `next` is
    judged by core.redirects, which refuses a control character with a 400 of its own."""
    return "password" in name or name == "next"


class FieldErrors(ValueError):
    """A form that breaks its own rules, raised from its `__post_init__`: `errors` maps each field to
    a message. (msgspec wraps it in a ValidationError, Litestar in a ValidationException; the handler
    finds it again as their cause, so the field is known without reading any error text.)"""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = dict(errors)


ContextBuilder = Callable[[Request[Any, Any, Any], dict[str, str]], dict[str, Any]]


@dataclass(frozen=True)
class FormView:
    """Where a route's form is shown again when its body does not validate: the whole page for a plain
    post, the fragment for htmx. `context(request, submitted)` gives the rest of the template's context
    (it may replace "form", e.g. to check a `next`); it must not do I/O."""

    page: str
    fragment: str
    context: ContextBuilder | None = None


def form_view(page: str, fragment: str = "", context: ContextBuilder | None = None) -> dict[str, Any]:
    """A route's `opt` naming the template that shows its form: `@post(..., opt=form_view(...))`."""
    return {FORM_VIEW: FormView(page, fragment or page, context)}


def route_form_view(request: Request[Any, Any, Any]) -> FormView | None:
    handler = request.scope.get("route_handler")
    view = handler.opt.get(FORM_VIEW) if handler is not None else None
    return view if isinstance(view, FormView) else None


def body_errors(request: Request[Any, Any, Any], exc: ValidationException) -> dict[str, str]:
    """The body's fields that did not validate, each with a human message; {} when the failure is
    elsewhere (a query or path parameter)."""
    rules = _rule_errors(exc)
    if rules:
        return rules
    messages = _field_messages(request)
    errors: dict[str, str] = {}
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(item, dict) or item.get("source") != "body":
            continue
        key = str(item.get("key") or "")
        field = BODY if key in ("", "data") else key
        errors.setdefault(field, messages.get(field) or human_message(str(item.get("message", ""))))
    return errors


def human_message(problem: str) -> str:
    """A person's words for msgspec's kind of failure (the field itself comes from Litestar's `key`)."""
    if "length" in problem:
        return "This value is too long." if "<=" in problem else "This value is too short."
    if "missing required field" in problem:
        return "A required field is missing."
    if "Expected `object`" in problem:
        return "Send an object with the fields of this form."
    if "got `array`" in problem:  # a form field sent twice arrives as a list
        return "Send one value for this field."
    if "Expected `int`" in problem:
        return "Enter a whole number."
    return "This value is not valid."


def submitted(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The form's values as the browser sent them (first of a repeated field), cleaned like `Form`
    cleans them, for showing the form again. Passwords are never sent back."""
    raw = ScopeState.from_scope(request.scope).form
    values: dict[str, str] = {}
    if isinstance(raw, dict):
        for name, value in raw.items():
            first = value[0] if isinstance(value, list) and value else value
            if isinstance(first, str) and "password" not in name:
                values[name] = first.replace("\x00", "").strip()
    return values


class InvalidFormEncoding(ClientException):
    """A form body whose bytes, once percent-decoded, are not UTF-8 text (a 400)."""

    status_code = 400

    def __init__(self) -> None:
        super().__init__(detail="The form is not UTF-8 text: send it again from the page.")


def parse_form(body: bytes) -> dict[str, str | list[str]]:
    """An `application/x-www-form-urlencoded` body read the way browsers write it (the WHATWG
    urlencoded parser): `&`-separated `name=value` pairs, `+` for a space, percent-escapes decoded to
    bytes and the bytes read as UTF-8 — raw UTF-8 included, which Litestar read as Latin-1. A name
    sent twice gives a list (as Litestar's parser does). Raises InvalidFormEncoding for bytes that are
    not UTF-8, which Litestar turned into U+FFFD characters without a word."""
    found: dict[str, list[str]] = {}
    for pair in body.split(b"&"):
        if not pair:
            continue
        name, _, value = pair.partition(b"=")
        try:
            key = unquote_to_bytes(name.replace(b"+", b" ")).decode("utf-8")
            text = unquote_to_bytes(value.replace(b"+", b" ")).decode("utf-8")
        except UnicodeDecodeError as error:
            raise InvalidFormEncoding() from error
        found.setdefault(key, []).append(text)
    return {key: values if len(values) > 1 else values[0] for key, values in found.items()}


async def read_forms_as_utf8(request: Request[Any, Any, Any]) -> None:
    """The app's `before_request`: a urlencoded body is parsed by `parse_form` before Litestar builds the
    handler's form DTO from it (Litestar then takes the parsed form it finds in the scope)."""
    if request.content_type[0] == RequestEncodingType.URL_ENCODED:
        parsed: dict[str, Any] = parse_form(await request.body())
        ScopeState.from_scope(request.scope).form = parsed


def _rule_errors(exc: ValidationException) -> dict[str, str]:
    cause: BaseException | None = exc.__cause__
    for _ in range(3):  # ValidationException ← msgspec.ValidationError ← FieldErrors
        if cause is None:
            return {}
        if isinstance(cause, FieldErrors):
            return cause.errors
        cause = cause.__cause__
    return {}


def _field_messages(request: Request[Any, Any, Any]) -> Mapping[str, str]:
    handler = request.scope.get("route_handler")
    if handler is None:
        return {}
    parameter = handler.parsed_fn_signature.parameters.get("data")
    dto = parameter.annotation if parameter is not None else None
    found = getattr(dto, "messages", None)
    return found if isinstance(found, Mapping) else {}
