"""The subscribers of bench.sse, in a process of their own (never the servers' process).

    python -m bench.sse_client --ports 8001,8002 --clients 5000

Opens the connections (spread over the ports in turn), prints `ready <connected>` once every stream
has answered `: connected`, then only stamps each chunk with the wall clock as it arrives — no
parsing, no allocation beyond the stamp — until a line arrives on stdin. Then it closes the
connections, parses what it kept and prints one JSON line: every delivery's delay (ms, from the
`sent` stamp inside the event) and how many chunks it read. A raw asyncio Protocol on uvloop: a few
µs per chunk, which bench.sse checks against the delays it reports (ClientSaturated).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time

import uvloop

REQUEST = b"GET /events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n"


class Subscriber(asyncio.Protocol):
    __slots__ = ("buffer", "chunks", "connected", "transport")

    def __init__(self, connected: asyncio.Event) -> None:
        self.connected: asyncio.Event | None = connected
        self.chunks: list[tuple[float, bytes]] = []
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(REQUEST)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self.connected is not None:
            self.buffer += data
            if b": connected" in self.buffer:
                self.connected.set()
                self.connected = None
                self.buffer = b""
            return
        self.chunks.append((time.time(), data))

    def delays_ms(self) -> list[float]:
        return [
            (received - json.loads(line[5:].strip())["sent"]) * 1000
            for received, chunk in self.chunks
            for line in chunk.split(b"\n")
            if line.startswith(b"data:") and b"sent" in line
        ]


async def run(ports: list[int], clients: int) -> None:
    loop = asyncio.get_running_loop()
    subs: list[Subscriber] = []
    waits: list[asyncio.Event] = []
    transports: list[asyncio.BaseTransport] = []
    for index in range(clients):
        connected = asyncio.Event()
        sub = Subscriber(connected)
        for attempt in range(50):  # a listen queue momentarily full refuses; the server catches up
            try:
                transport, _ = await loop.create_connection(lambda sub=sub: sub, "127.0.0.1", ports[index % len(ports)])  # type: ignore[misc]
                break
            except ConnectionRefusedError:
                if attempt == 49:
                    raise
                print(f"refused at {index}", file=sys.stderr, flush=True)
                await asyncio.sleep(0.1)
        subs.append(sub)
        waits.append(connected)
        transports.append(transport)
        if index % 100 == 99:
            await asyncio.sleep(0.02)
    try:
        await asyncio.wait_for(asyncio.gather(*(w.wait() for w in waits)), 180)
    except TimeoutError:
        print(f"ready {sum(w.is_set() for w in waits)}", flush=True)
        return
    print(f"ready {clients}", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    for transport in transports:
        transport.close()
    chunks = sum(len(sub.chunks) for sub in subs)
    print(json.dumps({"chunks": chunks, "delays_ms": [d for sub in subs for d in sub.delays_ms()]}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="SSE subscribers for bench.sse")
    parser.add_argument("--ports", required=True, help="comma-separated; connections go to each in turn")
    parser.add_argument("--clients", type=int, required=True)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, args.clients + 256)), hard))
    uvloop.run(run([int(p) for p in args.ports.split(",")], args.clients))


if __name__ == "__main__":
    main()
