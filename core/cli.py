"""The `hypha` command.

hypha up [--demo]      everything on one machine: embedded PostgreSQL, migrations, web, worker
hypha web              the web server (production; needs DATABASE_URL)
hypha worker           the background worker (production; needs DATABASE_URL)
hypha migrate          apply database migrations (needs DATABASE_URL)
hypha transcode SRC --out DIR [--subtitles FILE:LANG]   the transcoding pipeline on a local file
hypha ledger verify    check the ledger's invariants; exit non-zero on any violation
hypha check            list every setting that is unsafe or inconsistent for production; exit non-zero if any
hypha staff add|remove EMAIL   grant or take away the staff role (written to the audit log)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from core.db import DatabaseUnavailable, MigrationEdited, connect, migrate
from core.observability import configure_logging
from core.settings import Settings, SettingsError, load_settings, production_problems
from features.ledger import cli as ledger_cli
from features.moderation import cli as staff_cli
from features.pipeline.cli import cmd_transcode, transcode_arguments
from features.wallet import cli as wallet_cli

log = logging.getLogger("hypha")

DEMO_CREATOR = ("creator@demo.hypha.test", "demo-creator-pass", "Demo Creator")
DEMO_VIEWER = ("viewer@demo.hypha.test", "demo-viewer-pass", "Demo Viewer")


class CommandError(Exception):
    """A failure to report in one line and exit non-zero."""


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as error:
        raise CommandError(f"configuration error: {error}") from error


def _require_database(settings: Settings) -> Settings:
    if not settings.database_url:
        raise CommandError(
            "DATABASE_URL is not set. Set it to your PostgreSQL server, e.g. "
            "DATABASE_URL=postgresql://user:pass@host:5432/hypha — or run `hypha up` for a local setup."
        )
    return settings


async def _check_reachable(url: str) -> None:
    conn = await connect(url, timeout=10)
    await conn.close()


async def shared_secret(url: str) -> str:
    """The secret shared by every process (CSRF signing): created once, kept in the database."""
    conn = await connect(url)
    try:
        await conn.execute(
            "INSERT INTO app_secrets (name, value) VALUES ('secret_key', $1) ON CONFLICT (name) DO NOTHING",
            secrets.token_hex(32),
        )
        value: str = await conn.fetchval("SELECT value FROM app_secrets WHERE name = 'secret_key'")
        return value
    finally:
        await conn.close()


async def _prepare(settings: Settings) -> Settings:
    """Check the database, and fill the secret from it when SECRET_KEY is unset."""
    await _check_reachable(settings.database_url)
    if settings.secret_key:
        return settings
    try:
        secret = await shared_secret(settings.database_url)
    except Exception as error:  # the table is missing: migrations have not run
        raise CommandError(f"the database is not migrated yet (run `hypha migrate`): {error}") from error
    return msgspec.structs.replace(settings, secret_key=secret)


def cmd_check(_args: argparse.Namespace) -> None:
    """Print every setting that is unsafe or inconsistent for production (from the environment, the
    way `hypha web` reads it); exit 1 if there is any, 0 if none."""
    try:
        settings = load_settings(lenient=True)
    except SettingsError as error:
        print(f"hypha check: 1 problem\n  - {error}")
        raise SystemExit(1) from error
    problems = production_problems(settings)
    if not problems:
        print("hypha check: no problem found; the settings are fit for production")
        return
    print(f"hypha check: {len(problems)} problem{'s' if len(problems) > 1 else ''}")
    for problem in problems:
        print(f"  - {problem}")
    raise SystemExit(1)


def cmd_migrate(_args: argparse.Namespace) -> None:
    settings = _require_database(_settings())
    applied = asyncio.run(migrate(settings.database_url))
    print(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")


def cmd_web(args: argparse.Namespace) -> None:
    import uvicorn

    from core.app import create_app
    from core.server import Server

    settings = asyncio.run(_prepare(_require_database(_settings())))
    host = args.host or settings.host
    port = args.port or settings.port
    app = create_app(settings)
    # uvicorn's own limits, stated rather than left to its defaults: idle keep-alive connections close
    # after 5 s, and one request head (line + headers) may not exceed 16 KiB (h11 answers 400/431). It
    # has no timeout for a head that arrives slowly: the reverse proxy must cut those (docs/scaling.md,
    # deploy/nginx.conf).
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        access_log=False,
        timeout_keep_alive=5,
        h11_max_incomplete_event_size=16 * 1024,
    )
    Server(config).run()


def cmd_worker(_args: argparse.Namespace) -> None:
    from core.app import FEATURES
    from core.di import build_injector
    from core.worker import build_worker

    settings = asyncio.run(_prepare(_require_database(_settings())))
    injector = build_injector(settings, FEATURES)
    worker = build_worker(settings, injector, FEATURES)
    print(f"hypha worker: {len(worker.functions)} job functions, concurrency {settings.worker_concurrency}", flush=True)

    async def run() -> None:
        await worker.queue.connect()
        try:
            await worker.start()
        finally:
            await worker.queue.disconnect()

    asyncio.run(run())


async def create_demo_accounts(settings: Settings) -> list[tuple[str, str, str]]:
    from core.app import FEATURES
    from core.db import Database
    from core.di import build_injector
    from features.accounts.model import EmailTaken
    from features.accounts.service import AccountService

    injector = build_injector(settings, FEATURES)
    db = injector.get(Database)
    await db.start()
    try:
        accounts = injector.get(AccountService)
        for email, password, name in (DEMO_CREATOR, DEMO_VIEWER):
            try:
                user = await accounts.sign_up(email, password, name)
            except EmailTaken:
                user = await accounts.users.by_email(email)  # type: ignore[assignment]
            if user is None:
                continue
            await accounts.mark_email_verified(user.id)  # the operator vouches for the demo addresses
            if email == DEMO_CREATOR[0]:
                await accounts.become_creator(user.id)
    finally:
        await db.stop()
    return [("creator", DEMO_CREATOR[0], DEMO_CREATOR[1]), ("viewer", DEMO_VIEWER[0], DEMO_VIEWER[1])]


def _die_with_parent() -> None:
    """Children get SIGTERM if `hypha up` itself is killed (Linux), so nothing is left behind."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def cmd_up(args: argparse.Namespace) -> None:
    from core.embedded_pg import EmbeddedPostgres

    settings = _settings()
    embedded: EmbeddedPostgres | None = None
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def request_stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        url = settings.database_url
        if not url:
            print(f"hypha: starting embedded PostgreSQL in {settings.data_path / 'pgdata'} …", flush=True)
            embedded = EmbeddedPostgres(settings.data_path / "pgdata")
            url = embedded.start()
        settings = msgspec.structs.replace(settings, database_url=url)
        applied = asyncio.run(migrate(url))
        if applied:
            print(f"hypha: applied {len(applied)} migration(s)", flush=True)
        settings = asyncio.run(_prepare(settings))
        if args.demo:
            for role, email, password in asyncio.run(create_demo_accounts(settings)):
                print(f"hypha: demo {role}: {email} / {password}", flush=True)
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "SECRET_KEY": settings.secret_key,
            "DATA_DIR": str(settings.data_dir),
        }
        if args.port:
            env["PORT"] = str(args.port)
        if args.host:
            env["HOST"] = args.host
        base = [sys.executable, "-m", "core.cli"]
        # Each child in a session of its own: a Ctrl-C in the terminal reaches `hypha up` alone, which
        # then stops the web server and the worker in order (SIGTERM) — they never see the SIGINT, so
        # none of them dies in the middle of its start-up with a KeyboardInterrupt traceback.
        children.extend(
            subprocess.Popen([*base, role], env=env, preexec_fn=_die_with_parent, start_new_session=True)
            for role in ("web", "worker")
        )
        host = args.host or settings.host
        port = args.port or settings.port
        print(f"hypha: serving on http://{host}:{port} — press Ctrl-C to stop", flush=True)
        while not stopping:
            if any(child.poll() is not None for child in children):
                print("hypha: a process exited unexpectedly; stopping everything", file=sys.stderr, flush=True)
                break
            time.sleep(0.2)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _terminate(children)
        if embedded is not None:
            embedded.stop()
        print("hypha: stopped", flush=True)


def _terminate(children: Sequence[subprocess.Popen[bytes]], grace: float = 10.0) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


@dataclass(frozen=True)
class Command:
    """A `hypha` subcommand: its help line, what it runs, and the arguments it takes."""

    help: str
    run: Callable[[argparse.Namespace], None]
    configure: Callable[[argparse.ArgumentParser], None] = lambda _parser: None


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default 8000)")


def _up_arguments(parser: argparse.ArgumentParser) -> None:
    _serve_arguments(parser)
    parser.add_argument("--demo", action="store_true", help="also create a demo creator and viewer")


COMMANDS: dict[str, Command] = {
    "up": Command("run everything locally (embedded PostgreSQL unless DATABASE_URL is set)", cmd_up, _up_arguments),
    "web": Command("run the web server (needs DATABASE_URL)", cmd_web, _serve_arguments),
    "worker": Command("run the background worker (needs DATABASE_URL)", cmd_worker),
    "migrate": Command("apply database migrations (needs DATABASE_URL)", cmd_migrate),
    "check": Command("list settings that are unsafe or inconsistent for production; exit 1 if any", cmd_check),
    "transcode": Command(
        "transcode a local video into encrypted HLS (no database)", cmd_transcode, transcode_arguments
    ),
    "ledger": Command("check the ledger: `hypha ledger verify`", ledger_cli.run, ledger_cli.configure),
    "reconcile": Command(
        "compare the payment vendor's payments with the ledger; heal missing credits",
        wallet_cli.run,
        wallet_cli.configure,
    ),
    "staff": Command(
        "grant or take away the staff role: `hypha staff add|remove EMAIL`", staff_cli.run, staff_cli.configure
    ),
    # Features add their operator commands here, e.g. "transcode", "ledger", "reconcile".
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hypha", description="Hypha: video on demand for professional creators.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        command.configure(sub.add_parser(name, help=command.help))
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    # JSON lines for log collectors; readable text when a person watches a terminal (LOG_FORMAT overrides).
    log_format = os.environ.get("LOG_FORMAT") or ("text" if sys.stderr.isatty() else "json")
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), json_logs=log_format == "json")
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command].run(args)
    except KeyboardInterrupt:  # Ctrl-C before a command's own handlers are in place: no traceback
        print("hypha: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except CommandError as error:
        print(f"hypha: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    except (DatabaseUnavailable, MigrationEdited) as error:
        print(f"hypha: {error}", file=sys.stderr)
        raise SystemExit(2) from error


if __name__ == "__main__":
    main()
