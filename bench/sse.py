"""SSE fan-out: one web process, N subscribers, p50/p99 delivery of a broadcast and memory per connection.

    uv run python -m bench.sse [--clients 2000] [--broadcasts 10] [--rounds 3]

The server is a uvicorn process serving `core.sse.EventStream` on the PostgreSQL event bus (the
same path the studio's live tiles use, without `sse_response`'s per-session cap of live streams:
the bench's N anonymous clients share one address); the clients are raw asyncio connections in this process;
broadcasts are published through PostgresEventBus (INSERT + NOTIFY) from here, so the measured delay
includes PostgreSQL's NOTIFY, the web process's fan-out and rendering, and the socket write.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvloop
from litestar import Litestar, get

from bench.common import bench_database, free_port, percentile, write_section
from core.db import Database
from core.events import Event
from core.postgres import PostgresEventBus
from core.sse import EventStream

TOPIC = "bench:fanout"


def create_bench_app() -> Litestar:
    """The server side (imported by uvicorn in the child process)."""
    db = Database(os.environ["DATABASE_URL"], min_size=1, max_size=4)
    bus = PostgresEventBus(db)

    async def render(event: Event) -> str:
        return json.dumps(event.data)

    @get("/events")
    async def events() -> EventStream:
        return EventStream(bus, [TOPIC], render, None)

    @get("/ready", sync_to_thread=False)
    def ready() -> str:
        return "ok"

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        await db.start()
        yield
        await bus.close()
        await db.stop()

    return Litestar([events, ready], lifespan=[lifespan])


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Subscriber(asyncio.Protocol):
    """One raw SSE client: stamps each chunk when it arrives, parses it afterwards.

    A Protocol rather than a StreamReader so that 2,000 clients in one process add as little delay
    of their own as possible (they share the machine's two cores with the server).
    """

    def __init__(self) -> None:
        self.connected = asyncio.Event()
        self.chunks: list[tuple[float, bytes]] = []
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        request = b"GET /events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n"
        transport.write(request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if not self.connected.is_set():
            self.buffer += data
            if b": connected" in self.buffer:
                self.connected.set()
            return
        self.chunks.append((time.time(), data))

    @property
    def delays(self) -> list[float]:
        return [
            received - json.loads(line[5:].strip())["sent"]
            for received, chunk in self.chunks
            for line in chunk.split(b"\n")
            if line.startswith(b"data:") and b"sent" in line
        ]


async def measure(url: str, clients: int, broadcasts: int) -> dict[str, float]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            os.environ.get("BENCH_SSE_APP", "bench.sse:create_bench_app"),
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )
    try:
        for _ in range(1200):
            if server.poll() is not None:
                raise RuntimeError("the bench server exited")
            try:
                _r, w = await asyncio.open_connection("127.0.0.1", port)
                w.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
        idle_rss = rss_kib(server.pid)
        loop = asyncio.get_running_loop()
        subs = [Subscriber() for _ in range(clients)]
        transports = []
        for index, sub in enumerate(subs):
            transport, _ = await loop.create_connection(lambda sub=sub: sub, "127.0.0.1", port)  # type: ignore[misc]
            transports.append(transport)
            if index % 100 == 99:
                await asyncio.sleep(0.05)
        try:
            await asyncio.wait_for(asyncio.gather(*(s.connected.wait() for s in subs)), 120)
        except TimeoutError:
            print(
                "connected:",
                sum(s.connected.is_set() for s in subs),
                [s.buffer for s in subs if not s.connected.is_set()][:3],
            )
            raise
        await asyncio.sleep(1.0)
        loaded_rss = rss_kib(server.pid)

        db = Database(url, min_size=1, max_size=2)
        await db.start()
        bus = PostgresEventBus(db)
        for n in range(broadcasts):
            await bus.publish(TOPIC, "tick", {"sent": time.time(), "n": n})
            await asyncio.sleep(1.0)
        await asyncio.sleep(1.0)
        await db.stop()
        for transport in transports:
            transport.close()
        await asyncio.sleep(1.0)
    finally:
        server.terminate()
        server.wait(10)

    per_sub = [sub.delays for sub in subs]
    delays = [d * 1000 for found in per_sub for d in found]
    received = len(delays)
    return {
        "clients": clients,
        "broadcasts": broadcasts,
        "received": received,
        "expected": clients * broadcasts,
        "p50_ms": percentile(delays, 50),
        "p99_ms": percentile(delays, 99),
        "max_ms": max(delays) if delays else float("nan"),
        "kib_per_connection": (loaded_rss - idle_rss) / clients,
        "idle_rss_mib": idle_rss / 1024,
        "loaded_rss_mib": loaded_rss / 1024,
    }


def markdown(r: dict[str, float], where: str, version: str, p99s: list[float]) -> str:
    verdict = "met" if r["p99_ms"] <= 100 else f"missed by {r['p99_ms'] - 100:.0f} ms"
    return "\n".join(
        [
            "<!-- bench:sse -->",
            "## SSE fan-out (`uv run python -m bench.sse`)",
            "",
            f"One uvicorn web process, {int(r['clients'])} SSE subscribers on one topic, {int(r['broadcasts'])} "
            f"broadcasts published through PostgresEventBus (INSERT + NOTIFY); PostgreSQL {version} ({where}).",
            "",
            "| measure | value |",
            "|---|---:|",
            f"| deliveries received / expected | {int(r['received'])} / {int(r['expected'])} |",
            f"| delivery delay p50 | {r['p50_ms']:.1f} ms |",
            f"| delivery delay p99 (target ≤ 100 ms: {verdict}) | {r['p99_ms']:.1f} ms |",
            f"| delivery delay max | {r['max_ms']:.1f} ms |",
            f"| p99 of each round (the median round is shown) | {' / '.join(f'{p:.1f}' for p in p99s)} ms |",
            f"| server RSS idle → loaded | {r['idle_rss_mib']:.1f} → {r['loaded_rss_mib']:.1f} MiB |",
            f"| memory per connection | {r['kib_per_connection']:.1f} KiB |",
            "",
            f"Load average at the end: {os.getloadavg()[0]:.1f}. The clients run in one process on the same 2 cores",
            "as the server, so the figures include the clients' own share of the machine.",
            "",
            "How: each stream is a small ASGI response of its own (core/sse.py). An event reaches a stream",
            "inside the bus's dispatch and is written there and then: the render is cached per (renderer,",
            "event), so a broadcast is rendered once, and the send runs synchronously whenever the socket",
            "takes the bytes; only a render that has to wait or a client that stopped reading moves into a",
            "task of its own, while later events queue behind it (up to a backlog, after which the stream is",
            "ended and the browser reconnects with Last-Event-ID). The floor on this machine, a bare uvloop",
            "server writing one chunk to 2,000 loopback sockets in a loop, is p99 ≈ 53 ms: the write system",
            "calls are half of the server's time. Before this design (one Litestar streaming response and an",
            "asyncio.Queue per subscriber) the same run gave p99 ≈ 315–540 ms.",
            "",
            "Where the time goes now (py-spy on the server; a timer around the bus's dispatch): one broadcast",
            "to 2,000 streams takes 75–103 ms of the server's time, ≈ 45 µs per stream. The write system",
            "calls are ≈ 45 % of it; Hypha's own code is ≈ 4 µs per stream (measured without sockets); the",
            "rest is uvicorn's and Litestar's send path. So the target sits at this machine's edge: over the",
            "runs of 2026-11-28 the p99 ranged 92–133 ms with the host's load (the same hour's unlock",
            "benchmark also saw both of its servers need twice the CPU per request of the day before).",
            "Next: serve SSE from a second web process (each takes its share of connections, see",
            "docs/scaling.md), or write the pre-encoded frames below ASGI with uvloop's own transports.",
            "<!-- /bench:sse -->",
        ]
    )


async def main_async(args: argparse.Namespace) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.clients * 2 + 256)), hard))
    async with bench_database() as database:
        rounds = [await measure(database.url, args.clients, args.broadcasts) for _ in range(args.rounds)]
    results = sorted(rounds, key=lambda r: r["p99_ms"])[len(rounds) // 2]  # the median round by p99
    section = markdown(results, database.where, database.version, [r["p99_ms"] for r in rounds])
    print(section)
    if args.write:
        write_section("sse", section)


def main() -> None:
    parser = argparse.ArgumentParser(description="SSE fan-out benchmark")
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--broadcasts", type=int, default=10)
    parser.add_argument(
        "--rounds", type=int, default=3, help="fresh server and clients each round; the median is shown"
    )
    parser.add_argument("--no-write", dest="write", action="store_false")
    uvloop.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
