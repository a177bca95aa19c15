"""Before and after: the real one-click unlock of an earlier checkout against this one, in one run.

    git worktree add /tmp/hypha-base <commit> && (cd /tmp/hypha-base && uv sync --frozen)
    uv run python -m bench.unlock_ab --base /tmp/hypha-base [--seconds 8] [--rounds 3] [--no-write]

A redesign must not make the click slower. Both apps are started with their own `hypha web` (each
checkout's own virtual environment and code) on the same scratch database, seeded and migrated by this
checkout; the earlier code runs on the later schema, which is what a rolling deploy does too. The load
is bench.unlock's: `wrk`, one keep-alive connection per logged-in viewer, a fresh idempotency key per
click, every response checked for the player. Rounds alternate which side goes first; the figure that
decides is the median of the paired ratios (after / before), which the machine's other load moves
much less than either absolute figure. Results replace the `bench:unlock_ab` section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from bench.common import bench_database, free_port, load_parser, write_section
from bench.load import ClientSaturated, wrk_path
from bench.unlock import UnlockRun, Walk, people, populate, server, serving

ROOT = Path(__file__).resolve().parent.parent


def revision(checkout: Path) -> str:
    done = subprocess.run(
        ["git", "-C", str(checkout), "log", "-1", "--format=%h %s"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()[:90] or str(checkout)


@contextlib.asynccontextmanager
async def checkout_server(checkout: Path, env: dict[str, str]) -> AsyncIterator[tuple[str, int]]:
    """`hypha web` of another checkout, from its own virtual environment and working directory."""
    hypha = checkout / ".venv" / "bin" / "hypha"
    if not hypha.exists():
        raise SystemExit(f"bench.unlock_ab: {hypha} is missing; run `uv sync --frozen` in {checkout} first")
    port = free_port()
    command = [str(hypha), "web", "--host", "127.0.0.1", "--port", str(port)]
    async with serving(command, port, checkout, env, "the base checkout's server") as running:
        yield running


@dataclass(frozen=True)
class Pair:
    before: UnlockRun
    after: UnlockRun

    @property
    def throughput(self) -> float:
        return self.after.per_second / self.before.per_second

    @property
    def cpu(self) -> float:
        return self.after.cpu_per_request_us / self.before.cpu_per_request_us

    @property
    def p99(self) -> float:
        return self.after.p99_ms / self.before.p99_ms

    @property
    def database_cpu(self) -> float:
        return self.after.database_cpu_per_request_us / self.before.database_cpu_per_request_us


async def run(
    base: Path, url: str, data_dir: str, clients: int, seconds: float, rounds: int, videos: int
) -> list[Pair]:
    viewers, made = await populate(url, data_dir, clients, videos)
    walk = Walk(made, urlsplit(url).path.lstrip("/"))
    env = {
        "DATABASE_URL": url,
        "DATA_DIR": data_dir,
        "SECRET_KEY": "bench-" + "0" * 58,
        "PLATFORM_FEE_PERCENT": "0",
        "DB_POOL_MIN": str(clients),
        "DB_POOL_MAX": str(clients),
        "LOG_LEVEL": "WARNING",
        "UNLOCKS_PER_VIEWER_PER_MINUTE": "1000000",  # the abuse limit is not what is measured
    }
    pairs: list[Pair] = []
    async with (
        server("hypha-web", env) as (after_url, after_pid),
        checkout_server(base, env) as (before_url, before_pid),
    ):
        after_people = await people(after_url, viewers, real=True)
        before_people = await people(before_url, viewers, real=True)
        walk.run("warm-up after", after_url, after_people, 2, after_pid, check_client=False)
        walk.run("warm-up before", before_url, before_people, 2, before_pid, check_client=False)
        for n in range(rounds):
            if n % 2 == 0:
                before = walk.run("before", before_url, before_people, seconds, before_pid)
                after = walk.run("after", after_url, after_people, seconds, after_pid)
            else:
                after = walk.run("after", after_url, after_people, seconds, after_pid)
                before = walk.run("before", before_url, before_people, seconds, before_pid)
            pairs.append(Pair(before, after))
            print(
                f"round {n + 1}: before {before.per_second:,.0f}/s {before.cpu_per_request_us:,.0f} µs "
                f"+ PostgreSQL {before.database_cpu_per_request_us:,.0f} µs p99 {before.p99_ms:.1f} ms; "
                f"after {after.per_second:,.0f}/s {after.cpu_per_request_us:,.0f} µs "
                f"+ PostgreSQL {after.database_cpu_per_request_us:,.0f} µs p99 {after.p99_ms:.1f} ms; "
                f"after/before {pairs[-1].throughput:.0%}, CPU ×{pairs[-1].cpu:.2f} "
                f"(PostgreSQL ×{pairs[-1].database_cpu:.2f}); "
                f"load {after.load:.1f}",
                flush=True,
            )
    return pairs


def markdown(pairs: list[Pair], base: Path, clients: int, seconds: float, where: str, version: str) -> str:
    median = statistics.median
    lines = [
        "<!-- bench:unlock_ab -->",
        "## One-click unlock, before and after a change",
        "",
        f"`uv run python -m bench.unlock_ab --base <checkout>` — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, PostgreSQL {version} ({where}). "
        f"Before: `{revision(base)}`. After: `{revision(ROOT)}`. Each side is its checkout's own `hypha web` "
        f"(one uvicorn process) on the same scratch database; load from `wrk` ({clients} logged-in viewers, one "
        f"keep-alive connection each, a fresh idempotency key per click, every answer checked for the player), "
        f"no platform fee, {len(pairs)} rounds × {seconds:g} s per side, alternating which goes first.",
        "",
        "| round | before /s | after /s | after / before | CPU per unlock before / after (µs) | CPU after / before "
        "| PostgreSQL CPU per unlock before / after (µs) | PostgreSQL after / before "
        "| p99 before / after (ms) | load (1 min) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, p in enumerate(pairs, 1):
        lines.append(
            f"| #{n} | {p.before.per_second:,.0f} | {p.after.per_second:,.0f} | {p.throughput:.0%} | "
            f"{p.before.cpu_per_request_us:,.0f} / {p.after.cpu_per_request_us:,.0f} | {p.cpu:.2f}× | "
            f"{p.before.database_cpu_per_request_us:,.0f} / {p.after.database_cpu_per_request_us:,.0f} | "
            f"{p.database_cpu:.2f}× | "
            f"{p.before.p99_ms:.1f} / {p.after.p99_ms:.1f} | {p.after.load:.1f} |"
        )
    throughput = median([p.throughput for p in pairs])
    cpu = median([p.cpu for p in pairs])
    lines += [
        f"| **median** | | | **{throughput:.0%}** | | **{cpu:.2f}×** | | "
        f"**{median([p.database_cpu for p in pairs]):.2f}×** | | |",
        "",
        f"Verdict: the change is {'no slower' if throughput >= 0.97 and cpu <= 1.03 else 'SLOWER'} "
        "(median paired throughput ≥ 97 % and CPU per unlock ≤ 1.03× of before, the noise of this machine).",
        "<!-- /bench:unlock_ab -->",
    ]
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> None:
    wrk_path()
    base = Path(args.base).resolve()
    with tempfile.TemporaryDirectory(prefix="hypha-bench-ab-") as tmp:
        async with bench_database() as database:
            pairs = await run(
                base, database.url, str(Path(tmp) / "data"), args.clients, args.seconds, args.rounds, args.videos
            )
    section = markdown(pairs, base, args.clients, args.seconds, database.where, database.version)
    print(section)
    if args.write:
        write_section("unlock_ab", section)


def main() -> None:
    parser = load_parser(__doc__)
    parser.add_argument("--base", required=True, help="an earlier checkout with its own .venv (uv sync --frozen)")
    parser.add_argument("--videos", type=int, default=16000, help="videos to sell (each viewer buys each once)")
    parser.set_defaults(seconds=8.0, rounds=3)
    args = parser.parse_args()
    try:
        asyncio.run(main_async(args))
    except ClientSaturated as error:
        print(f"bench.unlock_ab: refusing to report: {error}", file=sys.stderr)
        raise SystemExit(3) from error


if __name__ == "__main__":
    main()
