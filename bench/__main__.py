"""Every benchmark in one command: `uv run python -m bench all` (or name some: `… bench ledger sse`).

    uv run python -m bench all [--quick] [--doc PATH]

Each benchmark runs in a process of its own, one after the other, compares against its baseline in
the same run and rewrites its own section of docs/benchmarks.md, ending it with the time and the
machine's load average (bench.common.write_section). Then this writes the `bench:issue16` section:
how each benchmark went (written, failed or refused; how long; the load at its start and end) and,
for each item of issue 16, the lines of the sections that state its figures against the goal.

`--quick` runs each benchmark with fewer rounds, requests or clients (QUICK below; the catalog keeps
its 100,000 videos) — a check that everything runs, on a machine too busy for the full set; its
sections say so. `--doc` writes to another file instead of docs/benchmarks.md (a copy to try on).
`--summary-only` runs nothing and rewrites the summary from the sections as they stand (after merging
sections measured elsewhere). `bench.unlock_ab` needs an earlier checkout (`--base`) and is not part
of `all`.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.common import DOC_ENV, QUICK_ENV, doc_path, read_section, write_section

BENCHMARKS = ["ledger", "unlock", "pipeline", "sse", "catalog", "analytics", "fairness", "upload_memory", "startup"]

QUICK: dict[str, list[str]] = {
    "ledger": ["--seconds", "2", "--rounds", "1"],
    "unlock": ["--seconds", "3", "--rounds", "1", "--videos", "16000"],
    "pipeline": ["--seconds", "6", "--rounds", "1"],
    "sse": ["--clients", "500", "--broadcasts", "5", "--rounds", "1"],
    "catalog": ["--requests", "60"],
    "analytics": ["--heartbeats", "100000", "--requests", "5"],
    "fairness": ["--videos", "6"],
    "upload_memory": ["64"],
    "startup": ["--rounds", "1"],
}

REFUSED = 3  # bench.unlock's exit status when its load generator, not the server, was saturated


@dataclass(frozen=True)
class Item:
    """One deliverable of issue 16, the benchmark sections that measure it, and the lines that state it."""

    number: int
    goal: str
    sections: tuple[str, ...]
    lines: str  # a regular expression; the matching lines of those sections are quoted
    required: str = ""  # a quoted line must match this, else the summary says the figure is not measured
    missing: str = ""  # what is then not measured


ISSUE_16 = (
    Item(
        1,
        "HTTP benchmarks driven by a compiled load generator that records its CPU share and refuses to "
        "report when it, not the server, is saturated",
        ("unlock", "unlock_ab"),
        r"(?i)load from `wrk`|refused",
    ),
    Item(
        2,
        "unlock: real ≥ 75 % of raw throughput, server CPU per unlock ≤ 1.3× raw, p99 ≤ 1.5× raw "
        "(median of 3 alternating rounds)",
        ("unlock",),
        r"^\| \*\*.*median\*\*|^Targets|^The framework.s floor",
    ),
    Item(
        3,
        "the platform fee's hot account: an unlock with a fee ≥ 90 % of one without",
        ("ledger", "unlock"),
        r"^Target \(issue 16\)|^Real with the fee",
    ),
    Item(
        4,
        "5,000 SSE subscribers over two web processes: p99 delivery ≤ 100 ms, ≤ 16 KiB per connection",
        ("sse",),
        r"(?i)subscribers|^\|.*(deliver|p99|per connection)",
        r"5,?000",
        "5,000 subscribers (the section measures fewer)",
    ),
    Item(
        5,
        "start-up: cold `hypha up` ≤ 6 s, warm ≤ 4 s",
        ("startup",),
        r"^\| this .*(cold|warm) `hypha up`|^- (cold|warm) `hypha up`",
    ),
    Item(
        6,
        "time to first playable ≤ 0.45× the full pipeline, the full pipeline ≤ 1.10× bare ffmpeg",
        ("pipeline", "pipeline_long"),
        r"(?i)first playable|\*\*pipeline / bare\*\*|^target",
        r"(?i)first playable",
        "the time to first playable",
    ),
    Item(
        7,
        "catalog at 100,000 videos: home, search and a creator's page p50 ≤ 10 ms, statements per page constant",
        ("catalog",),
        r"^\| (home|search|a creator)",
    ),
)

RUN_APART = {"pipeline_long": "pipeline --long"}
"""Sections that `all` does not rerun (too long for one sitting), by the command that writes them."""

STAMP = re.compile(r"^_Written by `python -m bench[ .][a-z_0-9]+`.*$", re.MULTILINE)
NO_STAMP = "(no time or load recorded: written before bench.common stamped sections)"
MAX_LINES = 12
MAX_CHARS = 400


@dataclass(frozen=True)
class Run:
    name: str
    status: str
    seconds: float
    load_start: float
    load_end: float


def run_one(name: str, quick: bool, doc: Path | None) -> Run:
    env = dict(os.environ)
    if quick:
        env[QUICK_ENV] = "1"
    if doc is not None:
        env[DOC_ENV] = str(doc)
    load_start, started = os.getloadavg()[0], time.monotonic()
    print(f"== bench.{name} (load {load_start:.1f})", flush=True)
    code = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", *(QUICK[name] if quick else [])], env=env, check=False
    ).returncode
    status = (
        "ran" if code == 0 else "refused (its client was saturated)" if code == REFUSED else f"FAILED (exit {code})"
    )
    return Run(name, status, time.monotonic() - started, load_start, os.getloadavg()[0])


def statements(section: str) -> list[str]:
    """A section's lines, tables' header rows left out and long paragraphs cut into sentences."""
    lines = section.splitlines()
    out: list[str] = []
    for i, line in enumerate(lines):
        line = line.strip()
        if not line or STAMP.match(line) or (i + 1 < len(lines) and lines[i + 1].startswith("|---")):
            continue
        out += [line] if len(line) <= MAX_CHARS or line.startswith("|") else re.split(r"(?<=\.)\s+(?=[A-Z(])", line)
    return out


def quoted(section: str, pattern: str) -> list[str]:
    """The lines (or sentences) of a section that match `pattern`, shortened; the section's stamp last."""
    found = [line for line in statements(section) if re.search(pattern, line)]
    lines = [line if len(line) <= MAX_CHARS else line[: MAX_CHARS - 1] + "…" for line in found[:MAX_LINES]]
    stamp = STAMP.search(section)
    return [*lines, stamp.group(0) if stamp else NO_STAMP]


def summary(runs: list[Run], text: str, quick: bool, started: datetime) -> str:
    """The `bench:issue16` section: how each benchmark went, then each item of issue 16 with its figures."""
    mode = "quick (`--quick`: fewer rounds and requests)" if quick else "full"
    how = (
        f"Run {started:%Y-%m-%d %H:%M}–{datetime.now(UTC):%H:%M} UTC, {mode}, {os.cpu_count()} cores; each "
        "benchmark in its own process, one after the other, each writing its own section below."
        if runs
        else "Nothing run now (`--summary-only`): quoted from the sections below as they stand, each with the "
        "time and load of its own run (`python -m bench all` reruns them all)."
    )
    lines = [
        "## Issue 16 at a glance (`uv run python -m bench all`)",
        "",
        how,
        "",
        "| benchmark | result | took | load (1 min) at start → end |",
        "|---|---|---:|---:|",
    ]
    lines += [
        f"| `bench.{r.name}` | {r.status} | {r.seconds:.0f} s | {r.load_start:.1f} → {r.load_end:.1f} |" for r in runs
    ] or ["| (none run now) | | | |"]
    ran = {r.name for r in runs if r.status == "ran"}
    for item in ISSUE_16:
        lines += ["", f"**{item.number}. {item.goal}**", ""]
        said: list[str] = []
        for name in item.sections:
            section = read_section(name, text)
            if section is None:
                lines.append(f"- `bench.{RUN_APART.get(name, name)}`: no section in the doc")
                continue
            fresh = "this run" if name in ran else "run on its own" if name in RUN_APART else "not rerun now"
            lines.append(f"- `bench.{RUN_APART.get(name, name)}` ({fresh}):")
            said += quoted(section, item.lines)
            lines += [f"  - {line}" for line in quoted(section, item.lines)]
        if item.required and not any(re.search(item.required, line) for line in said):
            lines.append(f"- **Not measured: {item.missing}** — no benchmark section states it.")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="run the benchmarks; `all` (the default) runs every one")
    parser.add_argument("names", nargs="*", help=f"all, or some of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and requests: a check that all runs")
    parser.add_argument("--doc", type=Path, help="write to this file instead of docs/benchmarks.md")
    parser.add_argument(
        "--summary-only", action="store_true", help="run nothing; rewrite the summary from the sections as they are"
    )
    args = parser.parse_args(argv)
    chosen = BENCHMARKS if not args.names or args.names == ["all"] else args.names
    unknown = [name for name in chosen if name not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)} or all")
        return 2
    started = datetime.now(UTC)
    target = args.doc.resolve() if args.doc else None
    runs = [] if args.summary_only else [run_one(name, args.quick, target) for name in chosen]
    doc = target or doc_path()
    text = doc.read_text() if doc.exists() else ""
    command = " ".join(["bench", *(argv or ["all"])])
    section = summary(runs, text, args.quick, started)
    write_section("issue16", section, command=command, first=True, doc=doc, quick=args.quick)
    failed = [r.name for r in runs if r.status != "ran"]
    print(f"summary written to {doc}" + (f"; not reported: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
