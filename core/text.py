"""Text from people, made safe to show to other people: no invisible control characters, and names and
titles on one line.

Control characters (C0 but tab and line breaks, DEL, C1) show as nothing or as garbage, ring terminals
and break mail headers; the bidi embedding, override and isolate controls (U+202A–U+202E,
U+2066–U+2069) reorder what follows them ("Support\u202egro.live" reads "Supportevil.org"). The marks
right-to-left writing needs (U+200E, U+200F) stay.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Sequence

_INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def without_invisible_controls(text: str) -> str:
    """`text` without control characters (tab, line feed and carriage return kept) or bidi overrides."""
    return _INVISIBLE.sub("", text)


def tidy(text: str) -> str:
    """`text` without invisible controls, in Unicode's composed form (NFC): "é" typed as e + U+0301 (a
    Mac's keyboard, a paste) and as U+00E9 become the same characters, so they are stored, compared,
    counted against a length limit and searched for alike."""
    return unicodedata.normalize("NFC", without_invisible_controls(text))


def one_line(text: str) -> str:
    """`text` as a one-line name or title (`tidy`), every run of white space (line breaks and tabs
    included) one space, no space at either end."""
    return " ".join(tidy(text).split())


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_text(text: str) -> str:
    """`text` for a cell of a CSV file people open in a spreadsheet, which runs a cell starting with
    = + - @ (or a tab or carriage return before one) as a formula: such text gets a leading apostrophe."""
    return "'" + text if text[:1] in _FORMULA_STARTS else text


def csv_line(values: Sequence[str]) -> bytes:
    """One CSV record (quoted as needed, CRLF-terminated), encoded as UTF-8, for a streamed download."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue().encode()
