"""The one rule for amounts a page showed and a later request charges (an unlock's price, a pack's
price, a payout): the request must carry the amount exactly as the page rendered it, and it must
still be the amount — otherwise nothing is charged and the person is shown the current one."""

from __future__ import annotations


def matches_shown(shown: str | int, amount: int) -> bool:
    """Whether `shown` — what a button or form carried — is `amount` exactly as a page renders it: the
    same ASCII decimal digits and nothing else (no sign, fraction, exponent, separator, leading zero
    or other digit script; nothing `int()` would be lenient about). A number given as an int (a
    trusted caller) must equal it. Anything else was not shown, and is never charged."""
    if isinstance(shown, bool):
        return False
    if isinstance(shown, int):
        return shown == amount
    return shown == str(amount)


def parse_shown(shown: str) -> int | None:
    """The whole number a page rendered as `shown` (ASCII digits, no sign or leading zero, at most 15
    digits), or None for anything a page of ours does not render."""
    if not (shown.isascii() and shown.isdigit()) or len(shown) > 15:
        return None
    value = int(shown)
    return value if str(value) == shown else None
