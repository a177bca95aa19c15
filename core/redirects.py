"""Redirect targets that come from the user (`next=`): same-origin paths only, judged the way a browser
parses them.

Browsers resolve a `Location` or `HX-Redirect` value with the WHATWG URL parser, which is lenient:
it drops tabs and newlines anywhere, strips leading and trailing spaces and controls, reads a backslash
as a slash and takes `//host` (after all that) as another site. A check on the raw string is therefore
not enough (`/<TAB>/evil.example` becomes `//evil.example`). Here a value is accepted only if it is a
path on this origin however a browser reads it, and it is emitted percent-encoded (ASCII only, no
spaces, backslashes or controls), so what the browser resolves is exactly what was checked.
"""

from __future__ import annotations

import re
from urllib.parse import quote

from core.errors import DomainError

MAX_LENGTH = 2048
# C0 controls (tab, CR, LF among them), DEL and the C1 controls.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_STRAY_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Kept as they are: unreserved and sub-delimiter characters, path/query/fragment separators, escapes.
_SAFE = "/?#&=;:@!$'()*+,-._~%[]"
_DOT_SEGMENTS = {".", "..", "%2e", ".%2e", "%2e.", "%2e%2e"}


class UnsafeRedirectTarget(DomainError):
    """`next` holds control or non-Latin-1 characters: no link of ours makes one (answered with a 400)."""

    message = "The address to return to holds characters no web address may hold."


def local_path(value: str) -> str:
    """The same-origin path `value` names, percent-encoded; "" when it is not one.

    "" for anything a browser would take off-site or not as a path: a scheme (`https:`,
    `javascript:`), an authority (`//host`, `/\\host`, `\\/host`, also after dot segments such as
    `/.//host`), a bare host, or an empty value. Raises UnsafeRedirectTarget for control characters
    (tab and newline included: a browser silently drops them, which is how `/<TAB>/host` escapes
    naive checks) and for characters beyond Latin-1.
    """
    if _CONTROL.search(value) or any(ord(char) > 0xFF for char in value):
        raise UnsafeRedirectTarget()
    value = value.strip(" ").replace("\\", "/")  # as the browser: trimmed, backslashes are slashes
    if not value.startswith("/") or value.startswith("//") or len(value) > MAX_LENGTH:
        return ""
    path = re.split(r"[?#]", value, maxsplit=1)[0]
    if _without_dot_segments(path).startswith("//"):
        return ""
    return quote(_STRAY_PERCENT.sub("%25", value), safe=_SAFE, encoding="utf-8")


def safe_redirect(value: str, default: str) -> str:
    """`value` as a same-origin path (see `local_path`), or `default` when it is not one."""
    return local_path(value) or default


def _without_dot_segments(path: str) -> str:
    """The path after the browser removes `.` and `..` segments (RFC 3986 §5.2.4, WHATWG URL)."""
    output: list[str] = []
    segments = path.split("/")[1:]
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment.lower() in _DOT_SEGMENTS:
            if segment.lower() not in {".", "%2e"} and output:
                output.pop()
            if last:
                output.append("")
            continue
        output.append(segment)
    return "/" + "/".join(output)
