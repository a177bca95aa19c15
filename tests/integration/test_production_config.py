"""Production-safe configuration: start-up refuses settings that would turn free sandbox points into
real money, and `hypha check` lists everything unsafe or inconsistent for production."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.settings import SettingsError, load_settings, production_problems

SAFE = {
    "DATABASE_URL": "postgresql://hypha@db.internal:5432/hypha",
    "BASE_URL": "https://video.example",
    "SECRET_KEY": "k" * 64,
    "KEY_ENCRYPTION_KEY": "e" * 64,
    "PAYMENT_GATEWAY": "stripe",
    "STRIPE_API_KEY": "sk_live_abc",
    "STRIPE_WEBHOOK_SECRET": "whsec_abc",
    "PAYOUT_GATEWAY": "stripe",
    "SMTP_HOST": "smtp.example",
    "FORWARDED_ALLOW_IPS": "127.0.0.1",
}


def hypha_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k.upper() not in {f.upper() for f in _setting_names()}}
    return subprocess.run(
        [sys.executable, "-m", "features.bootstrap", "check"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def _setting_names() -> list[str]:
    import msgspec

    from core.settings import Settings

    return [field.name for field in msgspec.structs.fields(Settings)]


def test_sandbox_payments_on_an_https_site_stop_start_up_with_a_message_naming_the_settings() -> None:
    with pytest.raises(SettingsError, match="PAYMENT_GATEWAY=sandbox") as refused:
        load_settings({"BASE_URL": "https://video.example"})
    assert "ALLOW_SANDBOX_PAYMENTS" in str(refused.value)


def test_a_public_test_site_may_allow_sandbox_payments_and_is_then_in_test_mode() -> None:
    settings = load_settings({"BASE_URL": "https://staging.example", "ALLOW_SANDBOX_PAYMENTS": "true"})
    assert settings.test_mode
    assert not load_settings({}).test_mode  # a laptop on http: no banner


@pytest.mark.parametrize("allow", ["false", "true"])
def test_a_real_payout_gateway_with_sandbox_payments_is_always_refused(allow: str) -> None:
    with pytest.raises(SettingsError, match="PAYOUT_GATEWAY=stripe") as refused:
        load_settings({"PAYOUT_GATEWAY": "stripe", "STRIPE_API_KEY": "sk_live_x", "ALLOW_SANDBOX_PAYMENTS": allow})
    assert "free sandbox points would become real payouts" in str(refused.value)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("PAYOUT_GATEWAY", "paypal"), ("EMAIL_VERIFICATION_HOURS", "0"), ("PASSWORD_RESET_MINUTES", "100000")],
)
def test_other_new_settings_are_checked_too(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings({variable: value})


def test_real_payments_with_real_payouts_start() -> None:
    settings = load_settings(SAFE)
    assert not settings.test_mode
    assert production_problems(settings) == []


def test_hypha_check_lists_every_unsafe_setting_and_exits_non_zero() -> None:
    result = hypha_check({"BASE_URL": "https://video.example", "PAYOUT_GATEWAY": "stripe", "STRIPE_API_KEY": "x"})
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout
    for expected in (
        "PAYOUT_GATEWAY=stripe pays real money out",
        "PAYMENT_GATEWAY=sandbox with an https BASE_URL",
        "DATABASE_URL is unset",
        "SECRET_KEY is unset",
        "KEY_ENCRYPTION_KEY is unset",
        "SMTP_HOST is unset",
    ):
        assert expected in out, (expected, out)
    assert out.startswith("hypha check: ")
    assert int(out.split()[2]) == out.count("\n  - ")


def test_hypha_check_names_a_test_site_and_weak_settings() -> None:
    env = {
        **SAFE,
        "PAYMENT_GATEWAY": "sandbox",
        "PAYOUT_GATEWAY": "sandbox",
        "ALLOW_SANDBOX_PAYMENTS": "true",
        "SECRET_KEY": "short",
        "STRIPE_API_KEY": "sk_test_abc",
        "LOG_LEVEL": "DEBUG",
        "SESSION_MAX_AGE": str(90 * 24 * 3600),
    }
    result = hypha_check(env)
    assert result.returncode == 1
    for expected in (
        "PAYMENT_GATEWAY=sandbox: payments are pretend",
        "ALLOW_SANDBOX_PAYMENTS=true",
        "PAYOUT_GATEWAY=sandbox",
        "SECRET_KEY is shorter than 32 characters",
        "STRIPE_API_KEY is a Stripe test-mode key",
        "LOG_LEVEL=DEBUG",
        "SESSION_MAX_AGE is over 30 days",
    ):
        assert expected in result.stdout, (expected, result.stdout)
    assert "sk_test_abc" not in result.stdout  # secrets are named, never printed
    assert "short" not in result.stdout.replace("shorter", "")


def test_hypha_check_passes_a_production_ready_configuration() -> None:
    result = hypha_check(SAFE)
    assert result.returncode == 0, result.stdout
    assert "no problem found" in result.stdout


def test_hypha_check_reports_a_value_of_the_wrong_type() -> None:
    result = hypha_check({**SAFE, "PORT": "eighty"})
    assert result.returncode == 1
    assert "PORT" in result.stdout
