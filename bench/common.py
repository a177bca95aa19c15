"""What every benchmark shares: a throw-away database and its section of docs/benchmarks.md."""

from __future__ import annotations

import argparse
import secrets
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from core.db import create_database, drop_database, migrate, with_database

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = "# Benchmarks\n\nMeasured on this project's machines; each section is rewritten by its benchmark.\n"


@dataclass(frozen=True)
class BenchDatabase:
    url: str
    where: str
    version: str


@asynccontextmanager
async def bench_database(prefix: str = "hypha_bench") -> AsyncIterator[BenchDatabase]:
    """A migrated database of its own, on DATABASE_URL's server or an embedded one; dropped after."""
    import os

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


def write_section(name: str, section: str) -> None:
    """Replace (or append) the `<!-- bench:name -->` … `<!-- /bench:name -->` section of the doc."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    if not section.startswith(begin):
        section = f"{begin}\n{section.strip()}\n{end}"
    text = DOC.read_text() if DOC.exists() else HEADER
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(text)


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
