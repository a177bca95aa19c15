"""The abuse limits and the refund window are settings; a bad value stops start-up naming the variable."""

from __future__ import annotations

import pytest

from core.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SIGNUPS_PER_IP_PER_HOUR", "0"),
        ("VIDEOS_PER_CREATOR_PER_HOUR", "-3"),
        ("UNLOCKS_PER_VIEWER_PER_MINUTE", "lots"),
        ("REPORTS_PER_USER_PER_DAY", "0"),
        ("TAKEDOWN_REFUND_DAYS", "-1"),
    ],
)
def test_a_bad_limit_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings({variable: value})


def test_the_limits_are_read_from_the_environment() -> None:
    settings = load_settings(
        {
            "SIGNUPS_PER_IP_PER_HOUR": "3",
            "VIDEOS_PER_CREATOR_PER_HOUR": "4",
            "UNLOCKS_PER_VIEWER_PER_MINUTE": "5",
            "REPORTS_PER_USER_PER_DAY": "6",
            "TAKEDOWN_REFUND_DAYS": "7",
        }
    )
    assert (
        settings.signups_per_ip_per_hour,
        settings.videos_per_creator_per_hour,
        settings.unlocks_per_viewer_per_minute,
        settings.reports_per_user_per_day,
        settings.takedown_refund_days,
    ) == (3, 4, 5, 6, 7)
