"""Analytics with a million heartbeats: how long the incremental fold takes (from scratch, and the
every-minute increment), how fast the pages are that read only the aggregates, and a check that the
aggregates agree with a direct SQL recomputation over the raw heartbeats.

    uv run python -m bench.analytics [--heartbeats 1000000] [--requests 20] [--no-write]

Data (generated in SQL with generate_series, ids in time order like real traffic): 10 creators with 50
videos of 2–30 min; 20,000 logged-in viewers plus visitors; playback sessions of 1–119 heartbeats
(every 10 s) over the last 30 days, 5 % of them free previews; 20,000 sales and tips and 30,000 other
events in the event log. The measured creator owns 20 of the videos (~40 % of the heartbeats).
Uses DATABASE_URL's server if set (in a scratch database dropped afterwards), else an embedded
PostgreSQL. Results replace the `bench:analytics` section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import secrets
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import httpx

from bench.common import bench_database, doc_path, write_section
from core.db import Database
from core.di import build_injector
from core.ids import public_id, uuid7
from core.settings import load_settings
from features.accounts.service import AccountService
from features.analytics.model import DateRange, day_of
from features.analytics.service import AnalyticsService
from features.bootstrap import create_app, features_for
from features.studio.model import Video, VideoState
from features.studio.ports import VideoRepository

BEGIN, END = "<!-- bench:analytics -->", "<!-- /bench:analytics -->"
CREATORS, VIDEOS, MINE = 10, 50, 20
INCREMENT = 10_000  # a busy minute: ~1,700 players beating every 10 s


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


async def setup(injector: object, db: Database) -> tuple[UUID, list[Video]]:
    accounts = injector.get(AccountService)  # type: ignore[attr-defined]
    creators = []
    for n in range(CREATORS):
        user = await accounts.sign_up(f"creator{n}-{secrets.token_hex(3)}@example.com", "correct horse battery")
        creators.append((await accounts.become_creator(user.id)).id)
    videos = []
    repository = injector.get(VideoRepository)  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    for n in range(VIDEOS):
        owner = creators[0] if n < MINE else creators[1 + n % (CREATORS - 1)]
        video = Video(
            id=uuid7(),
            public_id=public_id(),
            owner_id=owner,
            title=f"Video {n:02d}",
            description="",
            state=VideoState.PUBLISHED,
            created_at=now,
            updated_at=now,
            duration=float(120 + (n * 37) % 1680),
        )
        await repository.add(video)
        videos.append(video)
    return creators[0], videos


async def generate(db: Database, videos: list[Video], heartbeats: int) -> float:
    """Sessions and their heartbeats, ordered by time (so ids grow with time), then events."""
    started = time.perf_counter()
    ids = [v.id for v in videos]
    durations = [v.duration for v in videos]
    owners = [v.owner_id for v in videos]
    async with db.connection() as conn:
        await conn.execute("SELECT setseed(0.42)")
        await conn.execute(
            "CREATE TEMP TABLE bench_viewers AS SELECT n, gen_random_uuid() AS id FROM generate_series(1, 20000) n"
        )
        await conn.execute(
            "CREATE TEMP TABLE bench_sessions AS"
            " SELECT s, 1 + floor(random() * $1)::int AS v, CASE WHEN random() < 0.75"
            "   THEN 1 + floor(random() * 20000)::int END AS viewer,"
            "  'bench-' || s AS sid, random() < 0.05 AS preview,"
            "  now() - random() * interval '30 days' AS started,"
            "  CASE WHEN random() < 0.8 THEN 0 ELSE floor(random() * 60) * 10 END AS offset_s,"
            "  1 + floor(random() * 119)::int AS beats"
            " FROM generate_series(1, $2) s",
            len(ids),
            heartbeats // 55,
        )
        await conn.execute(
            "INSERT INTO playback_heartbeats (viewer_id, video_id, session_id, position_seconds, preview, at)"
            " SELECT w.id, ($1::uuid[])[s.v], s.sid,"
            "   least(s.offset_s + b * 10 + 10, ($2::float8[])[s.v]), s.preview,"
            "   s.started + b * interval '10 seconds'"
            " FROM bench_sessions s CROSS JOIN LATERAL generate_series(0, s.beats - 1) b"
            " LEFT JOIN bench_viewers w ON w.n = s.viewer"
            " ORDER BY s.started + b * interval '10 seconds' LIMIT $3",
            ids,
            durations,
            heartbeats,
        )
        await conn.execute(
            "INSERT INTO event_log (topic, name, data, created_at)"
            " SELECT 'user:' || ($1::uuid[])[v], CASE WHEN n % 4 = 0 THEN 'tip' ELSE 'sale' END,"
            "   CASE WHEN n % 4 = 0 THEN jsonb_build_object('video_id', ($2::uuid[])[v], 'amount', 10,"
            "     'from_name', 'A viewer', 'message', 'Thanks!', 'video_title', 'A video')"
            "   ELSE jsonb_build_object('video_id', ($2::uuid[])[v], 'title', 'A video', 'offer', 'rent_day',"
            "     'points', 50, 'net', 45) END,"
            "   t"
            " FROM (SELECT n, 1 + floor(random() * $3)::int AS v, now() - random() * interval '30 days' AS t"
            "       FROM generate_series(1, 20000) n ORDER BY 3) e",
            owners,
            ids,
            len(ids),
        )
        await conn.execute(
            "INSERT INTO event_log (topic, name, data, created_at)"
            " SELECT 'user:' || ($1::uuid[])[1 + n % $2], 'video', jsonb_build_object('state', 'CONVERTING'), now()"
            " FROM generate_series(1, 30000) n",
            owners,
            len(owners),
        )
        await conn.execute("ANALYZE")
    return time.perf_counter() - started


async def add_increment(db: Database, videos: list[Video]) -> None:
    """A minute of traffic: INCREMENT new heartbeats, continuing sessions and starting new ones."""
    async with db.connection() as conn:
        await conn.execute(
            "INSERT INTO playback_heartbeats (viewer_id, video_id, session_id, position_seconds, preview, at)"
            " SELECT NULL, ($1::uuid[])[1 + (n % 1700) % $2], 'bench-live-' || (n % 1700), 10 + (n / 1700) * 10, false,"
            "   now() + (n / 1700) * interval '10 seconds'"
            " FROM generate_series(0, $3 - 1) n ORDER BY n",
            [v.id for v in videos],
            len(videos),
            INCREMENT,
        )


async def recompute_in_sql(db: Database, videos: list[UUID]) -> tuple[int, int, int]:
    """Views, unique viewers and watch time of the owner's videos straight from the raw heartbeats, with
    the same rules as the fold (first beat: min(position, 10 s); then max(0, min(Δposition, Δwall)))."""
    row = await db.fetchrow(
        "WITH b AS (SELECT h.video_id, h.session_id, h.viewer_id, h.preview,"
        "   round(h.position_seconds * 1000) AS pos, h.at,"
        "   lag(round(h.position_seconds * 1000)) OVER w AS prev_pos, lag(h.at) OVER w AS prev_at,"
        "   row_number() OVER w AS n"
        "  FROM playback_heartbeats h WHERE h.video_id = ANY($1::uuid[])"
        "  WINDOW w AS (PARTITION BY h.video_id, h.session_id ORDER BY h.id))"
        " SELECT count(*) FILTER (WHERE n = 1 AND NOT preview) AS views,"
        "  count(DISTINCT coalesce(viewer_id::text, 'session:' || session_id)) FILTER (WHERE NOT preview) AS viewers,"
        "  sum(CASE WHEN n = 1 THEN least(pos, 10000)"
        "   ELSE greatest(0, least(pos - prev_pos, round(extract(epoch FROM at - prev_at) * 1000))) END)"
        "   FILTER (WHERE NOT preview) AS watch_ms"
        " FROM b",
        videos,
    )
    assert row is not None
    return int(row["views"]), int(row["viewers"]), int(row["watch_ms"])


async def timed_requests(client: httpx.AsyncClient, path: str, requests: int) -> tuple[float, float, int]:
    await client.get(path)  # warm
    times = []
    size = 0
    for _ in range(requests):
        started = time.perf_counter()
        response = await client.get(path)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, (path, response.status_code)
        size = len(response.content)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))], size


async def run(url: str, data_dir: str, heartbeats: int, requests: int) -> dict[str, object]:
    settings = load_settings({}, database_url=url, data_dir=data_dir, secret_key=secrets.token_hex(32))
    injector = build_injector(settings, features_for(settings))
    db = injector.get(Database)
    await db.start()
    try:
        owner, videos = await setup(injector, db)
        generated = await generate(db, videos, heartbeats)
        count = int(await db.fetchval("SELECT count(*) FROM playback_heartbeats"))
        analytics = injector.get(AnalyticsService)

        started = time.perf_counter()
        first = await analytics.fold()
        fold_all = time.perf_counter() - started
        started = time.perf_counter()
        idle = await analytics.fold()
        fold_idle = time.perf_counter() - started
        await add_increment(db, videos)
        started = time.perf_counter()
        minute = await analytics.fold()
        fold_minute = time.perf_counter() - started

        today = day_of(datetime.now(UTC))
        report = await analytics.report(owner, DateRange(today - timedelta(days=365), today))
        mine = [v.id for v in videos if v.owner_id == owner]
        started = time.perf_counter()
        views, viewers, watch = await recompute_in_sql(db, mine)
        raw_seconds = time.perf_counter() - started
        check = (report.totals.views, report.totals.unique_viewers, report.totals.watch_ms) == (views, viewers, watch)

        accounts = injector.get(AccountService)
        user = await accounts.get_user(owner)
        assert user is not None
        token = await accounts.open_session(user)
        app = create_app(settings, injector)
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
        pages: dict[str, tuple[float, float, int]] = {}
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
            client.cookies.set("hypha_session", token)
            busiest = report.videos[0].video_id
            for label, path in [
                ("/studio/analytics (28 days)", "/studio/analytics"),
                ("/studio/analytics?preset=365d", "/studio/analytics?preset=365d"),
                ("/studio/analytics/videos/{id} (retention, 28 days)", f"/studio/analytics/videos/{busiest}"),
                ("/studio/analytics/export.csv (365 days)", "/studio/analytics/export.csv?preset=365d"),
                ("/studio/dashboard (the live strip)", "/studio/dashboard"),
            ]:
                pages[label] = await timed_requests(client, path, requests)
        sizes = {
            "sessions": await db.fetchval("SELECT count(*) FROM analytics_sessions"),
            "watch days": await db.fetchval("SELECT count(*) FROM analytics_watch_days"),
            "viewer days": await db.fetchval("SELECT count(*) FROM analytics_viewer_days"),
            "revenue days": await db.fetchval("SELECT count(*) FROM analytics_revenue_days"),
        }
        version = (await db.fetchval("SHOW server_version")).split()[0]
        return {
            "count": count,
            "generated": generated,
            "first": first,
            "fold_all": fold_all,
            "idle": idle,
            "fold_idle": fold_idle,
            "minute": minute,
            "fold_minute": fold_minute,
            "check": check,
            "sql": (views, viewers, watch),
            "report": (report.totals.views, report.totals.unique_viewers, report.totals.watch_ms),
            "raw_seconds": raw_seconds,
            "pages": pages,
            "sizes": sizes,
            "version": version,
            "requests": requests,
        }
    finally:
        await db.stop()


def markdown(r: dict[str, object], where: str) -> str:
    first, minute = r["first"], r["minute"]
    pages = r["pages"]
    sizes = r["sizes"]
    assert isinstance(pages, dict)
    assert isinstance(sizes, dict)
    rate = r["count"] / r["fold_all"]  # type: ignore[operator]
    lines = [
        BEGIN,
        "## Analytics with a million heartbeats",
        "",
        f"`uv run python -m bench.analytics` — {datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, PostgreSQL {r['version']} ({where}). {r['count']:,} heartbeats generated in "
        f"SQL ({r['generated']:.1f} s) for 50 videos of 10 creators over 30 days, plus 20,000 sales and tips and "
        "30,000 other events; the measured creator owns 20 videos (~40 % of the heartbeats).",
        "",
        "| fold (saq cron, every minute) | heartbeats | events | time |",
        "|---|---:|---:|---:|",
        f"| from scratch: the whole backlog | {first.heartbeats:,} | {first.events:,} | "  # type: ignore[attr-defined]
        f"{r['fold_all']:.1f} s ({rate:,.0f} heartbeats/s) |",
        f"| nothing new | 0 | 0 | {ms(r['fold_idle'])} |",  # type: ignore[arg-type]
        f"| a busy minute (~1,700 players) | {minute.heartbeats:,} | {minute.events:,} | "  # type: ignore[attr-defined]
        f"{ms(r['fold_minute'])} |",  # type: ignore[arg-type]
        "",
        f"Pages read only the aggregates ({sizes['sessions']:,} session rows, {sizes['watch days']:,} watch-day rows, "
        f"{sizes['viewer days']:,} viewer-day rows, {sizes['revenue days']:,} revenue-day rows). Median and p95 of "
        f"{r['requests']} requests each, in-process over ASGI (no network), logged in as the measured creator:",
        "",
        "| page | p50 | p95 | size |",
        "|---|---:|---:|---:|",
    ]
    for label, (p50, p95, size) in pages.items():
        lines.append(f"| `{label}` | {ms(p50)} | {ms(p95)} | {size / 1024:,.0f} KB |")
    views, viewers, watch = r["sql"]  # type: ignore[misc]
    lines += [
        "",
        f"For comparison, computing the creator's views, unique viewers and watch time straight from the raw "
        f"heartbeats (one SQL query with window functions, the same rules) takes {ms(r['raw_seconds'])} "  # type: ignore[arg-type]
        "— per page view, without retention, revenue or per-day figures.",
        "",
        f"Check: the aggregates equal that direct recomputation — views {views:,}, unique viewers {viewers:,}, watch "
        f"time {watch // 3_600_000:,} h: **{'match' if r['check'] else 'MISMATCH ' + str(r['report'])}**.",
        "",
        "How: the `fold_analytics` cron job reads heartbeats after its cursor (`PlaybackService.heartbeats_after`, "
        "20,000 per transaction) and folds them in Python into per-session state (`analytics_sessions`: last "
        "position and time, furthest position, watched ms) and per-video per-day rows (`analytics_watch_days`: "
        "views, preview plays, watch ms, views by furthest 5 % point; `analytics_viewer_days`: who watched), and "
        "sale/tip events after a second cursor into `analytics_revenue_days` — each batch in one transaction with "
        "its cursor, so a batch counts once. Pages add up a few rows per video per day; unique viewers over a range "
        "are one `count(DISTINCT)` with GROUPING SETS over the viewer-day rows.",
        END,
    ]
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="hypha-bench-analytics-") as tmp:
        async with bench_database() as database:
            results = await run(database.url, str(Path(tmp) / "data"), args.heartbeats, args.requests)
    where = database.where
    section = markdown(results, where)
    print(section)
    if args.write:
        write_section("analytics", section)
        print(f"written to {doc_path()}")


def main() -> None:
    logging.disable(logging.INFO)  # the access log would print every timed request
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--heartbeats", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--no-write", dest="write", action="store_false", help="print only; leave docs alone")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
