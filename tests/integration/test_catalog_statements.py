"""What a catalog page costs in SQL does not depend on how many videos there are (issue 16, item 7):
home, search and a creator's page run the same statements for a catalog of one video as for thirty,
over several creators."""

from __future__ import annotations

from typing import Any

import pytest
from injector import Binder, Injector, InstanceProvider, Module

from core.db import Database, bind_tables
from core.di import bind_port, build_injector
from core.identity import Principal
from core.settings import Settings
from core.uow import UnitOfWork
from core.web import SESSION_COOKIE
from features.bootstrap import features_for, table_classes
from tests.conftest import app_client
from tests.support.catalog import shelve_many
from tests.support.videos import person, session_token

PAGES = ("/", "/search?q=film", "/c/{creator}")


class CountingDatabase(Database):
    """The real Database, its connections reporting every statement (asyncpg's query logger)."""

    def __init__(self, url: str) -> None:
        super().__init__(url, min_size=1, max_size=4, tables=table_classes())
        self.statements: list[str] = []
        self.engine.config = {**self.engine.config, "init": self._watch}

    async def _watch(self, connection: Any) -> None:
        connection.add_query_logger(lambda record: self.statements.append(record.query))


class CountingModule(Module):
    def __init__(self, db: CountingDatabase) -> None:
        self.db = db

    def configure(self, binder: Binder) -> None:
        binder.bind(Database, to=InstanceProvider(self.db))
        bind_port(binder, UnitOfWork, self.db)


async def statements_per_page(pg: Injector, settings: Settings, creator: Principal, viewer: Principal) -> list[int]:
    token = await session_token(pg, viewer)
    db = CountingDatabase(settings.database_url)
    counting = build_injector(settings, features_for(settings), CountingModule(db))
    await db.start()
    try:
        async with app_client(counting, settings) as browser:
            browser.cookies.set(SESSION_COOKIE, token)
            costs = []
            for page in PAGES:
                await browser.get(page.format(creator=creator.id))  # types introspected, plans cached
                db.statements.clear()
                response = await browser.get(page.format(creator=creator.id))
                assert response.status_code == 200
                costs.append(len(db.statements))
            return costs
    finally:
        await db.stop()
        bind_tables(pg.get(Database).engine, pg.get(Database).tables)  # Piccolo tables back on the suite's pool


@pytest.mark.parametrize("videos", [1, 30])
async def test_home_search_and_a_creator_page_cost_the_same_statements_for_one_video_or_thirty(
    pg: Injector, settings: Settings, videos: int
) -> None:
    creators = [await person(pg, f"Creator {n}", creator=True) for n in range(3)]
    for n in range(videos):
        await shelve_many(pg, creators[n % 3].id, 1, prefix=f"Film {n}")
    viewer = await person(pg, "Vic")

    costs = await statements_per_page(pg, settings, creators[0], viewer)

    assert costs == EXPECTED


# Found with one video; the test holds thirty to the same figures: the session, the page of videos
# (with the creator) and the creators' names — never one statement per video.
EXPECTED = [3, 3, 3]
