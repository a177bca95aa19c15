"""A data export whose job was lost with the process that asked for it: the request's row commits
first and its saq job is queued after, so a web process SIGKILLed between the two leaves a PENDING
export that nothing builds — and that, being PENDING, made every later "Prepare my data" return it
again. The privacy cron re-queues such exports (under the same job key, so a job still queued or
running is not doubled) and a real worker builds them.

The dying web process is a real one: a child Python process with the real adapters, whose job queue
(swapped through the injector) SIGKILLs its own process when asked to queue the job.
"""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from datetime import timedelta

import pytest
from injector import Injector

from core.db import Database
from core.settings import Settings
from features.accounts.service import AccountService
from features.privacy.model import ExportStatus
from features.privacy.service import ExportService
from tests.reliability.test_worker_kill import ROOT, Workers, wait_for

DIES_WHILE_QUEUEING = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from uuid import UUID
    from injector import Binder, Module
    from core.db import Database
    from core.di import bind_port, build_injector
    from core.jobs import JobQueue
    from core.settings import load_settings
    from features.bootstrap import features_for
    from features.privacy.service import ExportService

    class DiesWhileQueueing:
        async def enqueue(self, function, *, key=None, timeout=None, heartbeat=None, retries=None, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)  # the process dies here: the row is committed, no job

    class Dying(Module):
        def configure(self, binder: Binder) -> None:
            bind_port(binder, JobQueue, DiesWhileQueueing())

    async def main() -> None:
        settings = load_settings()
        injector = build_injector(settings, features_for(settings), Dying())
        await injector.get(Database).start()
        await injector.get(ExportService).request(UUID(sys.argv[1]))

    asyncio.run(main())
    """
)


@pytest.fixture
def workers(settings: Settings) -> Iterator[Workers]:
    running = Workers(settings)
    try:
        yield running
    finally:
        running.stop_all()


async def queued(db: Database, key: str) -> int:
    """saq's jobs under `key` (saq makes its table when a queue first connects)."""
    if await db.fetchval("SELECT to_regclass('saq_jobs') IS NULL"):
        return 0
    count = await db.fetchval("SELECT count(*) FROM saq_jobs WHERE key = $1", key)
    assert isinstance(count, int)
    return count


async def test_an_export_whose_job_died_with_the_web_process_is_requeued_and_built(
    pg: Injector, workers: Workers
) -> None:
    user = (await pg.get(AccountService).sign_up("lost.export@example.com", "long enough password")).id
    dead = subprocess.run(
        [sys.executable, "-c", DIES_WHILE_QUEUEING, str(user)],
        cwd=ROOT,
        env=workers.env,
        capture_output=True,
        timeout=120,
    )
    assert dead.returncode == -9, dead.stderr.decode(errors="replace")[-3000:]

    exports = pg.get(ExportService)
    [lost] = await exports.exports_of(user)
    assert lost.status is ExportStatus.PENDING
    db = pg.get(Database)
    assert await queued(db, f"privacy-export:{lost.id}") == 0
    assert (await exports.request(user)).id == lost.id  # asking again finds the lost one

    # Some minutes later (the crash is moved into the past rather than the test made to wait).
    await db.execute(
        "UPDATE privacy_exports SET requested_at = requested_at - $2::interval,"
        " updated_at = updated_at - $2::interval WHERE id = $1",
        lost.id,
        timedelta(minutes=20),
    )
    assert await exports.resume_pending() == 1
    assert await exports.resume_pending() == 1  # again: the queued job is not doubled
    assert await queued(db, f"privacy-export:{lost.id}") == 1

    workers.start()

    async def built() -> bool:
        export = (await exports.exports_of(user))[0]
        assert export.status is not ExportStatus.FAILED, export.failure
        return export.status is ExportStatus.READY

    await wait_for("a worker builds the re-queued export", built, workers, within=90)
    [ready] = await exports.exports_of(user)
    assert ready.id == lost.id
    download = await exports.download(user, ready.id)
    data = b"".join([chunk async for chunk in download.chunks])
    assert len(data) == ready.size_bytes
    assert "profile.json" in zipfile.ZipFile(io.BytesIO(data)).namelist()
