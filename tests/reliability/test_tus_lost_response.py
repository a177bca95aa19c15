"""The answer to the last PATCH of an upload is lost; the real tuspy client must still learn it worked.

Issue 11 item 8: the server used to forget an upload at its last byte, so `HEAD` answered 404 and a
client that lost the final answer raised (tuspy) or started over and met "409 This video already has
its file" (tus-js-client). A proxy between tuspy and a live server passes every byte through but hangs
up instead of returning the answer to one PATCH — after the server has handled it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from injector import Injector
from tusclient import client as tus
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.storage.filestorage import FileStorage

from core.db import Database
from core.di import get_port
from core.settings import Settings
from core.storage import BlobStorage
from features.studio.model import VideoState
from features.studio.service import StudioService
from tests.support.live import live_app
from tests.support.media import make_clip
from tests.support.studio import CreatedVideo, create_video, sign_up_creator


class LosingProxy:
    """TCP pass-through to `upstream`; when armed, the answer to the next PATCH never reaches the client."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.armed = False
        self.dropped = 0
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(self.host, self.port)
        lose = asyncio.Event()

        async def forward_requests() -> None:
            while data := await client_reader.read(65536):
                if data.startswith(b"PATCH ") and self.armed:
                    self.armed = False
                    lose.set()
                upstream_writer.write(data)
                await upstream_writer.drain()

        async def forward_answers() -> None:
            while data := await upstream_reader.read(65536):
                if lose.is_set():  # the server has answered: it handled the whole PATCH
                    self.dropped += 1
                    client_writer.transport.abort()
                    return
                client_writer.write(data)
                await client_writer.drain()

        tasks = [asyncio.create_task(forward_requests()), asyncio.create_task(forward_answers())]
        with contextlib.suppress(ConnectionError, OSError):
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        for writer in (upstream_writer, client_writer):
            writer.close()


@pytest.fixture(scope="module")
async def server(real_injector: Injector, settings: Settings) -> AsyncIterator[str]:
    async with live_app(settings, real_injector) as url:
        yield url


@pytest.fixture
async def proxy(server: str) -> AsyncIterator[LosingProxy]:
    losing = LosingProxy(server)
    await losing.start()
    yield losing
    await losing.stop()


@pytest.fixture
async def creator(server: str, pg: Injector) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server) as http:
        await sign_up_creator(http, "lost@example.com")
        yield http


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "clip.mp4", seconds=1.0)


def tus_client(http: httpx.AsyncClient, proxy_url: str) -> tus.TusClient:
    token = http.cookies["csrftoken"]
    cookie = f"csrftoken={token}; hypha_session={http.cookies['hypha_session']}"
    return tus.TusClient(f"{proxy_url}/uploads/", headers={"x-csrftoken": token, "Cookie": cookie})


async def lose_the_last_answer(
    http: httpx.AsyncClient, proxy: LosingProxy, clip: Path, video: CreatedVideo, storage: FileStorage
) -> None:
    """tuspy sends the whole file in one PATCH, whose answer the proxy loses: tuspy raises."""
    uploader = tus_client(http, _url(proxy)).uploader(
        str(clip), metadata={"video": video.public_id, "filename": clip.name}, store_url=True, url_storage=storage
    )
    proxy.armed = True
    with pytest.raises(TusCommunicationError):
        await asyncio.to_thread(uploader.upload)
    assert proxy.dropped == 1


def _url(proxy: LosingProxy) -> str:
    assert proxy.server is not None
    return f"http://127.0.0.1:{proxy.server.sockets[0].getsockname()[1]}"


async def the_file_arrived_once(pg: Injector, video: CreatedVideo, clip: Path) -> None:
    stored = await pg.get(StudioService).get_video(video.id)
    assert stored is not None
    assert stored.state is VideoState.UPLOADED
    assert stored.source_key is not None
    assert await get_port(pg, BlobStorage).read(stored.source_key) == clip.read_bytes()
    jobs = await pg.get(Database).fetch("SELECT key FROM saq_jobs")
    assert [r["key"] for r in jobs] == [f"transcode:{video.id}"]


async def test_tuspy_resuming_after_a_lost_final_answer_sees_the_upload_complete(
    creator: httpx.AsyncClient, proxy: LosingProxy, pg: Injector, clip: Path, tmp_path: Path
) -> None:
    video = await create_video(creator, "Lost answer")
    storage = FileStorage(str(tmp_path / "tus-urls.json"))
    await lose_the_last_answer(creator, proxy, clip, video, storage)
    await the_file_arrived_once(pg, video, clip)

    # The client comes back (a rerun): tuspy finds its stored URL and asks the server with HEAD.
    again = await asyncio.to_thread(
        tus_client(creator, _url(proxy)).uploader,
        str(clip),
        metadata={"video": video.public_id, "filename": clip.name},
        store_url=True,
        url_storage=storage,
    )
    assert again.url is not None
    assert again.offset == clip.stat().st_size  # HEAD: offset = length
    await asyncio.to_thread(again.upload)  # nothing left to send: done, no error
    await the_file_arrived_once(pg, video, clip)
    head = await creator.head(urlsplit(again.url).path, headers={"Tus-Resumable": "1.0.0"})
    assert head.status_code == 200
    assert head.headers["upload-offset"] == head.headers["upload-length"] == str(clip.stat().st_size)
    assert "upload-expires" in head.headers


async def test_a_fresh_tuspy_upload_of_a_file_that_already_arrived_finishes_without_error(
    creator: httpx.AsyncClient, proxy: LosingProxy, pg: Injector, clip: Path, tmp_path: Path
) -> None:
    video = await create_video(creator, "Lost answer, lost URL")
    await lose_the_last_answer(creator, proxy, clip, video, FileStorage(str(tmp_path / "first.json")))

    # The stored URL is gone too (another machine, cleared storage): tuspy creates the upload again.
    # The server points it at the finished upload; tuspy's PATCH at 0 meets 409, it asks HEAD
    # (offset = length) and is done.
    fresh = tus_client(creator, _url(proxy)).uploader(
        str(clip), metadata={"video": video.public_id, "filename": clip.name}, retries=1, retry_delay=0
    )
    await asyncio.to_thread(fresh.upload)
    assert fresh.offset == clip.stat().st_size
    await the_file_arrived_once(pg, video, clip)


async def test_a_repeated_create_points_at_the_finished_upload_and_another_file_is_still_refused(
    creator: httpx.AsyncClient, proxy: LosingProxy, pg: Injector, clip: Path, tmp_path: Path
) -> None:
    video = await create_video(creator, "Repeated create")
    await lose_the_last_answer(creator, proxy, clip, video, FileStorage(str(tmp_path / "urls.json")))
    uploads = await pg.get(Database).fetch("SELECT id FROM tus_uploads")
    assert len(uploads) == 1

    same = tus_client(creator, _url(proxy)).uploader(
        str(clip), metadata={"video": video.public_id, "filename": clip.name}
    )
    location = await asyncio.to_thread(same.create_url)
    assert urlsplit(location).path == f"/uploads/{uploads[0]['id']}"
    head = await creator.head(urlsplit(location).path, headers={"Tus-Resumable": "1.0.0"})
    assert head.headers["upload-offset"] == head.headers["upload-length"]

    other = tus_client(creator, _url(proxy)).uploader(
        str(clip), metadata={"video": video.public_id, "filename": "another-film.mp4"}
    )
    with pytest.raises(TusCommunicationError) as refused:
        await asyncio.to_thread(other.create_url)
    assert refused.value.status_code == 409
    assert b"already has its file" in (refused.value.response_content or b"")
    # a PATCH with more bytes to the finished upload is refused; an empty one at its end is a no-op
    late = await asyncio.to_thread(tus_client(creator, _url(proxy)).uploader, str(clip), url=location)
    assert late.offset == clip.stat().st_size
    late.offset = 0
    with pytest.raises(TusUploadFailed) as conflict:
        await asyncio.to_thread(late.upload_chunk)
    assert conflict.value.status_code == 409
    await the_file_arrived_once(pg, video, clip)
