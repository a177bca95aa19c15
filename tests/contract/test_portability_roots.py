"""The video roots' store, run against its in-memory and its PostgreSQL adapter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from injector import Injector

from core.db import Database
from core.ids import uuid7
from features.portability.adapters import MemoryRootRepository, PostgresRootRepository
from features.portability.model import StoredRoot
from features.portability.ports import RootRepository

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ROOT_A = "bafybeihc3vvszetjbyfwa2iomp2dpkjd3pnersegrnvqdolug3mj6rlxkq"
ROOT_B = "bafybeicm2e5sdrleigolzhxo4m2mw5hjrawdgin6qviasilqdshk3exd2m"


@pytest.fixture(params=["memory", "postgres"])
def roots(request: pytest.FixtureRequest) -> RootRepository:
    if request.param == "memory":
        return MemoryRootRepository()
    pg: Injector = request.getfixturevalue("pg")  # a database only for the PostgreSQL run
    return PostgresRootRepository(pg.get(Database))


async def test_a_root_is_stored_and_replaced(roots: RootRepository) -> None:
    video, other = uuid7(), uuid7()
    assert await roots.get_many([video, other]) == {}
    first = StoredRoot(video, "digest-1", ROOT_A, T0)
    await roots.put(first)
    assert await roots.get_many([video, other]) == {video: first}
    second = StoredRoot(video, "digest-2", ROOT_B, T0 + timedelta(hours=1))
    await roots.put(second)
    assert await roots.get_many([video]) == {video: second}
    assert await roots.get_many([]) == {}
