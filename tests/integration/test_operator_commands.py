"""Operator commands (`hypha staff`, `hypha portability export`) run against a database that `hypha up` or
`hypha web` prepared: with SECRET_KEY unset they take the shared secret kept in the database, as the web
server and the worker do, and answer with one line, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from uuid import uuid4


def hypha(database_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "KEY_ENCRYPTION_KEY")}
    env.update(DATABASE_URL=database_url, DATA_DIR=str(data_dir))
    return subprocess.run(
        [sys.executable, "-m", "features.bootstrap", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_staff_without_secret_key_in_the_environment_answers_in_one_line(database_url: str, tmp_path: Path) -> None:
    done = hypha(database_url, tmp_path, "staff", "add", "nobody-here@example.com")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("hypha: ")


def test_export_without_secret_key_in_the_environment_answers_in_one_line(database_url: str, tmp_path: Path) -> None:
    done = hypha(database_url, tmp_path, "portability", "export", str(uuid4()), "--out", str(tmp_path / "out"))
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("hypha: ")
