"""The catalog page with 10,000 published videos: server time per page and statements per page.

    uv run python -m bench.catalog [--videos 10000] [--requests 300]

The whole app runs in this process behind httpx's ASGI transport (no network, no client parsing
cost beyond httpx), on its own PostgreSQL database; "server time" is the time from request to the
last byte of the response. Statements are counted with asyncpg's query logger on every pooled
connection, for pages of 10 and of 50 videos.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import time
from typing import Any

import httpx
from injector import Binder, InstanceProvider, Module

from bench.common import bench_database, percentile, write_section
from core.db import Database
from core.di import bind_port, build_injector
from core.settings import load_settings
from core.uow import UnitOfWork
from features.bootstrap import create_app, features_for, table_classes

POOL_RESET = "SELECT pg_advisory_unlock_all"


class CountingDatabase(Database):
    def __init__(self, url: str) -> None:
        super().__init__(url, min_size=2, max_size=8, tables=table_classes())
        self.statements = 0
        self.engine.config = {**self.engine.config, "init": self._watch}

    async def _watch(self, connection: Any) -> None:
        connection.add_query_logger(self._log)

    def _log(self, record: Any) -> None:
        if not record.query.startswith(POOL_RESET):
            self.statements += 1


class CountingModule(Module):
    def __init__(self, db: CountingDatabase) -> None:
        self.db = db

    def configure(self, binder: Binder) -> None:
        binder.bind(Database, to=InstanceProvider(self.db))
        bind_port(binder, UnitOfWork, self.db)


async def seed(db: Database, videos: int, creators: int = 50) -> None:
    await db.execute(
        "INSERT INTO users (id, email, email_normalized, display_name, password_hash, is_creator, created_at)"
        " SELECT gen_random_uuid(), 'c' || n || '@bench.test', 'c' || n || '@bench.test', 'Creator ' || n,"
        " 'x', true, now() FROM generate_series(1, $1) AS n",
        creators,
    )
    await db.execute(
        "INSERT INTO videos (id, public_id, owner_id, title, description, state, created_at, updated_at, duration)"
        " SELECT gen_random_uuid(), substr(md5(n::text), 1, 12),"
        " (SELECT id FROM users ORDER BY email OFFSET (n % $2) LIMIT 1),"
        " 'Film number ' || n, 'A benchmark film', 'published',"
        " now() - make_interval(secs => n), now(), 60 + n % 3600"
        " FROM generate_series(1, $1) AS n",
        videos,
        creators,
    )
    await db.execute("ANALYZE")


async def timed(client: httpx.AsyncClient, path: str, requests: int) -> list[float]:
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = await client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return times


async def measure(url: str, videos: int, requests: int) -> dict[str, float]:
    settings = load_settings({}, database_url=url, secret_key=secrets.token_hex(32), data_dir="/tmp/hypha-bench-data")
    db = CountingDatabase(url)
    injector = build_injector(settings, features_for(settings), CountingModule(db))
    await db.start()
    try:
        await seed(db, videos)
        app = create_app(settings, injector)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
            await timed(client, "/", 20)  # warm up
            first = await timed(client, "/", requests)
            page = await client.get("/?limit=50")
            marker = "after="
            text = page.text
            cursor = text[text.index(marker) + len(marker) :].split('"')[0].split("&")[0] if marker in text else ""
            deep = await timed(client, f"/?after={cursor}&limit=50", requests // 3) if cursor else []
            counts = {}
            for limit in (10, 50):
                db.statements = 0
                await client.get(f"/?limit={limit}")
                counts[limit] = db.statements
    finally:
        await db.stop()
    return {
        "videos": videos,
        "first_p50": percentile(first, 50),
        "first_p99": percentile(first, 99),
        "deep_p50": percentile(deep, 50) if deep else float("nan"),
        "statements_10": counts[10],
        "statements_50": counts[50],
    }


def markdown(r: dict[str, float], where: str, version: str) -> str:
    verdict = "met" if r["first_p50"] <= 10 else f"missed by {r['first_p50'] - 10:.1f} ms"
    same = "does not grow" if r["statements_10"] == r["statements_50"] else "GROWS"
    return "\n".join(
        [
            "<!-- bench:catalog -->",
            "## Catalog with 10,000 videos (`uv run python -m bench.catalog`)",
            "",
            f"{int(r['videos'])} published videos by 50 creators; the home feed `/` served by the whole app "
            f"in-process (ASGI), PostgreSQL {version} ({where}).",
            "",
            "| measure | value |",
            "|---|---:|",
            f"| first page, server time p50 (target ≤ 10 ms: {verdict}) | {r['first_p50']:.1f} ms |",
            f"| first page, server time p99 | {r['first_p99']:.1f} ms |",
            f"| a deeper page (keyset cursor), p50 | {r['deep_p50']:.1f} ms |",
            f"| SQL statements for a page of 10 / of 50 ({same} with the page) | "
            f"{int(r['statements_10'])} / {int(r['statements_50'])} |",
            "",
            f"Load average at the end: {os.getloadavg()[0]:.1f}.",
            "<!-- /bench:catalog -->",
        ]
    )


async def main_async(args: argparse.Namespace) -> None:
    async with bench_database() as database:
        results = await measure(database.url, args.videos, args.requests)
    section = markdown(results, database.where, database.version)
    print(section)
    if args.write:
        write_section("catalog", section)


def main() -> None:
    parser = argparse.ArgumentParser(description="catalog page benchmark")
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--no-write", dest="write", action="store_false")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
