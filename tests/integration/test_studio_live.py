"""The studio on a live server: the real tuspy client uploads and resumes; tiles stream over SSE."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from httpx_sse import aconnect_sse
from injector import Injector
from tusclient import client as tus

from core.di import get_port
from core.settings import Settings
from core.storage import BlobStorage
from features.studio.model import VideoState
from features.studio.service import StudioService
from tests.support.live import live_app
from tests.support.media import make_clip
from tests.support.studio import CreatedVideo, create_video, sign_up_creator


@pytest.fixture(scope="module")
async def server(real_injector: Injector, settings: Settings) -> AsyncIterator[str]:
    async with live_app(settings, real_injector) as url:
        yield url


@pytest.fixture
async def creator(server: str, pg: Injector) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server) as http:
        await sign_up_creator(http, "tus@example.com")
        yield http


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", seconds=2.0)


def tus_client(http: httpx.AsyncClient, server: str) -> tus.TusClient:
    """tuspy speaks plain HTTP with the browser's cookies and the CSRF header htmx would send."""
    token = http.cookies["csrftoken"]
    cookie = f"csrftoken={token}; hypha_session={http.cookies['hypha_session']}"
    return tus.TusClient(f"{server}/uploads/", headers={"x-csrftoken": token, "Cookie": cookie})


async def state_of(pg: Injector, video: CreatedVideo) -> VideoState:
    found = await pg.get(StudioService).get_video(video.id)
    assert found is not None
    return found.state


async def test_tuspy_uploads_a_whole_file_in_chunks(
    creator: httpx.AsyncClient, server: str, pg: Injector, clip: Path
) -> None:
    video = await create_video(creator, "Uploaded by tuspy")
    uploader = tus_client(creator, server).uploader(
        str(clip), chunk_size=clip.stat().st_size // 3 + 1, metadata={"video": video.public_id, "filename": clip.name}
    )
    await asyncio.to_thread(uploader.upload)
    assert await state_of(pg, video) is VideoState.UPLOADED
    stored = await pg.get(StudioService).get_video(video.id)
    assert stored is not None
    assert stored.source_key is not None
    assert await get_port(pg, BlobStorage).read(stored.source_key) == clip.read_bytes()
    assert stored.src_meta is not None
    assert stored.src_meta["width"] == 320


async def test_an_interrupted_upload_resumes_from_the_servers_offset(
    creator: httpx.AsyncClient, server: str, pg: Injector, clip: Path
) -> None:
    video = await create_video(creator, "Cut off")
    data = clip.read_bytes()
    first = tus_client(creator, server).uploader(str(clip), metadata={"video": video.public_id})
    await asyncio.to_thread(first.set_url, await asyncio.to_thread(first.create_url))

    # The connection drops part-way through the body: the server keeps what arrived.
    sent = len(data) // 2
    await send_then_drop(server, creator, urlsplit(first.url).path, data[:sent], declared=len(data))
    offset = 0
    for _ in range(100):
        head = await creator.head(first.url, headers={"Tus-Resumable": "1.0.0"})
        offset = int(head.headers["upload-offset"])
        if offset == sent:
            break
        await asyncio.sleep(0.05)
    assert offset == sent
    assert await state_of(pg, video) is VideoState.UPLOADING

    # A new uploader (as after a page reload) asks the server where to go on.
    # (an uploader given a URL asks for the offset while it is built: off the event loop, like every tuspy call)
    again = await asyncio.to_thread(
        tus_client(creator, server).uploader, str(clip), url=first.url, chunk_size=64 * 1024
    )
    assert again.offset == sent
    await asyncio.to_thread(again.upload)
    assert await state_of(pg, video) is VideoState.UPLOADED
    stored = await pg.get(StudioService).get_video(video.id)
    assert stored is not None
    assert stored.source_key is not None
    assert await get_port(pg, BlobStorage).read(stored.source_key) == data


async def test_a_resumed_chunked_upload_uses_the_offset_the_server_reports(
    creator: httpx.AsyncClient, server: str, pg: Injector, clip: Path
) -> None:
    video = await create_video(creator, "Two sittings")
    size = clip.stat().st_size
    first = tus_client(creator, server).uploader(str(clip), chunk_size=size // 4, metadata={"video": video.public_id})
    await asyncio.to_thread(first.upload_chunk)
    assert first.offset == size // 4
    second = await asyncio.to_thread(tus_client(creator, server).uploader, str(clip), url=first.url, chunk_size=size)
    assert second.offset == size // 4  # read back with HEAD, not assumed
    await asyncio.to_thread(second.upload)
    assert await state_of(pg, video) is VideoState.UPLOADED


async def send_then_drop(server: str, http: httpx.AsyncClient, path: str, part: bytes, declared: int) -> None:
    """A PATCH that announces `declared` bytes, sends `part`, and hangs up (a dropped connection)."""
    host = urlsplit(server)
    reader, writer = await asyncio.open_connection(host.hostname, host.port)
    token = http.cookies["csrftoken"]
    head = (
        f"PATCH {path} HTTP/1.1\r\nHost: {host.netloc}\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nContent-Length: {declared}\r\n"
        f"x-csrftoken: {token}\r\nCookie: csrftoken={token}; hypha_session={http.cookies['hypha_session']}\r\n\r\n"
    )
    writer.write(head.encode() + part)
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    del reader


async def test_tiles_stream_to_their_owner_only(
    creator: httpx.AsyncClient, server: str, pg: Injector, clip: Path
) -> None:
    video = await create_video(creator, "Live tile")
    received: list[tuple[str, str]] = []
    stranger_received: list[str] = []

    async with httpx.AsyncClient(base_url=server) as stranger:
        await sign_up_creator(stranger, "stranger@example.com")

        async def listen(http: httpx.AsyncClient, into: list[tuple[str, str]] | list[str], owner: bool) -> None:
            async with aconnect_sse(http, "GET", "/studio/events", timeout=httpx.Timeout(10.0)) as source:
                async for event in source.aiter_sse():
                    if not event.data:  # the "connected" and keep-alive comments
                        continue
                    if owner:
                        into.append((event.event, event.data))  # type: ignore[arg-type]
                        if 'data-state="uploaded"' in event.data:
                            return
                    else:
                        into.append(event.data)  # type: ignore[arg-type]

        owner_task = asyncio.create_task(listen(creator, received, owner=True))
        stranger_task = asyncio.create_task(listen(stranger, stranger_received, owner=False))
        await asyncio.sleep(0.3)  # both subscribed
        uploader = tus_client(creator, server).uploader(str(clip), metadata={"video": video.public_id})
        await asyncio.to_thread(uploader.upload)
        await asyncio.wait_for(owner_task, 10)
        await asyncio.sleep(0.2)
        stranger_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await stranger_task

    assert [name for name, _ in received] == ["video", "video"]
    uploading, uploaded = (html for _, html in received)
    assert f'id="video-{video.id}"' in uploading
    assert 'hx-swap-oob="outerHTML"' in uploading
    assert 'data-state="uploading"' in uploading
    assert "Next in the queue" in uploaded
    assert stranger_received == []
