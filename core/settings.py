"""Settings read from environment variables.

Every setting has a default that works on a laptop; a bad value stops start-up with a message that
names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec


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
    login_attempts_per_ip: int = 20
    login_attempts_per_email: int = 5
    login_window_seconds: int = 900
    # Abuse limits (issue 13): each refusal is a 429 with Retry-After, counted in the shared limiter
    signups_per_ip_per_hour: int = 20
    videos_per_creator_per_hour: int = 30
    unlocks_per_viewer_per_minute: int = 30  # unlock and tip requests together
    reports_per_user_per_day: int = 20
    # Moderation: viewers who bought a video this many days before its take-down get their points back
    takedown_refund_days: int = 30
    log_level: str = "INFO"
    sse_streams_per_session: int = 6  # live event streams one session may hold per web process
    metrics_token: str = ""  # empty: /metrics is off (404); set: a scraper sends `Authorization: Bearer <token>`
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
    transcode_timeout_seconds: int = 6 * 3600
    s3_bucket: str = ""  # empty: blobs on the local filesystem under DATA_DIR
    s3_endpoint_url: str = ""
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_region: str = ""

    # Points, packs and payments (prices in integer minor units)
    currency: str = "USD"
    packs: str = "100:100,550:500,1200:1000"
    payment_gateway: str = "sandbox"
    sandbox_webhook_secret: str = ""
    stripe_api_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str = ""
    reconcile_cron: str = "17 * * * *"

    # Unlocks, tips, payouts
    platform_fee_percent: int = 10
    tip_amounts: str = "10,50,100"
    payout_hold_days: int = 7
    payout_minimum_points: int = 2000
    points_per_currency_unit: int = 100
    payout_gateway: str = "sandbox"

    # E-mail
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_from: str = "Hypha <no-reply@hypha.local>"

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise SettingsError("PORT must be between 1 and 65535")
        if self.database_url and not self.database_url.startswith(("postgres://", "postgresql://")):
            raise SettingsError("DATABASE_URL must be a postgresql:// URL")
        if not 0 <= self.platform_fee_percent <= 100:
            raise SettingsError("PLATFORM_FEE_PERCENT must be between 0 and 100")
        if self.payment_gateway not in ("sandbox", "stripe"):
            raise SettingsError("PAYMENT_GATEWAY must be 'sandbox' or 'stripe'")
        if self.payment_gateway == "stripe" and not (self.stripe_api_key and self.stripe_webhook_secret):
            raise SettingsError("PAYMENT_GATEWAY=stripe needs STRIPE_API_KEY and STRIPE_WEBHOOK_SECRET")
        if not 1 <= self.sse_streams_per_session <= 1000:
            raise SettingsError("SSE_STREAMS_PER_SESSION must be between 1 and 1000")
        if self.metrics_token and (len(self.metrics_token) < 16 or not _visible_ascii(self.metrics_token)):
            raise SettingsError("METRICS_TOKEN must be at least 16 visible ASCII characters (no spaces)")
        for name in (
            "signups_per_ip_per_hour",
            "videos_per_creator_per_hour",
            "unlocks_per_viewer_per_minute",
            "reports_per_user_per_day",
        ):
            if not 1 <= getattr(self, name) <= 1_000_000:
                raise SettingsError(f"{name.upper()} must be between 1 and 1000000")
        if not 0 <= self.takedown_refund_days <= 3650:
            raise SettingsError("TAKEDOWN_REFUND_DAYS must be between 0 and 3650")
        if self.db_pool_min < 1 or self.db_pool_max < self.db_pool_min:
            raise SettingsError("DB_POOL_MIN must be >= 1 and DB_POOL_MAX >= DB_POOL_MIN")

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
    def effective_queue_url(self) -> str:
        return self.queue_url or self.database_url


def _visible_ascii(value: str) -> bool:
    return all("!" <= char <= "~" for char in value)


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from the environment; raise SettingsError naming the variable on a bad value."""
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    for field in msgspec.structs.fields(Settings):
        value = env.get(field.name.upper())
        if value is not None and value != "":
            raw[field.name] = value
    raw.update(overrides)
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as error:
        # msgspec says "Expected `int`, got `str` - at `$.port`": name the variable instead.
        message = str(error)
        if "$." in message:
            field_name = message.rsplit("$.", 1)[1].split("[", maxsplit=1)[0].strip("` ")
            raise SettingsError(f"{field_name.upper()}: {message.split(' - at ', maxsplit=1)[0]}") from error
        raise SettingsError(message) from error
