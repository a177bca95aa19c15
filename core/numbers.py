"""Whole numbers read from text that came from outside: headers, paths, query strings, form fields.

Python's own tools are too lenient for the edge: `str.isdigit()` is true for "²" (which `int()` then
refuses, a 500 waiting to happen), and `int()` itself takes "١٢" (Arabic-Indic digits), "１２"
(full-width), "1_000", " +12 " and thousands of digits. Here a number is only what a person types on
any keyboard and what the protocols mean:

- the ASCII digits 0–9, nothing else; no sign unless the caller allows a minus (`signed=True`), never
  a plus; no underscores, dots, exponents or hexadecimal;
- leading zeros are accepted and read as decimal ("007" is 7, never octal);
- only ASCII spaces and tabs around the digits are dropped (HTTP's optional whitespace);
- `grouping=True` (forms where people write amounts) also takes thousands separated by commas in
  groups of three ("1,000", "12,345,678"), and nothing looser ("1,0" or "1,,000" are refused);
- a value is within [`minimum`, `maximum`]; `maximum` defaults to PostgreSQL's bigint limit, so a
  parsed number can always be stored. Over-long texts are refused without converting them.

Every refusal raises InvalidNumber (an InvalidInput: a 400 from an API, an inline 422 on a form) with
a message that names the value; NumberTooLarge says the value is over its maximum (a tus upload turns
that into a 413).
"""

from __future__ import annotations

import re

from core.errors import InvalidInput

BIGINT_MAX = 2**63 - 1
_PLAIN = re.compile(r"-?[0-9]+", re.ASCII)
_GROUPED = re.compile(r"-?[0-9]{1,3}(?:,[0-9]{3})+", re.ASCII)
_MAX_DIGITS = len(str(BIGINT_MAX))  # 19: anything longer (leading zeros aside) is over any maximum here


class InvalidNumber(InvalidInput):
    """Text that is not a whole number in ASCII digits, or one outside the allowed range."""

    message = "Enter a whole number using the digits 0 to 9."


class NumberTooLarge(InvalidNumber):
    """A well-formed number above the allowed maximum."""


def parse_whole(
    text: str,
    *,
    name: str = "The number",
    minimum: int = 0,
    maximum: int = BIGINT_MAX,
    signed: bool = False,
    grouping: bool = False,
) -> int:
    """The whole number `text` spells (see the module's rules); raises InvalidNumber or NumberTooLarge.

    `name` begins the error message ("Upload-Length must be …", "The amount must be …").
    """
    if minimum > maximum:
        raise ValueError("minimum is above maximum")
    value = text.strip(" \t")
    if not (_PLAIN.fullmatch(value) or (grouping and _GROUPED.fullmatch(value))):
        raise InvalidNumber(f"{name} must be a whole number written with the digits 0 to 9.")
    negative = value.startswith("-")
    if negative and not signed:
        raise InvalidNumber(f"{name} cannot be negative.")
    digits = value.lstrip("-").replace(",", "").lstrip("0") or "0"
    if len(digits) > _MAX_DIGITS:
        if negative:
            raise InvalidNumber(f"{name} must be at least {minimum:,}.")
        raise NumberTooLarge(f"{name} must be at most {maximum:,}.")
    number = -int(digits) if negative else int(digits)
    if number > maximum:
        raise NumberTooLarge(f"{name} must be at most {maximum:,}.")
    if number < minimum:
        raise InvalidNumber(f"{name} must be at least {minimum:,}.")
    return number


def parse_optional_whole(
    text: str | None,
    *,
    name: str = "The number",
    minimum: int = 0,
    maximum: int = BIGINT_MAX,
    signed: bool = False,
    grouping: bool = False,
) -> int | None:
    """None for a missing or blank text, else `parse_whole`."""
    if text is None or not text.strip(" \t"):
        return None
    return parse_whole(text, name=name, minimum=minimum, maximum=maximum, signed=signed, grouping=grouping)


def whole_or_none(text: str | None, *, maximum: int = BIGINT_MAX, signed: bool = False) -> int | None:
    """The number, or None for anything `parse_whole` refuses (for values that are simply ignored
    when malformed, such as a Last-Event-ID or a vendor's metadata)."""
    if text is None:
        return None
    try:
        return parse_whole(text, maximum=maximum, minimum=-BIGINT_MAX if signed else 0, signed=signed)
    except InvalidNumber:
        return None
