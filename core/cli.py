"""The `hypha` command: core's own sub-commands, then those the features contribute (`Feature.commands`).

hypha up [--demo]      everything on one machine: embedded PostgreSQL, migrations, web, worker
hypha web              the web server (production; needs DATABASE_URL)
hypha worker           the background worker (production; needs DATABASE_URL)
hypha migrate          apply database migrations (needs DATABASE_URL)
hypha check            list every setting that is unsafe or inconsistent for production; exit non-zero if any

The features add e.g. `hypha transcode`, `hypha ledger verify`, `hypha reconcile`, `hypha staff add|remove`.
The composition root (features/bootstrap.py) runs `main` with its `Composition`.
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
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec

from core.db import DatabaseUnavailable, MigrationEdited, connect, migrate
from core.feature import Command, Composition
from core.observability import configure_logging
from core.settings import Settings, SettingsError, load_settings, production_problems

log = logging.getLogger("hypha")


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
        # SQL: one short connection before the process's pool (and Piccolo's engine) exists.
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


# Set by `hypha up` on its web server and worker: they import everything while it prepares the database,
# then read the database URL and the shared secret from their stdin (one JSON line).
HANDOFF = "HYPHA_UP_HANDOFF"


class _Handoff(msgspec.Struct):
    database_url: str
    secret_key: str


def _role_settings(composition: Composition) -> Settings:
    """The settings of `hypha web` and `hypha worker`: the database checked, the secret filled in."""
    if os.environ.get(HANDOFF) == "stdin":
        _ = composition.features  # every feature imported now, while `hypha up` prepares the database
        line = sys.stdin.buffer.readline()
        if not line:  # `hypha up` stopped before the database was ready
            raise SystemExit(0)
        handed = msgspec.json.decode(line, type=_Handoff)
        os.environ.update(DATABASE_URL=handed.database_url, SECRET_KEY=handed.secret_key)
    return asyncio.run(_prepare(_require_database(_settings())))


def cmd_check(_args: argparse.Namespace, _composition: Composition) -> None:
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


def cmd_migrate(_args: argparse.Namespace, _composition: Composition) -> None:
    settings = _require_database(_settings())
    applied = asyncio.run(migrate(settings.database_url))
    print(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")


def cmd_web(args: argparse.Namespace, composition: Composition) -> None:
    from core.app import create_app
    from core.server import Server, web_config

    settings = _role_settings(composition)
    host = args.host or settings.host
    port = args.port or settings.port
    app = create_app(settings, features=composition.features_for(settings))
    if settings.secure_cookies and not settings.forwarded_allow_ips:
        log.warning(
            "FORWARDED_ALLOW_IPS is unset: X-Forwarded-For is believed from nobody, so behind a reverse proxy "
            "every client has the proxy's address for the per-address limits; set it to the proxy's address"
        )
    config = web_config(app, settings, host, port)
    Server(config).run()


def cmd_worker(_args: argparse.Namespace, composition: Composition) -> None:
    from core.di import build_injector
    from core.worker import build_worker

    settings = _role_settings(composition)
    features = composition.features_for(settings)
    injector = build_injector(settings, features)
    worker = build_worker(settings, injector, features)
    print(f"hypha worker: {len(worker.functions)} job functions, concurrency {settings.worker_concurrency}", flush=True)

    async def run() -> None:
        await worker.queue.connect()
        try:
            await worker.start()
        finally:
            await worker.queue.disconnect()

    asyncio.run(run())


async def create_demo_data(composition: Composition, settings: Settings) -> list[str]:
    """Run every feature's `demo_data` (the demo accounts, …); the lines they print."""
    from core.db import Database
    from core.di import build_injector

    features = composition.features_for(settings)
    injector = build_injector(settings, features)
    db = injector.get(Database)
    await db.start()
    try:
        return [line for feature in features for create in feature.demo_data for line in await create(injector)]
    finally:
        await db.stop()


def _die_with_parent() -> None:
    """Children get SIGTERM if `hypha up` itself is killed (Linux), so nothing is left behind."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def cmd_up(args: argparse.Namespace, composition: Composition) -> None:
    from core.embedded_pg import EmbeddedPostgres

    settings = _settings()
    embedded: EmbeddedPostgres | None = None
    children: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def request_stop(signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        env = {**os.environ, HANDOFF: "stdin", "DATA_DIR": str(settings.data_dir)}
        if args.port:
            env["PORT"] = str(args.port)
        if args.host:
            env["HOST"] = args.host
        base = [sys.executable, "-m", composition.entry_module]
        # The web server and the worker start at once, side by side, and import everything while the
        # database is started and migrated here; they wait for its URL and secret on their stdin.
        # Each child in a session of its own: a Ctrl-C in the terminal reaches `hypha up` alone, which
        # then stops the web server and the worker in order (SIGTERM) — they never see the SIGINT, so
        # none of them dies in the middle of its start-up with a KeyboardInterrupt traceback.
        for role in ("web", "worker"):
            children[role] = subprocess.Popen(
                [*base, role], env=env, stdin=subprocess.PIPE, preexec_fn=_die_with_parent, start_new_session=True
            )
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
            for line in asyncio.run(create_demo_data(composition, settings)):
                print(f"hypha: {line}", flush=True)
        handoff = msgspec.json.encode(_Handoff(database_url=url, secret_key=settings.secret_key)) + b"\n"
        for child in children.values():
            if child.stdin is not None:
                with contextlib.suppress(BrokenPipeError):  # a child that died is noticed below
                    child.stdin.write(handoff)
                    child.stdin.close()
        host = args.host or settings.host
        port = args.port or settings.port
        print(f"hypha: serving on http://{host}:{port} — press Ctrl-C to stop", flush=True)
        while not stopping:
            if any(child.poll() is not None for child in children.values()):
                print("hypha: a process exited unexpectedly; stopping everything", file=sys.stderr, flush=True)
                break
            time.sleep(0.2)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("hypha: stopping …", flush=True)
        for role in _terminate(children):
            name = "web server" if role == "web" else role
            print(f"hypha: the {name} did not stop within {STOP_GRACE:.0f} s; killed it", file=sys.stderr, flush=True)
        if embedded is not None:
            # A fast shutdown: its sessions end, then PostgreSQL writes a last checkpoint (the time it takes
            # depends on the disk; nothing is lost if it is cut short, the next start replays the WAL).
            embedded.stop()
        print("hypha: stopped", flush=True)


# How long `hypha up` waits for the web server and the worker to stop after SIGTERM before it kills them:
# both stop at once when idle; the worker gives a running job up to 5 s (core.worker.build_worker).
STOP_GRACE = 10.0


def _terminate(children: Mapping[str, subprocess.Popen[bytes]], grace: float = STOP_GRACE) -> list[str]:
    """SIGTERM every child still running, wait up to `grace` seconds for all; kill the rest. The
    names of the killed ones."""
    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    killed = []
    for role, child in children.items():
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            killed.append(role)
    return killed


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default 8000)")


def _up_arguments(parser: argparse.ArgumentParser) -> None:
    _serve_arguments(parser)
    parser.add_argument("--demo", action="store_true", help="also create a demo creator and viewer")


CORE_COMMANDS = (
    Command("up", "run everything locally (embedded PostgreSQL unless DATABASE_URL is set)", cmd_up, _up_arguments),
    Command("web", "run the web server (needs DATABASE_URL)", cmd_web, _serve_arguments),
    Command("worker", "run the background worker (needs DATABASE_URL)", cmd_worker),
    Command("migrate", "apply database migrations (needs DATABASE_URL)", cmd_migrate),
    Command("check", "list settings that are unsafe or inconsistent for production; exit 1 if any", cmd_check),
)


def commands(composition: Composition) -> dict[str, Command]:
    """Core's commands, then every feature's, by name."""
    return {command.name: command for command in (*CORE_COMMANDS, *composition.commands())}


def build_parser(composition: Composition, *, features: bool = True) -> argparse.ArgumentParser:
    """The `hypha` parser; with `features=False` the features' commands are only listed (from the
    composition's `command_index`, without importing a feature) and take no arguments of their own."""
    parser = argparse.ArgumentParser(prog="hypha", description="Hypha: video on demand for professional creators.")
    sub = parser.add_subparsers(dest="command", required=True)
    if features:
        for command in commands(composition).values():
            command.configure(sub.add_parser(command.name, help=command.help))
        return parser
    for command in CORE_COMMANDS:
        command.configure(sub.add_parser(command.name, help=command.help))
    for name, help_text in composition.command_index:
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(composition: Composition, argv: Sequence[str] | None = None) -> None:
    # JSON lines for log collectors; readable text when a person watches a terminal (LOG_FORMAT overrides).
    log_format = os.environ.get("LOG_FORMAT") or ("text" if sys.stderr.isatty() else "json")
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"), json_logs=log_format == "json")
    argv = list(sys.argv[1:] if argv is None else argv)
    # Core's commands and `hypha --help` need no feature: parse without importing them; a feature's
    # command is parsed again by the whole parser once the features are loaded.
    light = build_parser(composition, features=False)
    chosen, _ = light.parse_known_args(argv)
    core_command = {command.name: command for command in CORE_COMMANDS}.get(chosen.command)
    if core_command is not None:
        args = light.parse_args(argv)
        command = core_command
    else:
        args = build_parser(composition).parse_args(argv)
        command = commands(composition)[args.command]
    try:
        command.run(args, composition)
    except KeyboardInterrupt:  # Ctrl-C before a command's own handlers are in place: no traceback
        print("hypha: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except CommandError as error:
        print(f"hypha: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    except (DatabaseUnavailable, MigrationEdited) as error:
        print(f"hypha: {error}", file=sys.stderr)
        raise SystemExit(2) from error
