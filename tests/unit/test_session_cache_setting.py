"""SESSION_CACHE_SECONDS: how long a web process may reuse a session's looked-up user (0: never)."""

from __future__ import annotations

import pytest

from core.settings import SettingsError, load_settings


@pytest.mark.parametrize("value", ["-1", "61", "a while"])
def test_a_bad_session_cache_time_names_its_variable(value: str) -> None:
    with pytest.raises(SettingsError, match="SESSION_CACHE_SECONDS"):
        load_settings({"SESSION_CACHE_SECONDS": value})


def test_the_session_cache_time_is_read_from_the_environment() -> None:
    assert load_settings({"SESSION_CACHE_SECONDS": "0.5"}).session_cache_seconds == 0.5
    assert load_settings({}).session_cache_seconds == 2.0
