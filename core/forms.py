"""Forms at the edge: msgspec Structs that validate input and report errors per field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import msgspec

T = TypeVar("T", bound=msgspec.Struct)


class FormErrors(Exception):
    """A form that did not validate; `errors` maps field names to messages."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


def parse_form(struct_type: type[T], data: Mapping[str, Any], messages: Mapping[str, str] | None = None) -> T:
    """Convert form data to `struct_type`, stripping strings; raise FormErrors with a message per field.

    `messages` gives the human message for a field whose value has the wrong type or shape; the
    struct's own `validate()` (if any) adds rule checks.
    """
    messages = messages or {}
    # NUL characters cannot be stored in PostgreSQL text and no honest form sends them: dropped
    cleaned = {k: (v.replace("\x00", "").strip() if isinstance(v, str) else v) for k, v in data.items()}
    try:
        form = msgspec.convert(cleaned, struct_type, strict=False)
    except msgspec.ValidationError as error:
        text = str(error)
        field = text.rsplit("$.", 1)[1].split("[", maxsplit=1)[0].strip("` ") if "$." in text else ""
        if not field and "required field" in text:
            field = text.split("`")[1] if "`" in text else ""
        raise FormErrors({field or "form": messages.get(field, _friendly(text))}) from error
    validate = getattr(form, "validate", None)
    if validate is not None:
        errors: dict[str, str] = validate()
        if errors:
            raise FormErrors(errors)
    return form


def _friendly(text: str) -> str:
    if "required field" in text:
        return "This field is required."
    if "length" in text:
        return "This value has the wrong length."
    return "This value is not valid."
