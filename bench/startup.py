"""Start-up: how long a new user waits for `hypha up`, and what the import of the code costs.

    uv run python -m bench.startup [--rounds 3] [--base /tmp/hypha-base] [--no-write]

Each round measures, with the 1-minute load average beside each figure:

- cold `hypha up`: a fresh DATA_DIR (embedded PostgreSQL initdb, every migration, web and worker)
  until http://127.0.0.1:<port>/ answers 200;
- warm `hypha up`: the same DATA_DIR again (PostgreSQL started on existing data, nothing to migrate);
- `hypha --help`;
- `import features.bootstrap` (the composition root: what `hypha up` and `hypha --help` load), and
  `python -X importtime` of every feature, `core.app` and uvicorn (what the web server loads), whose
  largest top-level packages are listed.

With `--base` (an earlier checkout: `git worktree add /tmp/hypha-base <commit>`), the same is measured
on that checkout's code too, with this checkout's virtual environment, the two alternating within every
round (which goes first alternates too), so before and after see the same machine. Results replace the
`bench:startup` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.common import free_port, write_section

ROOT = Path(__file__).resolve().parent.parent
ENTRY = "features.bootstrap"
# What a web server imports before it serves: the composition root, every feature, the app and uvicorn.
EVERYTHING = f"import {ENTRY} as root; root.HYPHA.features; import core.app, uvicorn"
READY_WITHIN = 90.0


@dataclass
class Timing:
    seconds: float
    load: float


@dataclass
class Side:
    name: str
    checkout: Path
    cold: list[Timing] = field(default_factory=list)
    warm: list[Timing] = field(default_factory=list)
    help: list[Timing] = field(default_factory=list)
    imports: list[Timing] = field(default_factory=list)
    everything: list[Timing] = field(default_factory=list)
    offenders: dict[str, list[float]] = field(default_factory=dict)


def load_average() -> float:
    return os.getloadavg()[0]


def environment(data_dir: Path, port: int) -> dict[str, str]:
    """The environment of a new user: no DATABASE_URL, no SECRET_KEY; their own data directory and port."""
    drop = {"DATABASE_URL", "SECRET_KEY", "PORT", "DATA_DIR", "PYTHONPATH"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(DATA_DIR=str(data_dir), PORT=str(port), LOG_LEVEL="WARNING")
    return env


def answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def time_up(checkout: Path, data_dir: Path) -> Timing:
    """Seconds from starting `hypha up` until the landing page answers 200; then stop it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    load = load_average()
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", ENTRY, "up"],
        cwd=checkout,
        env=environment(data_dir, port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        while not answers_200(url):
            if process.poll() is not None:
                output = process.stdout.read().decode(errors="replace") if process.stdout else ""
                raise SystemExit(f"bench.startup: `hypha up` in {checkout} exited early:\n{output}")
            if time.monotonic() - started > READY_WITHIN:
                raise SystemExit(f"bench.startup: `hypha up` in {checkout} did not answer within {READY_WITHIN} s")
            time.sleep(0.02)
        seconds = time.monotonic() - started
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
    return Timing(seconds, load)


def time_command(checkout: Path, args: list[str]) -> tuple[Timing, str]:
    load = load_average()
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, *args], cwd=checkout, env=environment(checkout, 0), capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"bench.startup: {' '.join(args)} failed in {checkout}:\n{done.stderr[-2000:]}")
    return Timing(seconds, load), done.stderr


def top_level_imports(importtime: str) -> dict[str, float]:
    """Import time (ms) spent in each top-level package: the sum of its modules' own (self) times."""
    totals: dict[str, float] = {}
    for line in importtime.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        own, _, name = line.removeprefix("import time:").split("|")
        if not own.strip().isdigit():
            continue  # the header
        package = name.strip().split(".")[0]
        totals[package] = totals.get(package, 0.0) + int(own) / 1000
    return totals


def measure(side: Side) -> None:
    with tempfile.TemporaryDirectory(prefix="hypha-bench-up-") as scratch:
        # Not under a 0700 directory: the embedded server runs as the `pgserver` user when we are root.
        os.chmod(scratch, 0o755)
        data_dir = Path(scratch) / "data"
        side.cold.append(time_up(side.checkout, data_dir))
        side.warm.append(time_up(side.checkout, data_dir))
    timing, _ = time_command(side.checkout, ["-m", ENTRY, "--help"])
    side.help.append(timing)
    timing, _ = time_command(side.checkout, ["-c", f"import {ENTRY}"])
    side.imports.append(timing)
    timing, report = time_command(side.checkout, ["-X", "importtime", "-c", EVERYTHING])
    side.everything.append(timing)
    for package, ms in top_level_imports(report).items():
        side.offenders.setdefault(package, []).append(ms)


def median(timings: list[Timing]) -> str:
    if not timings:
        return "–"
    return f"{statistics.median(t.seconds for t in timings):.2f}"


def each(timings: list[Timing]) -> str:
    return ", ".join(f"{t.seconds:.2f} s (load {t.load:.1f})" for t in timings)


def markdown(sides: list[Side], rounds: int) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "<!-- bench:startup -->",
        "## Start-up (`bench.startup`)",
        "",
        f"Measured {when} on {os.cpu_count()} cores, {rounds} alternating round(s); each figure is the median, "
        "with every run and the 1-minute load average at its start beside it. Cold: a fresh DATA_DIR (embedded "
        "PostgreSQL initdb, every migration, web and worker) until `GET /` answers 200. Warm: the same DATA_DIR "
        "again. Goal (issue 16 item 5): cold ≤ 6 s, warm ≤ 4 s.",
        "",
        "| checkout | what | median (s) | runs |",
        "|---|---|---:|---|",
    ]
    for side in sides:
        for what, timings in (
            ("cold `hypha up`", side.cold),
            ("warm `hypha up`", side.warm),
            ("`hypha --help`", side.help),
            ("`import features.bootstrap`", side.imports),
            ("every feature, `core.app` and uvicorn imported (-X importtime)", side.everything),
        ):
            lines.append(f"| {side.name} | {what} | {median(timings)} | {each(timings)} |")
    if len(sides) == 2:
        before, after = sides
        lines += ["", "Paired by round (after / before, the same round's machine; median of the rounds):", ""]
        for what, pairs in (
            ("cold `hypha up`", zip(before.cold, after.cold, strict=True)),
            ("warm `hypha up`", zip(before.warm, after.warm, strict=True)),
            ("`hypha --help`", zip(before.help, after.help, strict=True)),
        ):
            ratios = [a.seconds / b.seconds for b, a in pairs]
            shown = ", ".join(f"{r:.2f}" for r in ratios)
            lines.append(f"- {what}: {statistics.median(ratios):.2f}× ({shown})")
    lines += [
        "",
        "Where the web server's imports (every feature, `core.app`, uvicorn) spend their time: the 10 largest "
        "top-level packages (median ms, the sum of their modules' own import times):",
        "",
    ]
    lines += ["| checkout | package: ms |", "|---|---|"]
    for side in sides:
        ranked = sorted(side.offenders.items(), key=lambda item: -statistics.median(item[1]))[:10]
        listed = ", ".join(f"{name} {statistics.median(ms):.0f}" for name, ms in ranked)
        lines.append(f"| {side.name} | {listed} |")
    lines.append("<!-- /bench:startup -->")
    return "\n".join(lines)


def revision(checkout: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(checkout), "log", "-1", "--format=%h"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip() or checkout.name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--base", type=Path, help="an earlier checkout to measure in alternation (before)")
    parser.add_argument("--no-write", dest="write", action="store_false", help="print only; leave docs alone")
    args = parser.parse_args()
    this = Side(f"this ({revision(ROOT)})", ROOT)
    sides = [this]
    if args.base is not None:
        sides = [Side(f"before ({revision(args.base)})", args.base.resolve()), this]
    for number in range(args.rounds):
        order = sides if number % 2 == 0 else list(reversed(sides))
        for side in order:
            measure(side)
            print(
                f"round {number + 1} {side.name}: cold {side.cold[-1].seconds:.2f} s, "
                f"warm {side.warm[-1].seconds:.2f} s, "
                f"--help {side.help[-1].seconds:.2f} s, import {side.imports[-1].seconds:.2f} s "
                f"(load {side.cold[-1].load:.1f})",
                flush=True,
            )
    section = markdown(sides, args.rounds)
    print(section)
    if args.write:
        write_section("startup", section)


if __name__ == "__main__":
    main()
