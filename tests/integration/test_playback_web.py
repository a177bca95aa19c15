"""HLS, keys, the free preview and heartbeats through HTTP on real PostgreSQL (and the real pipeline)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import av
import httpx
import m3u8
import pytest
from injector import Binder, Injector, InstanceProvider, Module

from core.clock import Clock, FrozenClock
from core.db import Database
from core.di import bind_port, build_injector
from core.events import EventBus
from core.identity import Principal
from core.pipeline import CheckpointStore
from core.postgres import PostgresCheckpointStore, PostgresEventBus, PostgresRateLimiter
from core.ratelimit import RateLimiter
from core.settings import Settings
from core.uow import UnitOfWork
from core.web import SESSION_COOKIE
from features.bootstrap import features_for
from features.playback.service import PlaybackService
from features.unlocks.service import UnlockService
from tests.conftest import app_client
from tests.support.videos import (
    SyntheticVideo,
    add_synthetic_video,
    fund,
    person,
    price_and_publish,
    session_token,
    transcode_video,
)
from tests.support.web import csrf_token

KEY = "unlock-key-0123456789"


@asynccontextmanager
async def browser_of(injector: Injector, settings: Settings, who: Principal | None) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(injector, settings) as client:
        if who is not None:
            client.cookies.set(SESSION_COOKIE, await session_token(injector, who))
        await csrf_token(client, "/login")
        yield client


class FrozenTime(Module):
    """The shared database and a clock the test moves; everything else as in production."""

    def __init__(self, db: Database, clock: FrozenClock) -> None:
        self.db = db
        self.clock = clock

    def configure(self, binder: Binder) -> None:
        binder.bind(Database, to=InstanceProvider(self.db))
        bind_port(binder, UnitOfWork, self.db)
        bind_port(binder, Clock, self.clock)
        bind_port(binder, EventBus, PostgresEventBus(self.db))
        bind_port(binder, RateLimiter, PostgresRateLimiter(self.db, self.clock))
        bind_port(binder, CheckpointStore, PostgresCheckpointStore(self.db))


@pytest.fixture
def frozen(pg: Injector, settings: Settings) -> tuple[Injector, FrozenClock]:
    clock = FrozenClock(datetime.now(UTC).replace(microsecond=0))
    return build_injector(settings, features_for(settings), FrozenTime(pg.get(Database), clock)), clock


async def paid(injector: Injector, **pricing: int | bool) -> tuple[Principal, SyntheticVideo]:
    creator = await person(injector, "Creator", creator=True)
    made = await add_synthetic_video(injector, creator.id)
    await price_and_publish(injector, creator.id, made.video, **pricing)  # type: ignore[arg-type]
    return creator, made


async def test_the_key_goes_to_the_entitled_viewer_only_and_is_never_cached(pg: Injector, settings: Settings) -> None:
    creator, made = await paid(pg)
    pid = made.video.public_id
    viewer, other = await person(pg, "Viewer"), await person(pg, "Other")
    await fund(pg, viewer.id, 100)
    await pg.get(UnlockService).unlock(viewer.id, pid, "rent_day", KEY, "50")
    async with browser_of(pg, settings, viewer) as entitled:
        response = await entitled.get(f"/v/{pid}/key")
        assert response.status_code == 200
        assert response.content == made.key.key
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["content-type"] == "application/octet-stream"
    async with browser_of(pg, settings, other) as stranger:
        assert (await stranger.get(f"/v/{pid}/key")).status_code == 403
    async with browser_of(pg, settings, None) as visitor:
        assert (await visitor.get(f"/v/{pid}/key")).status_code in (401, 403)
    async with browser_of(pg, settings, creator) as owner:
        assert (await owner.get(f"/v/{pid}/key")).content == made.key.key


async def test_keys_stop_when_the_rental_expires(frozen: tuple[Injector, FrozenClock], settings: Settings) -> None:
    injector, clock = frozen
    _, made = await paid(injector)
    pid = made.video.public_id
    viewer = await person(injector, "Viewer")
    await fund(injector, viewer.id, 100)
    await injector.get(UnlockService).unlock(viewer.id, pid, "rent_day", KEY, "50")
    async with browser_of(injector, settings, viewer) as client:
        clock.advance(timedelta(hours=23, minutes=59))
        assert (await client.get(f"/v/{pid}/key")).status_code == 200
        clock.advance(timedelta(minutes=2))
        expired = await client.get(f"/v/{pid}/key")
        assert expired.status_code == 403
        assert expired.headers["cache-control"] == "no-store"
        assert (await client.get(f"/v/{pid}/hls/480p/seg_00000.ts")).status_code == 403
        page = await client.get(f"/v/{pid}")
        assert "Unlock this video" in page.text


async def test_playlists_and_segments_go_to_whoever_may_watch(pg: Injector, settings: Settings) -> None:
    _, made = await paid(pg)
    pid = made.video.public_id
    viewer, other = await person(pg, "Viewer"), await person(pg, "Other")
    await fund(pg, viewer.id, 100)
    await pg.get(UnlockService).unlock(viewer.id, pid, "rent_day", KEY, "50")
    async with browser_of(pg, settings, viewer) as entitled:
        master = await entitled.get(f"/v/{pid}/hls/master.m3u8")
        assert master.status_code == 200
        assert master.headers["content-type"].startswith("application/vnd.apple.mpegurl")
        parsed = m3u8.loads(master.text)
        assert [p.uri for p in parsed.playlists] == ["480p/index.m3u8"]
        media = m3u8.loads((await entitled.get(f"/v/{pid}/hls/480p/index.m3u8")).text)
        assert media.keys[0].uri == f"/v/{pid}/key"
        segment = await entitled.get(f"/v/{pid}/hls/480p/seg_00001.ts")
        assert segment.headers["content-type"] == "video/mp2t"
        assert segment.content == made.published["480p/seg_00001.ts"]
        vtt = await entitled.get(f"/v/{pid}/hls/subs/en.vtt")
        assert vtt.headers["content-type"].startswith("text/vtt")
        for bad in ("480p/seg_09999.ts", "../../etc/passwd", "480p/../../key.bin", "key.bin"):
            assert (await entitled.get(f"/v/{pid}/hls/{bad}")).status_code == 404, bad
    async with browser_of(pg, settings, other) as stranger:
        for path in ("master.m3u8", "480p/index.m3u8", "480p/seg_00000.ts"):
            assert (await stranger.get(f"/v/{pid}/hls/{path}")).status_code == 403


async def test_a_free_video_streams_to_visitors(pg: Injector, settings: Settings) -> None:
    _, made = await paid(pg, free=True)
    async with browser_of(pg, settings, None) as visitor:
        assert (await visitor.get(f"/v/{made.video.public_id}/key")).content == made.key.key
        assert (await visitor.get(f"/v/{made.video.public_id}/hls/audio/seg_00002.ts")).status_code == 200
        page = await visitor.get(f"/v/{made.video.public_id}")
        assert 'data-testid="player"' in page.text


async def test_heartbeats_are_stored_with_the_csrf_header(pg: Injector, settings: Settings) -> None:
    _, made = await paid(pg, free=True)
    viewer = await person(pg, "Viewer")
    path = f"/v/{made.video.public_id}/heartbeat"
    async with browser_of(pg, settings, viewer) as client:
        csrf = {"x-csrftoken": client.cookies["csrftoken"]}
        beat = await client.post(path, json={"position": 12.5, "session": "abcd-1234-efgh"}, headers=csrf)
        assert beat.status_code == 204
        assert (await client.post(path, json={"position": 1, "session": "abcd-1234-efgh"})).status_code == 403
        bad = await client.post(path, json={"position": "x", "session": "abcd-1234-efgh"}, headers=csrf)
        assert bad.status_code == 422
    assert await pg.get(PlaybackService).watched_video_ids(viewer.id) == {made.video.id}
    db = pg.get(Database)
    row = await db.fetchrow("SELECT viewer_id, position_seconds, session_id FROM playback_heartbeats")
    assert row is not None
    assert (row["viewer_id"], row["position_seconds"]) == (viewer.id, 12.5)
    # stored under the viewer's view, which the server names: the client's session id counts no view
    view = await db.fetchrow(
        "SELECT view_id, session_id FROM playback_views WHERE viewer_key = $1", f"user:{viewer.id}"
    )
    assert view is not None
    assert (row["session_id"], view["session_id"]) == (view["view_id"], "abcd-1234-efgh")


async def test_a_heartbeat_of_the_wrong_shape_is_a_4xx_naming_the_field_and_stores_nothing(
    pg: Injector, settings: Settings
) -> None:
    _, made = await paid(pg, free=True)
    viewer = await person(pg, "Viewer")
    path = f"/v/{made.video.public_id}/heartbeat"
    async with browser_of(pg, settings, viewer) as client:
        csrf = {"x-csrftoken": client.cookies["csrftoken"]}
        for body, field in [
            ({"position": True, "session": "abcd-1234-efgh"}, "position"),
            ({"position": None, "session": "abcd-1234-efgh"}, "position"),
            ({"position": 1, "session": ["abcd-1234-efgh"]}, "session"),
            ([1, 2], "form"),
        ]:
            bad = await client.post(path, json=body, headers=csrf)
            assert bad.status_code == 422, body
            assert field in bad.json()["errors"], bad.text
        for raw in (b"{", b"", b"\xff"):
            broken = await client.post(path, content=raw, headers={**csrf, "content-type": "application/json"})
            assert 400 <= broken.status_code < 500, (raw, broken.status_code)
    assert await pg.get(Database).fetchval("SELECT count(*) FROM playback_heartbeats") == 0


async def test_the_preview_of_a_real_video_plays_its_first_segment_in_the_clear_and_nothing_more(
    pg: Injector, settings: Settings
) -> None:
    creator = await person(pg, "Creator", creator=True)
    video = await transcode_video(pg, creator.id, seconds=9.0)  # 4 s segments: 0–4, 4–8, 8–9
    await price_and_publish(pg, creator.id, video, preview=3)
    pid = video.public_id
    async with browser_of(pg, settings, None) as visitor:
        page = await visitor.get(f"/v/{pid}")
        assert f'data-src="/v/{pid}/preview/master.m3u8"' in page.text
        assert 'data-preview-seconds="3"' in page.text
        master = m3u8.loads((await visitor.get(f"/v/{pid}/preview/master.m3u8")).text)
        rendition = master.playlists[0].uri
        audio = next(m.uri for m in master.media if m.type == "AUDIO")
        folder = rendition.rsplit("/", 1)[0]
        for playlist in (rendition, audio):
            cut = await visitor.get(f"/v/{pid}/preview/{playlist}")
            assert cut.status_code == 200
            parsed = m3u8.loads(cut.text)
            assert [s.uri for s in parsed.segments] == ["seg_00000.ts"]
            assert parsed.is_endlist
            assert not parsed.keys or all(k is None for k in parsed.keys)
        first = await visitor.get(f"/v/{pid}/preview/{folder}/seg_00000.ts")
        assert first.status_code == 200
        assert first.content[0] == 0x47  # decrypted: an MPEG-TS sync byte
        with av.open(io.BytesIO(first.content), format="mpegts") as container:
            frames = sum(1 for _ in container.decode(video=0))
        assert frames > 50  # about 4 s at 25 frames per second
        assert (await visitor.get(f"/v/{pid}/preview/{folder}/seg_00001.ts")).status_code == 403
        assert (await visitor.get(f"/v/{pid}/key")).status_code in (401, 403)
        assert (await visitor.get(f"/v/{pid}/hls/{folder}/seg_00000.ts")).status_code == 403
