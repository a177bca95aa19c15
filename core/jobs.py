"""The JobQueue port: background work, delivered at least once (saq on PostgreSQL, or in memory)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol


class JobQueue(Protocol):
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
        """Queue `function(**kwargs)`. A job with the same `key` that is still queued or running is
        not queued twice. `timeout` and `heartbeat` are in seconds (0 = no heartbeat)."""
        ...


@dataclass
class QueuedJob:
    function: str
    key: str | None
    kwargs: dict[str, Any]
    timeout: int
    heartbeat: int
    retries: int


@dataclass
class MemoryJobQueue:
    """Records jobs; tests run them with `run_all` against handlers they register."""

    jobs: list[QueuedJob] = field(default_factory=list)
    handlers: dict[str, Callable[..., Awaitable[Any]]] = field(default_factory=dict)

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
        if key is not None and any(job.key == key for job in self.jobs):
            return
        self.jobs.append(QueuedJob(function, key, kwargs, timeout, heartbeat, retries))

    async def run_all(self) -> int:
        ran = 0
        while self.jobs:
            job = self.jobs.pop(0)
            await self.handlers[job.function](**job.kwargs)
            ran += 1
        return ran
