"""On a fresh clone `uv run pytest` fetches what the tests need beyond Python packages — Playwright's
Chromium, the npm reference package — and, where it cannot, fails with the exact command to run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support.first_run import IPFS_REFERENCE, Unavailable, ensure_npm_reference, install_playwright_chromium

UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing answers there


def reference_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "ipfs-only-hash"
    copy.mkdir()
    for name in ("package.json", "package-lock.json", "hash.js"):
        shutil.copy(IPFS_REFERENCE / name, copy / name)
    return copy


@pytest.mark.skipif(shutil.which("npm") is None, reason="checks npm's own behaviour")
def test_offline_the_npm_reference_fails_with_the_command_to_run(tmp_path: Path) -> None:
    directory = reference_copy(tmp_path)
    env = {
        **os.environ,
        "npm_config_registry": UNREACHABLE,
        "npm_config_cache": str(tmp_path / "empty-cache"),
        "npm_config_fetch_retries": "0",
        "npm_config_fetch_timeout": "2000",
    }
    with pytest.raises(Unavailable, match=r"run `.*ipfs-only-hash && npm ci`"):
        ensure_npm_reference(directory, env)
    assert not (directory / "node_modules" / "ipfs-only-hash").exists()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("npm") is None, reason="checks npm's own behaviour")
def test_the_first_run_installs_the_npm_reference_by_itself(tmp_path: Path) -> None:
    directory = reference_copy(tmp_path)
    node = ensure_npm_reference(directory)
    assert Path(node).name == "node"
    assert (directory / "node_modules" / "ipfs-only-hash" / "package.json").exists()
    assert ensure_npm_reference(directory) == node  # the second run finds it


def test_without_a_browser_and_offline_the_browser_tests_fail_with_the_command_to_run(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PLAYWRIGHT_BROWSERS_PATH": str(tmp_path / "browsers"),
        "PLAYWRIGHT_DOWNLOAD_HOST": UNREACHABLE,
        "PLAYWRIGHT_CHROMIUM_DOWNLOAD_HOST": UNREACHABLE,
    }
    with pytest.raises(Unavailable, match=r"Run `uv run playwright install chromium`"):
        install_playwright_chromium(env, timeout=120)
