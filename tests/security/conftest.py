"""Fixtures shared by the security tests."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from injector import Injector

from core.identity import Principal
from tests.support.videos import add_synthetic_video, fund, person, price_and_publish


@dataclass
class Stage:
    """A creator with one priced, published video and a viewer with points: what the fuzzers aim at."""

    creator: Principal
    viewer: Principal
    public_id: str
    video_id: str


@pytest.fixture
async def stage(pg: Injector) -> Stage:
    creator = await person(pg, "Fuzz Creator", creator=True)
    viewer = await person(pg, "Fuzz Viewer")
    made = await add_synthetic_video(pg, creator.id)
    await price_and_publish(pg, creator.id, made.video)
    await fund(pg, viewer.id, 1000)
    return Stage(creator, viewer, made.video.public_id, str(made.video.id))
