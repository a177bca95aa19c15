"""Piccolo tables of the pipeline (only its adapters import them); they describe migrations/0200_pipeline.sql
and 0910_video_keys_sealed.sql. Key material is `secret`: Piccolo's admin and APIs never select it."""

from __future__ import annotations

from piccolo.columns import Bytea, Text, Timestamptz
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class VideoKeyTable(Table, tablename="video_keys"):
    """One row per run: its AES-128 key and IV sealed (AES-256-GCM) under the key-encryption key `kek_id`;
    rows written before sealing hold a plain `key` and `iv` until they are next read (a CHECK allows
    exactly one of the two forms)."""

    run_id = Text(primary_key=True)
    key = Bytea(null=True, default=None, secret=True)
    iv = Bytea(null=True, default=None, secret=True)
    created_at = Timestamptz(default=TimestamptzNow())
    sealed = Bytea(null=True, default=None, secret=True)
    kek_id = Text(null=True, default=None)
