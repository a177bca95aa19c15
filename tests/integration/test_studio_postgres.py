"""The studio on real PostgreSQL where concurrency matters: one writer per upload, retry over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from injector import Injector

from core.db import Database
from core.di import get_port
from core.settings import Settings
from features.accounts.service import AccountService
from features.pipeline.content_store import LocalContentStore
from features.pipeline.ports import ContentStore
from features.studio.model import (
    ProcessingProgress,
    SourceMeta,
    Transcoded,
    UploadBusy,
    UploadOffsetMismatch,
    VideoState,
)
from features.studio.ports import VideoRepository
from features.studio.service import StudioService, job_key_for
from tests.conftest import app_client
from tests.support.media import make_clip
from tests.support.studio import create_video, sign_up_creator
from tests.support.videos import price_and_publish
from tests.support.web import post_form, sign_up

HD = SourceMeta(12.0, 1280, 720, "h264", "aac", 2_000_000, 25.0, True)


async def test_a_second_request_cannot_write_while_the_first_is_still_streaming(pg: Injector) -> None:
    studio = pg.get(StudioService)
    owner = (await pg.get(AccountService).sign_up("two@example.com", "long enough password")).id
    video = await studio.create_video(owner, "Contended")
    upload = await studio.create_upload(owner, video.public_id, 4000)
    first_started, let_first_finish = asyncio.Event(), asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield b"a" * 1000
        first_started.set()
        await let_first_finish.wait()
        yield b"a" * 1000

    async def fast() -> AsyncIterator[bytes]:
        yield b"b" * 1000

    first = asyncio.create_task(studio.receive(owner, upload.id, 0, slow()))
    await first_started.wait()
    with pytest.raises(UploadBusy):
        await studio.receive(owner, upload.id, 0, fast())
    let_first_finish.set()
    assert (await first).offset == 2000
    with pytest.raises(UploadOffsetMismatch):
        await studio.receive(owner, upload.id, 0, fast())
    assert (await studio.upload_status(owner, upload.id)).offset == 2000


async def test_retry_from_the_tile_puts_a_failed_video_back_in_the_queue(
    client: httpx.AsyncClient, pg: Injector
) -> None:
    await sign_up_creator(client, "retry@example.com")
    created = await create_video(client, "Try again")
    studio = pg.get(StudioService)
    video = await studio.get_video(created.id)
    assert video is not None
    video.begin_upload(video.created_at)
    video.accept_source("uploads/x", 10, HD, video.created_at)
    video.start_converting(video.created_at)
    video.fail("ConvertVideoTo480p: ffmpeg exited with status 1", video.created_at)
    await get_port(pg, VideoRepository).save(video)

    tile = await client.get(f"/studio/videos/{video.id}/tile")
    assert "Failed" in tile.text
    assert "ffmpeg exited with status 1" in tile.text
    assert "Retry" in tile.text
    response = await post_form(client, f"/studio/videos/{video.id}/retry", {}, htmx=True)
    assert response.status_code == 200
    assert 'data-state="uploaded"' in response.text
    assert "Next in the queue" in response.text
    again = await studio.get_video(video.id)
    assert again is not None
    assert again.state is VideoState.UPLOADED
    keys = [r["key"] for r in await pg.get(Database).fetch("SELECT key FROM saq_jobs")]
    assert keys == [f"transcode:{video.id}"]
    twice = await post_form(client, f"/studio/videos/{video.id}/retry", {}, htmx=True)
    assert twice.status_code == 409  # only a failed video can be retried


async def test_a_conversion_killed_midway_resumes_from_its_last_completed_step(pg: Injector, tmp_path: Path) -> None:
    studio = pg.get(StudioService)
    owner = (await pg.get(AccountService).sign_up("resume@example.com", "long enough password")).id
    video = await studio.create_video(owner, "Interrupted")
    data = make_clip(tmp_path / "clip.mp4", seconds=2.0).read_bytes()
    upload = await studio.create_upload(owner, video.public_id, len(data))

    async def body() -> AsyncIterator[bytes]:
        yield data

    await studio.receive(owner, upload.id, 0, body())
    first_steps: list[int] = []
    second_steps: list[int] = []

    async def record(into: list[int]) -> Callable[[ProcessingProgress], Awaitable[None]]:
        async def report(figure: ProcessingProgress) -> None:
            into.append(figure.step_index)

        return report

    worker = asyncio.create_task(studio.process(video.id, last_attempt=False, on_progress=await record(first_steps)))
    for _ in range(600):
        if first_steps and max(first_steps) >= 5:
            break
        await asyncio.sleep(0.02)
    worker.cancel()  # the worker dies mid-job
    with pytest.raises(asyncio.CancelledError):
        await worker
    assert (await studio.get_video(video.id)).state is VideoState.CONVERTING  # type: ignore[union-attr]

    done = await studio.process(video.id, on_progress=await record(second_steps))  # saq delivers it again
    assert done is not None
    assert done.state is VideoState.READY
    assert done.playlist is not None
    assert min(second_steps) >= 5  # the steps finished before the kill were not run again
    assert done.video_tracks[0]["name"] == "480p"


async def test_a_video_playable_at_480p_is_published_and_watched_while_720p_and_1080p_convert(
    client: httpx.AsyncClient, pg: Injector, settings: Settings, tmp_path: Path
) -> None:
    await sign_up_creator(client, "early@example.com")
    created = await create_video(client, "Early bird")
    studio = pg.get(StudioService)
    video = await studio.get_video(created.id)
    assert video is not None
    video.begin_upload(video.created_at)
    video.accept_source("uploads/x", 10, HD, video.created_at)
    video.start_converting(video.created_at)
    content = get_port(pg, ContentStore)

    async def published(names: list[str], pending: tuple[str, ...]) -> Transcoded:
        text = "#EXTM3U\n" + "".join(f"#EXT-X-STREAM-INF:BANDWIDTH=1000\n{name}/index.m3u8\n" for name in names)
        master = tmp_path / "master.m3u8"
        master.write_text(text)
        cid = await content.put_file(master)
        return Transcoded(
            playlist=cid,
            manifest={"master.m3u8": cid},
            video_tracks=tuple({"name": name, "width": 854, "height": 480, "bandwidth": 1000} for name in names),
            audio_tracks=(),
            subtitle_tracks=(),
            cover=None,
            duration=12.0,
            pending=pending,
        )

    video.publish_rendition(await published(["480p"], ("720p", "1080p")), video.created_at)
    await get_port(pg, VideoRepository).save(video)

    tile = await client.get(f"/studio/videos/{video.id}/tile")
    assert 'data-state="ready"' in tile.text
    assert "Playable in 480p · 720p, 1080p on the way" in tile.text
    assert f'href="/v/{video.public_id}/pricing"' in tile.text  # it can be priced and published now
    extras = await client.get(f"/studio/videos/{video.id}/upload", headers={"HX-Request": "true"})
    assert 'data-testid="subtitles-later"' in extras.text  # the next master would leave them out: later
    assert 'data-testid="audio-later"' in extras.text
    async with app_client(pg, settings) as stranger:
        await sign_up(stranger, "stranger@example.com")
        refused = await stranger.get(f"/v/{video.public_id}/hls/master.m3u8")
        assert refused.status_code == 404  # not published yet: nobody else sees it

        await price_and_publish(pg, video.owner_id, video)
        page = await stranger.get(f"/v/{video.public_id}")
        assert page.status_code == 200
        assert "Higher quality on the way" in page.text
        locked = await stranger.get(f"/v/{video.public_id}/hls/master.m3u8")
        assert locked.status_code == 403  # published and sellable: locked until unlocked, like any video
        home = await stranger.get("/")
        assert video.public_id in home.text  # listed in the catalog while it upgrades

    owner_master = await client.get(f"/v/{video.public_id}/hls/master.m3u8")
    assert [line for line in owner_master.text.splitlines() if line.endswith(".m3u8")] == ["480p/index.m3u8"]
    current = await studio.get_video(video.id)
    assert current is not None
    assert current.state is VideoState.PUBLISHED
    current.publish_rendition(await published(["480p", "720p"], ("1080p",)), current.updated_at)
    await get_port(pg, VideoRepository).save(current)
    owner_master = await client.get(f"/v/{video.public_id}/hls/master.m3u8")
    assert [line for line in owner_master.text.splitlines() if line.endswith(".m3u8")] == [
        "480p/index.m3u8",
        "720p/index.m3u8",
    ]
    tile = await client.get(f"/studio/videos/{video.id}/tile")
    assert 'data-state="published"' in tile.text
    assert "Playable in 480p, 720p · 1080p on the way" in tile.text


async def test_a_worker_killed_while_an_already_playable_video_converts_720p_resumes_it(
    pg: Injector, tmp_path: Path
) -> None:
    studio = pg.get(StudioService)
    owner = (await pg.get(AccountService).sign_up("upgrade@example.com", "long enough password")).id
    video = await studio.create_video(owner, "Upgrading")
    data = make_clip(tmp_path / "clip.mp4", width=1280, height=720, seconds=2.0).read_bytes()
    upload = await studio.create_upload(owner, video.public_id, len(data))

    async def body() -> AsyncIterator[bytes]:
        yield data

    await studio.receive(owner, upload.id, 0, body())
    job_key = job_key_for(video.id)
    worker = asyncio.create_task(studio.process_next(job_key, last_attempt=False))
    playing = None
    for _ in range(1500):
        playing = await studio.get_video(video.id)
        if playing is not None and playing.upgrading:
            break
        await asyncio.sleep(0.02)
    worker.cancel()  # the worker dies while 720p converts
    with pytest.raises(asyncio.CancelledError):
        await worker
    assert playing is not None
    assert playing.state is VideoState.READY
    assert playing.pending_renditions == ["720p"]
    killed = await studio.get_video(video.id)
    assert killed is not None
    assert killed.is_playable  # viewers keep watching the 480p it published
    assert killed.playlist == playing.playlist
    assert killed.upgrading

    # saq delivers the job again (same key): the claim finds the video it was upgrading, not the queue's next.
    done = await studio.process_next(job_key)
    assert done is not None
    assert done.id == video.id
    assert done.state is VideoState.READY
    assert done.is_complete
    assert [t["name"] for t in done.video_tracks] == ["480p", "720p"]
    for path, cid in playing.manifest.items():  # what viewers were watching is still published as it was
        if path != "master.m3u8":
            assert done.manifest[path] == cid
    assert await studio.process_next("transcode:someone-else") is None  # nothing else waits


async def test_each_superseded_master_playlist_is_removed_from_the_content_store(pg: Injector, tmp_path: Path) -> None:
    store = get_port(pg, ContentStore)
    assert isinstance(store, LocalContentStore)

    def stored() -> set[Path]:
        return {p for p in store.root.rglob("*") if p.is_file()} if store.root.exists() else set()

    before = stored()
    studio = pg.get(StudioService)
    owner = (await pg.get(AccountService).sign_up("tidy@example.com", "long enough password")).id
    video = await studio.create_video(owner, "Tidy")
    data = make_clip(tmp_path / "clip.mp4", width=1280, height=720, seconds=2.0).read_bytes()
    upload = await studio.create_upload(owner, video.public_id, len(data))

    async def body() -> AsyncIterator[bytes]:
        yield data

    await studio.receive(owner, upload.id, 0, body())
    masters: list[str] = []

    async def watch() -> None:
        while True:
            seen = await studio.get_video(video.id)
            if seen is not None and seen.playlist is not None and seen.playlist not in masters:
                masters.append(seen.playlist)
            await asyncio.sleep(0.01)

    watcher = asyncio.create_task(watch())
    try:
        done = await studio.process(video.id)
    finally:
        watcher.cancel()
    assert done is not None
    assert done.is_complete
    assert done.playlist is not None
    if done.playlist not in masters:
        masters.append(done.playlist)
    assert len(masters) == 2  # published at 480p, then again with 720p: two master playlists
    # The run left exactly the files the video's manifest names (some, such as a test clip's cover, may
    # have been there already: content-addressed): the 480p master went once replaced.
    named = {store.path_for(cid) for cid in set(done.manifest.values())}
    assert named <= stored()
    assert stored() - before == named - before
    assert not await store.has(masters[0])
    assert await store.has(done.playlist)

    # Subtitles added later replace the master too: the one before is removed, nothing else is left behind.
    with_subtitles = await studio.add_subtitle(owner, video.id, b"WEBVTT\n\n00:00.000 --> 00:01.000\nHi\n", "fr")
    assert with_subtitles.playlist != done.playlist
    named = {store.path_for(cid) for cid in set(with_subtitles.manifest.values())}
    assert named <= stored()
    assert stored() - before == named - before
