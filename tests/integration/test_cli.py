"""The `hypha` command as a new user runs it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from core.settings import SettingsError, load_settings
from tests.support.live import free_port


def processes_mentioning(text: str) -> list[str]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if text in line and "ps -eo" not in line]


def postgres_running(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    pid = int(pid_file.read_text().splitlines()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def env_without_database(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY", "PORT", "DATA_DIR"}}
    env.update(extra)
    return env


@pytest.mark.slow
def test_hypha_up_serves_the_landing_page_on_embedded_postgres_and_stops_cleanly() -> None:
    # Not under pytest's tmp_path: its 0700 parent would hide the data dir from the `pgserver` user.
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="hypha-up-")) / "data"
    env = env_without_database(DATA_DIR=str(data_dir), PORT=str(port))
    proc = subprocess.Popen(
        [sys.executable, "-m", "features.bootstrap", "up", "--demo"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        started = time.monotonic()
        status = 0
        while time.monotonic() - started < 30:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code
            except httpx.HTTPError:
                status = 0
            if status == 200:
                break
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            time.sleep(0.3)
        assert status == 200, "the landing page was not served within 30 s"
        assert postgres_running(data_dir / "pgdata"), "embedded PostgreSQL should be running"
        login = httpx.get(f"http://127.0.0.1:{port}/login", timeout=5)
        assert "Log in" in login.text
    finally:
        proc.send_signal(signal.SIGINT)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert f"http://127.0.0.1:{port}" in output
    assert "demo creator: creator@demo.hypha.test" in output
    time.sleep(0.5)
    assert not postgres_running(data_dir / "pgdata")
    children = [
        line for line in processes_mentioning("features.bootstrap") if str(data_dir) in line or f"PORT={port}" in line
    ]
    assert children == []
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=1)


def wait_for_200(proc: subprocess.Popen[str], url: str, within: float = 60) -> None:
    started = time.monotonic()
    while time.monotonic() - started < within:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer 200 within {within} s")


@pytest.mark.slow
@pytest.mark.parametrize("when", ["while serving", "while starting"])
def test_ctrl_c_in_a_terminal_stops_hypha_up_quietly(when: str) -> None:
    """A terminal sends Ctrl-C's SIGINT to the whole foreground process group, children included."""
    port = free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="hypha-up-")) / "data"
    env = env_without_database(DATA_DIR=str(data_dir), PORT=str(port))
    proc = subprocess.Popen(
        [sys.executable, "-m", "features.bootstrap", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a shell gives a foreground job
    )
    try:
        if when == "while serving":
            wait_for_200(proc, f"http://127.0.0.1:{port}/healthz")
            time.sleep(1.0)  # the worker's upkeep loops are asleep, nothing runs
        else:
            assert proc.stdout is not None
            for line in proc.stdout:  # the web server and the worker are importing the app
                if "serving on" in line:
                    break
        stopping = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        output, _ = proc.communicate(timeout=60)
        took = time.monotonic() - stopping
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, output
    assert "hypha: stopped" in output
    assert "Traceback" not in output, output
    assert "KeyboardInterrupt" not in output, output
    assert "did not finish" not in output, output
    # The web server and the worker stopped on their SIGTERM: neither was killed after the grace period.
    assert "did not stop within" not in output, output
    # Then PostgreSQL's last checkpoint, whose time is the disk's: seconds on a busy one (10.4 s seen in CI).
    assert took < 30, f"stopping took {took:.1f} s"


@pytest.mark.parametrize("command", ["web", "worker", "migrate"])
def test_production_commands_need_database_url_and_say_so(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "features.bootstrap", command],
        env=env_without_database(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "DATABASE_URL is not set" in result.stderr


def test_an_unreachable_database_is_a_clear_error() -> None:
    env = env_without_database(DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    result = subprocess.run(
        [sys.executable, "-m", "features.bootstrap", "web"], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "cannot connect to PostgreSQL" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("DATABASE_URL", "mysql://x"),
        ("DB_POOL_MAX", "-1"),
        ("VIEW_WINDOW_SECONDS", "0"),
        ("VIEW_WINDOW_SECONDS", "an hour"),
        ("HEARTBEATS_PER_MINUTE", "0"),
        ("HEARTBEATS_PER_MINUTE", "lots"),
        ("KEY_FETCHES_ALERT_PER_DAY", "-5"),
    ],
)
def test_a_bad_setting_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings({variable: value})


def test_hypha_up_kills_and_names_a_process_that_ignores_its_sigterm() -> None:
    """`hypha up` stopping: a child that ignores SIGTERM is killed after the grace period and named,
    so a slow stop says which process held it; one that stops on SIGTERM is not."""
    from core.cli import _terminate

    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(flush=True); time.sleep(60)"
    children = {
        "web": subprocess.Popen(
            [sys.executable, "-c", "import time; print(flush=True); time.sleep(60)"], stdout=subprocess.PIPE
        ),
        "worker": subprocess.Popen([sys.executable, "-c", stubborn], stdout=subprocess.PIPE),
    }
    for child in children.values():  # both started and, for the worker, its handler installed
        assert child.stdout is not None
        child.stdout.readline()
    began = time.monotonic()
    killed = _terminate(children, grace=1.0)
    assert killed == ["worker"]
    assert children["web"].returncode == -signal.SIGTERM
    assert children["worker"].returncode == -signal.SIGKILL
    assert time.monotonic() - began < 30  # the grace period, not the children's 60 s sleep
