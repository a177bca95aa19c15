"""Piccolo tables of core's own infrastructure (migrations/0001_core.sql); only core's PostgreSQL
adapters (core/postgres.py) and the command line read them.

PostgreSQL keys `pipeline_checkpoints` on (run_id, unit); Piccolo has no composite keys, so the class
names the key's first column its primary key, and queries always filter on the whole key.
"""

from __future__ import annotations

from piccolo.columns import JSONB, BigSerial, Integer, Text, Timestamptz
from piccolo.table import Table


class EventLogTable(Table, tablename="event_log"):
    """Events as published (ids and figures, never HTML), read by live pages, notifications and analytics."""

    id = BigSerial(primary_key=True)
    topic = Text()
    name = Text()
    data = JSONB()
    created_at = Timestamptz()


class CheckpointTable(Table, tablename="pipeline_checkpoints"):
    """One row per completed unit of a pipeline run; key (run_id, unit)."""

    run_id = Text(primary_key=True)
    unit = Text()
    output = JSONB()
    completed_at = Timestamptz()  # the database's default is clock_timestamp()


class RateLimitTable(Table, tablename="rate_limits"):
    """Fixed-window counters; a key is a hash or an id, never an e-mail address."""

    key = Text(primary_key=True)
    window_start = Timestamptz()
    hits = Integer()


class AppSecretTable(Table, tablename="app_secrets"):
    """Secrets generated once per installation (the session signing key, the sandbox webhook secret)."""

    name = Text(primary_key=True)
    value = Text(secret=True)
