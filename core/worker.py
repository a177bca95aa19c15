"""Background jobs on saq: the JobQueue adapter, and the worker process with every feature's jobs.

saq's defaults do not fit long work (a 10 s timeout, no heartbeat): callers pass both explicitly.
Jobs are thin — they fetch a service from the injector in `ctx["injector"]` and call it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from injector import Injector
from saq import CronJob, Job, Queue, Worker
from saq.utils import cancel_tasks

from core.db import Database
from core.di import get_port
from core.events import EventBus
from core.feature import Feature
from core.postgres import PostgresEventBus
from core.settings import Settings

log = logging.getLogger(__name__)


def make_queue(url: str, *, max_size: int = 4) -> Queue:
    return Queue.from_url(url, min_size=1, max_size=max_size)


class SaqJobQueue:
    """Enqueues on saq; connects lazily on first use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._queue: Queue | None = None
        self._lock = asyncio.Lock()

    async def queue(self) -> Queue:
        async with self._lock:
            if self._queue is None:
                queue = make_queue(self.url)
                await queue.connect()
                self._queue = queue
            return self._queue

    async def enqueue(
        self,
        function: str,
        *,
        key: str | None = None,
        timeout: int = 60,
        heartbeat: int = 0,
        retries: int = 1,
        **kwargs: Any,
    ) -> None:
        queue = await self.queue()
        job = Job(function=function, kwargs=kwargs, timeout=timeout, heartbeat=heartbeat, retries=retries)
        if key is not None:
            job.key = key
        await queue.enqueue(job)

    async def close(self) -> None:
        if self._queue is not None:
            await self._queue.disconnect()
            self._queue = None


class HyphaWorker(Worker[Any]):
    """saq's worker, which stops at once when no job is running.

    saq's `stop()` gives every task it started the shutdown grace period: its upkeep loops (which
    sleep up to a minute between rounds) and the process tasks waiting in a dequeue as much as a
    running job. So every stop waited the whole grace period and warned "Some tasks did not finish
    within the shutdown grace period" with nothing running. Here the tasks that run no job are
    cancelled first: with no job running, the worker stops at once and says nothing; jobs in
    progress still get the grace period (then saq cancels them and queues them again).
    """

    async def stop(self) -> None:
        self.event.set()
        running = bool(self.job_task_contexts)
        idle = [task for task in self.tasks if not task.done() and (not running or task.get_name() != "process")]
        if idle:
            await cancel_tasks(idle, None)
            self.tasks.difference_update(idle)
        await super().stop()


def build_worker(settings: Settings, injector: Injector, features: Sequence[Feature]) -> Worker[Any]:
    functions = [job for feature in features for job in feature.jobs]
    cron_jobs = [
        CronJob(spec.function, cron=spec.cron, timeout=spec.timeout)
        for feature in features
        for spec in feature.cron_jobs
    ]
    queue = make_queue(settings.effective_queue_url, max_size=settings.worker_concurrency + 4)

    async def startup(ctx: dict[str, Any]) -> None:
        await injector.get(Database).start()
        ctx["injector"] = injector

    async def shutdown(_ctx: dict[str, Any]) -> None:
        bus = get_port(injector, EventBus)
        if isinstance(bus, PostgresEventBus):
            await bus.close()
        await injector.get(Database).stop()

    return HyphaWorker(
        queue,
        functions=functions,
        cron_jobs=cron_jobs,
        concurrency=settings.worker_concurrency,
        startup=startup,
        shutdown=shutdown,
        shutdown_grace_period_s=5,
    )


def injector_from(ctx: Any) -> Injector:
    """The worker's injector, from a saq job context."""
    injector = ctx["injector"]
    assert isinstance(injector, Injector)
    return injector
