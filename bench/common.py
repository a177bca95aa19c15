"""What every benchmark shares: a throw-away database and its section of docs/benchmarks.md."""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from core.db import create_database, drop_database, migrate, with_database

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
DOC_ENV = "HYPHA_BENCH_DOC"
QUICK_ENV = "HYPHA_BENCH_QUICK"
STAMP_PREFIX = "_Written by `python -m "
HEADER = "# Benchmarks\n\nMeasured on this project's machines; each section is rewritten by its benchmark.\n"


@dataclass(frozen=True)
class BenchDatabase:
    url: str
    where: str
    version: str


@asynccontextmanager
async def bench_database(prefix: str = "hypha_bench") -> AsyncIterator[BenchDatabase]:
    """A migrated database of its own, on DATABASE_URL's server or an embedded one; dropped after."""
    server = os.environ.get("DATABASE_URL", "")
    embedded = None
    tmp = None
    where = "DATABASE_URL server"
    if not server:
        from core.embedded_pg import EmbeddedPostgres

        tmp = tempfile.TemporaryDirectory(prefix="hypha-bench-pg-")
        embedded = EmbeddedPostgres(Path(tmp.name) / "pgdata")
        server = embedded.start()
        where = "embedded pgserver"
    name = f"{prefix}_{secrets.token_hex(4)}"
    await create_database(server, name)
    try:
        url = with_database(server, name)
        await migrate(url)
        conn = await asyncpg.connect(url)
        version = str(await conn.fetchval("SHOW server_version")).split()[0]
        await conn.close()
        yield BenchDatabase(url, where, version)
    finally:
        await drop_database(server, name)
        if embedded is not None:
            embedded.stop()
        if tmp is not None:
            tmp.cleanup()


def doc_path() -> Path:
    """docs/benchmarks.md, or the file HYPHA_BENCH_DOC names (`python -m bench all --doc …` sets it)."""
    return Path(os.environ.get(DOC_ENV) or DOC)


def load_stamp(command: str, quick: bool) -> str:
    """The line every section ends with: which benchmark wrote it, when, and how busy the machine was."""
    one, five, fifteen = os.getloadavg()
    how = " (a quick run: `python -m bench all --quick`, fewer rounds and requests)" if quick else ""
    return (
        f"{STAMP_PREFIX}{command}`{how} at {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on "
        f"{os.cpu_count()} cores; load average (1 / 5 / 15 min) when written: {one:.1f} / {five:.1f} / {fifteen:.1f}._"
    )


def write_section(
    name: str,
    section: str,
    *,
    command: str | None = None,
    first: bool = False,
    doc: Path | None = None,
    quick: bool | None = None,
) -> None:
    """Replace the `<!-- bench:name -->` … `<!-- /bench:name -->` section of `doc` (`doc_path()` unless
    given; a new section goes last, or before every other one if `first`), ending it with `load_stamp` of
    `command` (`bench.<name>` unless given), so every figure in the doc has the time and the machine's
    load beside it. `quick` (from HYPHA_BENCH_QUICK unless given) says the run was a quick one."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    body = section.strip()
    body = body.removeprefix(begin).removesuffix(end).strip()
    body = "\n".join(line for line in body.splitlines() if not line.startswith(STAMP_PREFIX)).strip()
    if quick is None:
        quick = bool(os.environ.get(QUICK_ENV))
    section = f"{begin}\n{body}\n\n{load_stamp(command or f'bench.{name}', quick)}\n{end}"
    doc = doc or doc_path()
    text = doc.read_text() if doc.exists() else HEADER
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + section + tail
    elif first and "<!-- bench:" in text:
        head, tail = text.split("<!-- bench:", 1)
        text = head + section + "\n\n<!-- bench:" + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)


def read_section(name: str, text: str) -> str | None:
    """The body of the `bench:name` section of a doc's text, or None."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    if begin not in text or end not in text:
        return None
    return text.split(begin, 1)[1].split(end, 1)[0].strip()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def load_parser(doc: str | None) -> argparse.ArgumentParser:
    """Arguments of the load benchmarks: how long, how many clients, how many alternating rounds."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--no-write", dest="write", action="store_false", help="print only; leave docs alone")
    return parser


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
