"""Long-lived connections are bounded: one session holds at most SSE_STREAMS_PER_SESSION live event
streams per web process (the newest past the cap gets a clear 429; the streams already open keep
working), on a real uvicorn with real sockets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from injector import Injector

from core.di import get_port
from core.events import EventBus
from core.identity import Principal
from core.settings import Settings
from core.sse import stream_slots
from core.web import SESSION_COOKIE
from features.studio.service import EVENT, topic_for
from tests.support.live import live_app
from tests.support.videos import add_synthetic_video, person, session_token

STREAMS = "/studio/events"


@pytest.fixture
async def server(pg: Injector, settings: Settings) -> AsyncIterator[str]:
    async with live_app(settings, pg) as url:
        yield url


async def creator_client(server: str, pg: Injector, who: Principal) -> httpx.AsyncClient:
    client = httpx.AsyncClient(base_url=server, timeout=httpx.Timeout(10.0))
    client.cookies.set(SESSION_COOKIE, await session_token(pg, who))
    return client


async def open_stream(stack: contextlib.AsyncExitStack, client: httpx.AsyncClient) -> httpx.Response:
    response = await stack.enter_async_context(client.stream("GET", STREAMS, headers={"accept": "text/event-stream"}))
    return response


async def next_event(response: httpx.Response, lines: AsyncIterator[str], timeout: float = 10) -> str:
    async def read() -> str:
        data: list[str] = []
        async for line in lines:
            if line.startswith("data:"):
                data.append(line[5:])
            elif not line and data:  # a blank line ends the event
                return "\n".join(data)
        raise EOFError("the stream ended")

    return await asyncio.wait_for(read(), timeout)


async def test_one_session_holds_at_most_the_cap_of_live_streams_and_the_open_ones_keep_working(
    server: str, pg: Injector, settings: Settings
) -> None:
    creator = await person(pg, "Streamer", creator=True)
    made = await add_synthetic_video(pg, creator.id)
    cap = settings.sse_streams_per_session
    async with contextlib.AsyncExitStack() as stack:
        client = await creator_client(server, pg, creator)
        stack.push_async_callback(client.aclose)
        streams = [await open_stream(stack, client) for _ in range(cap)]
        assert [s.status_code for s in streams] == [200] * cap

        refused = [await client.get(STREAMS, headers={"accept": "text/event-stream"}) for _ in range(5)]
        assert {r.status_code for r in refused} == {429}
        assert all(int(r.headers["retry-after"]) > 0 for r in refused)
        assert "Too many live connections" in refused[0].text

        # Another session of the same person is not this session: it gets its own streams.
        other = await creator_client(server, pg, creator)
        stack.push_async_callback(other.aclose)
        assert (await open_stream(stack, other)).status_code == 200

        # The streams already open still deliver events (each render opens a pool connection of its own).
        first_lines = streams[0].aiter_lines()
        last_lines = streams[-1].aiter_lines()
        await get_port(pg, EventBus).publish(topic_for(creator.id), EVENT, {"video_id": str(made.video.id)})
        assert f"video-{made.video.id}" in await next_event(streams[0], first_lines)
        assert f"video-{made.video.id}" in await next_event(streams[-1], last_lines)

        # Closing one stream frees its place for the next.
        await streams[0].aclose()
        for _ in range(100):
            async with client.stream("GET", STREAMS, headers={"accept": "text/event-stream"}) as reopened:
                if reopened.status_code == 200:
                    break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("the closed stream's place was never given back")


async def test_parallel_stream_requests_of_one_session_never_exceed_the_cap(
    server: str, pg: Injector, settings: Settings
) -> None:
    creator = await person(pg, "Parallel Streamer", creator=True)
    cap = settings.sse_streams_per_session
    async with contextlib.AsyncExitStack() as stack:
        client = await creator_client(server, pg, creator)
        stack.push_async_callback(client.aclose)
        client_limits = httpx.Limits(max_connections=100)
        parallel = httpx.AsyncClient(base_url=server, cookies=client.cookies, limits=client_limits)
        stack.push_async_callback(parallel.aclose)

        async def one() -> int:
            response = await open_stream(stack, parallel)
            return response.status_code

        statuses = await asyncio.gather(*(one() for _ in range(40)))
        assert statuses.count(200) == cap
        assert statuses.count(429) == 40 - cap


async def test_every_closed_stream_gives_its_place_back(server: str, pg: Injector, settings: Settings) -> None:
    creator = await person(pg, "Reloader", creator=True)
    client = await creator_client(server, pg, creator)
    try:
        for _ in range(3 * settings.sse_streams_per_session):  # a page reloaded many times
            async with contextlib.AsyncExitStack() as stack:
                assert (await open_stream(stack, client)).status_code == 200
        for _ in range(100):
            if stream_slots.total() == 0:
                break
            await asyncio.sleep(0.05)
        assert stream_slots.total() == 0
    finally:
        await client.aclose()
