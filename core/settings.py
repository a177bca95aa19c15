"""Settings read from environment variables.

Every setting has a default that works on a laptop; a bad value stops start-up with a message that
names the variable.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

_LENIENT: ContextVar[bool] = ContextVar("settings_lenient", default=False)


class SettingsError(Exception):
    """Raised when an environment variable holds a value the setting cannot take."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Configuration of one Hypha process; the environment variable is the upper-cased field name."""

    database_url: str = ""
    queue_url: str = ""
    data_dir: str = ".hypha"
    host: str = "127.0.0.1"
    port: int = 8000
    base_url: str = ""
    secret_key: str = ""
    key_encryption_key: str = ""  # seals video keys at rest; empty: derived from SECRET_KEY
    session_max_age: int = 14 * 24 * 3600
    # How long a web process may reuse a session's looked-up user (0: look it up on every request).
    # Log-out, password changes, suspension, deletion and every change to the user revoke it at once
    # through the event bus (AccountService.principal_for_session).
    session_cache_seconds: float = 2.0
    login_attempts_per_ip: int = 20
    login_attempts_per_email: int = 5
    login_window_seconds: int = 900
    email_verification_hours: int = 48  # how long a "confirm your e-mail" link works
    password_reset_minutes: int = 30  # how long a password-reset link works
    # Abuse limits (issue 13): each refusal is a 429 with Retry-After, counted in the shared limiter
    signups_per_ip_per_hour: int = 20
    videos_per_creator_per_hour: int = 30
    unlocks_per_viewer_per_minute: int = 30  # unlock and tip requests together
    reports_per_user_per_day: int = 20
    promo_code_tries_per_minute: int = 10  # promo codes one viewer may try per minute (guessing)
    # Moderation: viewers who bought a video this many days before its take-down get their points back
    takedown_refund_days: int = 30
    log_level: str = "INFO"
    sse_streams_per_session: int = 6  # live event streams one session may hold per web process
    metrics_token: str = ""  # empty: /metrics is off (404); set: a scraper sends `Authorization: Bearer <token>`
    # The reverse proxies whose X-Forwarded-For / X-Forwarded-Proto the web server believes: addresses or
    # networks, comma-separated (e.g. "127.0.0.1" for a proxy on the same machine), or "*". Empty: nobody's
    # (the TCP peer is the client), so a client that reaches the server directly cannot pick its address.
    forwarded_allow_ips: str = ""
    db_pool_min: int = 2
    db_pool_max: int = 10
    worker_concurrency: int = 2

    # Uploads and the transcoding pipeline
    max_upload_bytes: int = 4 * 1024**3
    max_duration_seconds: int = 4 * 3600
    max_video_height: int = 2160
    max_video_width: int = 3840
    ffmpeg_binary: str = ""
    ipfs_api_url: str = ""
    # An IPFS gateway (http(s)://host[:port][/path]) the watch page loads segments from first, as
    # <gateway>/ipfs/<root>/<path>, falling back to Hypha's own URLs; empty: segments come from Hypha only.
    ipfs_gateway_url: str = ""
    transcode_timeout_seconds: int = 6 * 3600
    transcode_cpu_multiple: float = 20.0  # CPU seconds per second of video one ffmpeg step may use
    quota_storage_bytes: int = 50 * 1024**3  # per creator: sources + published files
    quota_daily_upload_bytes: int = 10 * 1024**3  # per creator, per rolling 24 hours
    upload_expiry: int = 24 * 3600  # seconds without a byte after which an unfinished tus upload is deleted
    view_window_seconds: int = 6 * 3600  # one view per viewer (or visitor's device) per video per window
    heartbeats_per_minute: int = 30  # per viewer (signed-in user; visitors: per address)
    key_fetches_alert_per_day: int = 50  # a viewer fetching one video's key more often in a day is listed for staff
    s3_bucket: str = ""  # empty: blobs on the local filesystem under DATA_DIR
    s3_endpoint_url: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_region: str = ""

    # Points, packs and payments (prices in integer minor units)
    currency: str = "USD"
    packs: str = "100:100,550:500,1200:1000"
    payment_gateway: str = "sandbox"
    allow_sandbox_payments: bool = False  # the sandbox vendor on an https BASE_URL (a public test site)
    sandbox_webhook_secret: str = ""
    stripe_api_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str = ""
    reconcile_cron: str = "17 * * * *"

    # Unlocks, tips, payouts
    platform_fee_percent: int = 10
    tip_amounts: str = "10,50,100"
    rental_clock: str = "unlock"  # when a rental's time starts: at the unlock, or at the first play ("first_play")
    rental_start_window_days: int = 30  # with first_play: a rental not played this long after its purchase ends
    # Gift points (features/gifts): limits of one gift, when an unclaimed gift returns, sends per sender per day
    gift_min_points: int = 10
    gift_max_points: int = 10_000
    gift_return_days: int = 30
    gifts_per_sender_per_day: int = 20
    payout_hold_days: int = 7
    payout_minimum_points: int = 2000
    points_per_currency_unit: int = 100
    payout_gateway: str = "sandbox"
    # Memberships (features/memberships): a renewal that finds too few points keeps access this many
    # days (renewal retried meanwhile); the reminder mail goes out this many days before a renewal.
    membership_grace_days: int = 3
    membership_reminder_days: int = 3

    # Privacy: data exports and account deletion (features/privacy, docs/privacy.md)
    privacy_export_ttl_hours: int = 72  # a data export's download link works this long, then the file is deleted
    privacy_content_grace_days: int = 30  # a deleted creator's videos leave storage after this many days

    # E-mail
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "Hypha <no-reply@hypha.local>"

    def __post_init__(self) -> None:
        if _LENIENT.get():
            return
        problems = startup_problems(self)
        if problems:
            raise SettingsError(problems[0])

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir)

    @property
    def public_url(self) -> str:
        return self.base_url or f"http://{self.host}:{self.port}"

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def test_mode(self) -> bool:
        """Payments are pretend (the sandbox vendor): pages say so when the site is public (https)."""
        return self.payment_gateway == "sandbox" and self.secure_cookies

    @property
    def effective_queue_url(self) -> str:
        return self.queue_url or self.database_url


def startup_problems(settings: Settings) -> list[str]:
    """Settings a process must refuse to start with, each message naming the variable."""
    s = settings
    problems: list[str] = []
    if not 0 < s.port < 65536:
        problems.append("PORT must be between 1 and 65535")
    if s.database_url and not s.database_url.startswith(("postgres://", "postgresql://")):
        problems.append("DATABASE_URL must be a postgresql:// URL")
    if not 0 <= s.platform_fee_percent <= 100:
        problems.append("PLATFORM_FEE_PERCENT must be between 0 and 100")
    if s.payment_gateway not in ("sandbox", "stripe"):
        problems.append("PAYMENT_GATEWAY must be 'sandbox' or 'stripe'")
    if s.payment_gateway == "stripe" and not (s.stripe_api_key and s.stripe_webhook_secret):
        problems.append("PAYMENT_GATEWAY=stripe needs STRIPE_API_KEY and STRIPE_WEBHOOK_SECRET")
    if not 1 <= s.sse_streams_per_session <= 1000:
        problems.append("SSE_STREAMS_PER_SESSION must be between 1 and 1000")
    if s.metrics_token and (len(s.metrics_token) < 16 or not _visible_ascii(s.metrics_token)):
        problems.append("METRICS_TOKEN must be at least 16 visible ASCII characters (no spaces)")
    if not _trusted_proxies(s.forwarded_allow_ips):
        problems.append(
            "FORWARDED_ALLOW_IPS must be empty, '*', or comma-separated IP addresses or networks (e.g. 127.0.0.1)"
        )
    if s.db_pool_min < 1 or s.db_pool_max < s.db_pool_min:
        problems.append("DB_POOL_MIN must be >= 1 and DB_POOL_MAX >= DB_POOL_MIN")
    if s.payout_gateway not in ("sandbox", "stripe"):
        problems.append("PAYOUT_GATEWAY must be 'sandbox' or 'stripe'")
    elif s.payment_gateway == "sandbox" and s.payout_gateway != "sandbox":
        problems.append(
            f"PAYOUT_GATEWAY={s.payout_gateway} pays real money out, but PAYMENT_GATEWAY=sandbox takes none in: "
            "free sandbox points would become real payouts. Use PAYMENT_GATEWAY=stripe, or PAYOUT_GATEWAY=sandbox"
        )
    if s.payment_gateway == "sandbox" and s.secure_cookies and not s.allow_sandbox_payments:
        problems.append(
            "PAYMENT_GATEWAY=sandbox with an https BASE_URL looks like production, where anyone could buy points "
            "for free. Set PAYMENT_GATEWAY=stripe, or ALLOW_SANDBOX_PAYMENTS=true for a public test site (every "
            "page then shows a test-mode banner)"
        )
    if not 1 <= s.email_verification_hours <= 24 * 30:
        problems.append("EMAIL_VERIFICATION_HOURS must be between 1 and 720")
    if not 5 <= s.password_reset_minutes <= 24 * 60:
        problems.append("PASSWORD_RESET_MINUTES must be between 5 and 1440")
    if not 1 <= s.privacy_export_ttl_hours <= 24 * 90:
        problems.append("PRIVACY_EXPORT_TTL_HOURS must be between 1 and 2160 (90 days)")
    if not 0 <= s.privacy_content_grace_days <= 365:
        problems.append("PRIVACY_CONTENT_GRACE_DAYS must be between 0 and 365")
    if not 0 < s.transcode_cpu_multiple <= 1000:
        problems.append("TRANSCODE_CPU_MULTIPLE must be above 0 and at most 1000")
    if s.quota_storage_bytes < 0:
        problems.append("QUOTA_STORAGE_BYTES must be 0 or more")
    if s.quota_daily_upload_bytes < 0:
        problems.append("QUOTA_DAILY_UPLOAD_BYTES must be 0 or more")
    if not 0 <= s.session_cache_seconds <= 60:
        problems.append("SESSION_CACHE_SECONDS must be between 0 (off) and 60")
    if not 60 <= s.upload_expiry <= 30 * 24 * 3600:
        problems.append("UPLOAD_EXPIRY must be a number of seconds between 60 and 2592000 (30 days)")
    if not 60 <= s.view_window_seconds <= 366 * 24 * 3600:
        problems.append("VIEW_WINDOW_SECONDS must be between 60 and 31622400 (366 days)")
    if not 1 <= s.heartbeats_per_minute <= 600:
        problems.append("HEARTBEATS_PER_MINUTE must be between 1 and 600")
    if s.key_fetches_alert_per_day < 1:
        problems.append("KEY_FETCHES_ALERT_PER_DAY must be at least 1")
    limits = ("signups_per_ip_per_hour", "videos_per_creator_per_hour", "unlocks_per_viewer_per_minute")
    problems.extend(
        f"{name.upper()} must be between 1 and 1000000"
        for name in (*limits, "reports_per_user_per_day", "promo_code_tries_per_minute")
        if not 1 <= getattr(s, name) <= 1_000_000
    )
    if not 0 <= s.membership_grace_days <= 60:
        problems.append("MEMBERSHIP_GRACE_DAYS must be between 0 and 60")
    if not 1 <= s.membership_reminder_days <= 14:
        problems.append("MEMBERSHIP_REMINDER_DAYS must be between 1 and 14")
    if s.rental_clock not in ("unlock", "first_play"):
        problems.append("RENTAL_CLOCK must be 'unlock' or 'first_play'")
    if not 1 <= s.rental_start_window_days <= 365:
        problems.append("RENTAL_START_WINDOW_DAYS must be between 1 and 365")
    if not 1 <= s.gift_min_points <= s.gift_max_points <= 1_000_000:
        problems.append(
            "GIFT_MIN_POINTS and GIFT_MAX_POINTS must satisfy 1 <= GIFT_MIN_POINTS <= GIFT_MAX_POINTS <= 1000000"
        )
    if not 1 <= s.gift_return_days <= 365:
        problems.append("GIFT_RETURN_DAYS must be between 1 and 365")
    if not 1 <= s.gifts_per_sender_per_day <= 10_000:
        problems.append("GIFTS_PER_SENDER_PER_DAY must be between 1 and 10000")
    if s.ipfs_gateway_url and not _plain_http_url(s.ipfs_gateway_url):
        problems.append(
            "IPFS_GATEWAY_URL must be an http:// or https:// URL with a host and no query or fragment, "
            "e.g. https://ipfs.io"
        )
    if not 0 <= s.takedown_refund_days <= 3650:
        problems.append("TAKEDOWN_REFUND_DAYS must be between 0 and 3650")
    return problems


def _trusted_proxies(value: str) -> bool:
    """Whether FORWARDED_ALLOW_IPS is empty, "*", or a comma-separated list of addresses or networks."""
    if value.strip() in ("", "*"):
        return True
    try:
        for item in value.split(","):
            ipaddress.ip_network(item.strip(), strict=False)
    except ValueError:
        return False
    return True


def _plain_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return (
        parts.scheme in ("http", "https")
        and bool(parts.hostname)
        and not parts.query
        and not parts.fragment
        and "?" not in value
        and "#" not in value
        and _visible_ascii(value)
    )


def production_problems(settings: Settings) -> list[str]:
    """Everything unsafe or inconsistent for a public production site (`hypha check`): the start-up
    refusals, then settings a process accepts but production should not run with."""
    s = settings
    problems = startup_problems(s)
    if not s.base_url:
        problems.append("BASE_URL is unset: links in mail point at http://HOST:PORT and cookies are not Secure")
    elif not s.base_url.startswith("https://"):
        problems.append("BASE_URL is not https://: sessions and CSRF cookies travel in clear text")
    if not s.database_url:
        problems.append("DATABASE_URL is unset: the embedded PostgreSQL is for one machine, not production")
    if s.payment_gateway == "sandbox":
        problems.append("PAYMENT_GATEWAY=sandbox: payments are pretend, points are free (test mode)")
    if s.allow_sandbox_payments:
        problems.append("ALLOW_SANDBOX_PAYMENTS=true: the site runs in test mode")
    if s.payout_gateway == "sandbox":
        problems.append("PAYOUT_GATEWAY=sandbox: creators are never really paid")
    if s.stripe_api_key.startswith(("sk_test_", "rk_test_")):
        problems.append("STRIPE_API_KEY is a Stripe test-mode key: no real payment or payout happens")
    if not s.secret_key:
        problems.append("SECRET_KEY is unset: the secret is generated and kept in the database beside the data")
    elif len(s.secret_key) < 32:
        problems.append("SECRET_KEY is shorter than 32 characters: it can be guessed")
    if not s.key_encryption_key:
        problems.append(
            "KEY_ENCRYPTION_KEY is unset: the videos' keys are sealed with a key derived from SECRET_KEY; keep a "
            "separate one in a secret store"
        )
    if not s.forwarded_allow_ips:
        problems.append(
            "FORWARDED_ALLOW_IPS is unset: behind a reverse proxy every client has the proxy's address, so the "
            "per-address limits (log-in, sign-up, reset) count everyone together; name the proxy's address"
        )
    if not s.smtp_host:
        problems.append("SMTP_HOST is unset: mail (e-mail verification, password resets) stays in the /outbox page")
    if s.session_max_age > 30 * 24 * 3600:
        problems.append("SESSION_MAX_AGE is over 30 days: a stolen session stays usable for long")
    if s.log_level.upper() == "DEBUG":
        problems.append("LOG_LEVEL=DEBUG: debug logs are verbose and may hold personal data")
    return problems


def _visible_ascii(value: str) -> bool:
    return all("!" <= char <= "~" for char in value)


def load_settings(environ: Mapping[str, str] | None = None, *, lenient: bool = False, **overrides: Any) -> Settings:
    """Build Settings from the environment; raise SettingsError naming the variable on a bad value.

    `lenient=True` (for `hypha check`) skips the start-up refusals, so that every problem can be
    listed by `production_problems`; a value of the wrong type still raises."""
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    for field in msgspec.structs.fields(Settings):
        value = env.get(field.name.upper())
        if value is not None and value != "":
            raw[field.name] = value
    raw.update(overrides)
    marker = _LENIENT.set(lenient)
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as error:
        # msgspec says "Expected `int`, got `str` - at `$.port`": name the variable instead.
        message = str(error)
        if "$." in message:
            field_name = message.rsplit("$.", 1)[1].split("[", maxsplit=1)[0].strip("` ")
            raise SettingsError(f"{field_name.upper()}: {message.split(' - at ', maxsplit=1)[0]}") from error
        raise SettingsError(message) from error
    finally:
        _LENIENT.reset(marker)
