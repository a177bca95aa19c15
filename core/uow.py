"""The unit of work port: several changes commit together or not at all."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager, nullcontext
from typing import Any, Protocol


class UnitOfWork(Protocol):
    """What a service needs to make several changes commit together or not at all."""

    def atomic(self) -> AbstractAsyncContextManager[Any]:
        """A transaction; nested calls join the outer one."""
        ...


class MemoryUnitOfWork:
    """In-memory adapters have nothing to roll back; the boundary is still marked in the service."""

    def atomic(self) -> AbstractAsyncContextManager[Any]:
        return nullcontext()
