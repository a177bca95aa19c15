"""What the test suite needs beyond Python packages, fetched on the first run when it can be.

A fresh clone has no browser for the end-to-end tests and no `node_modules` for the IPFS reference
check. `uv run pytest` fetches them itself (Playwright's Chromium, `npm ci`) and, when it cannot
(offline, no npm), fails those tests with the exact command to run — it never skips them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
IPFS_REFERENCE = REPO / "tests" / "reference" / "ipfs-only-hash"
CHROMIUM_COMMAND = "uv run playwright install chromium"


class Unavailable(Exception):
    """A test prerequisite is missing and could not be fetched; the message says how to get it."""


def system_chromium() -> str | None:
    """PLAYWRIGHT_CHROMIUM_EXECUTABLE, else Debian's /usr/bin/chromium; None means Playwright's own."""
    configured = os.environ.get("PLAYWRIGHT_CHROMIUM_EXECUTABLE")
    if configured:
        return configured
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    return None


def install_playwright_chromium(env: Mapping[str, str] | None = None, timeout: float = 600) -> None:
    """Download Playwright's Chromium (once; later runs find it in Playwright's cache).

    Raises Unavailable with the command to run by hand when the download fails."""
    print(f"\nNo Chromium found for the browser tests: running `{CHROMIUM_COMMAND}` …", file=sys.stderr)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "playwright", "install", "chromium"],
            env=dict(env if env is not None else os.environ),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise Unavailable(_chromium_help("the download took longer than {timeout:.0f} s")) from error
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise Unavailable(_chromium_help(f"downloading it failed: {last[0]}"))


def _chromium_help(why: str) -> str:
    return (
        f"The browser tests need Chromium and {why}. Run `{CHROMIUM_COMMAND}` "
        "(add `--with-deps` on a machine without Chromium's system libraries), or install one "
        "(`apt-get install chromium`) or point PLAYWRIGHT_CHROMIUM_EXECUTABLE at one, then run the tests again."
    )


def ensure_npm_reference(directory: Path = IPFS_REFERENCE, env: Mapping[str, str] | None = None) -> str:
    """The `node` executable, once `npm ci` has installed the reference package in `directory`.

    Runs `npm ci` when node_modules is missing and npm exists; raises Unavailable with the exact
    command when node or npm is missing or the install fails (offline)."""
    command = f"cd {directory.relative_to(REPO) if directory.is_relative_to(REPO) else directory} && npm ci"
    node = shutil.which("node")
    if node is None:
        raise Unavailable(f"The IPFS reference check needs Node.js 18+ (and npm): install it, then run `{command}`.")
    wanted = json.loads((directory / "package.json").read_text()).get("dependencies", {})
    if all((directory / "node_modules" / name / "package.json").exists() for name in wanted):
        return node
    npm = shutil.which("npm")
    if npm is None:
        raise Unavailable(f"The IPFS reference check needs npm: install it, then run `{command}`.")
    print(f"\nThe IPFS reference package is not installed: running `{command}` …", file=sys.stderr)
    try:
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=directory,
            env=dict(env if env is not None else os.environ),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise Unavailable(f"`npm ci` took longer than 5 minutes (offline?): run `{command}`.") from error
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["(no output)"]
        raise Unavailable(f"`npm ci` failed ({last[0]}): run `{command}` once you are online.")
    return node
