"""The idempotency keys of every charge form (unlock and tip, membership join and change, gift) are taken
exactly as a page renders them: a key with anything after it — even one trailing newline, which a `$`
in a pattern lets through — is refused before anything is charged."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from core.errors import InvalidInput
from features.gifts.model import check_key as gift_key
from features.memberships.model import check_key as membership_key
from features.unlocks.model import check_key as unlock_key

CHECKS: list[Callable[[str], str]] = [unlock_key, membership_key, gift_key]


@pytest.mark.parametrize("check", CHECKS)
def test_a_key_as_rendered_is_taken(check: Callable[[str], str]) -> None:
    assert check("a-Key_0123456789") == "a-Key_0123456789"


@pytest.mark.parametrize("check", CHECKS)
@pytest.mark.parametrize(
    "key", ["a" * 16 + "\n", "a" * 16 + "\r\n", "\n" + "a" * 16, "a" * 15, "a" * 65, "a" * 16 + " "]
)
def test_a_key_with_anything_more_or_less_is_refused(check: Callable[[str], str], key: str) -> None:
    with pytest.raises(InvalidInput):
        check(key)
